"""Problems found in a site's files, collected so that one run reports all of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with one file, located so an editor can jump to it."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class SiteError(Exception):
    """Raised with every problem found, never just the first: fixing a forum one
    error per run is what makes people give up on hand-edited content."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __reduce__(self) -> tuple[type[SiteError], tuple[list[Problem]]]:
        # Raised inside build worker processes and sent back to the parent.
        return SiteError, (self.problems,)


class Problems:
    """An accumulator that knows the site folder, so paths print relative to it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.items: list[Problem] = []

    def add(self, path: Path, line: int, message: str) -> None:
        try:
            shown = path.relative_to(self.root).as_posix()
        except ValueError:
            shown = str(path)
        self.items.append(Problem(shown, line, message))

    def raise_if_any(self) -> None:
        if self.items:
            raise SiteError(self.items)
