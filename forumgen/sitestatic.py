"""The site's own files: `static/` beside forumgen.yaml, copied as they are to the root of
`output/` (a CNAME for GitHub Pages, a search console's verification file, downloads),
as Hugo and Jekyll do. They are build outputs like any page: recorded, written only when
their bytes changed and removed when their source goes, so `--clean` keeps them.

None may take the place of a file the build makes: which of the two would win is an
accident of the order of writes, and the loser would be lost without a word.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatch
from functools import cached_property
from pathlib import Path

from .config import Config
from .errors import Problem

FOLDER = "static"
WELL_KNOWN = ".well-known"
"""The one hidden folder copied: RFC 8615's place for security.txt and the like."""


@dataclass(frozen=True)
class SiteFile:
    name: str
    """Its path under static/, which is its path under output/."""
    source: Path


def site_files(config: Config) -> list[SiteFile]:
    """Every file of static/, by name. Hidden files and folders (.gitkeep, .git/) are
    skipped, except .well-known/ at the top."""
    root = config.site_dir / FOLDER
    found = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        top = here == root
        dirs[:] = [d for d in dirs if not d.startswith(".") or (top and d == WELL_KNOWN)]
        found += [
            SiteFile((here / name).relative_to(root).as_posix(), here / name)
            for name in files
            if not name.startswith(".")
        ]
    return sorted(found, key=lambda f: f.name)


def signature(files: Iterable[SiteFile]) -> str:
    """A hash of the files' names, sizes and mtimes: when it is unchanged, no file needs
    to be read to know that nothing changed."""
    stats = []
    for file in files:
        stat = file.source.stat()
        stats.append((file.name, stat.st_size, stat.st_mtime_ns))
    return hashlib.blake2b(repr(stats).encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class Claimed:
    """What the build writes into output/."""

    files: frozenset[str]
    folders: frozenset[str] = frozenset()
    """Folders ('t/hello/') whose files are all the build's: a topic's pages, the index."""
    patterns: tuple[str, ...] = ()
    """File names the build may write, as shell patterns (sitemap parts)."""
    hints: Mapping[str, str] = field(default_factory=dict)
    """How to change one of `files` instead, where there is a way (a theme's template or
    asset)."""

    @cached_property
    def parents(self) -> frozenset[str]:
        """Every folder the build writes into ('t/', 't/hello/')."""
        return frozenset(
            path[: n + 1]
            for path in self.files | self.folders
            for n, char in enumerate(path)
            if char == "/"
        )

    def taken(self, name: str) -> str | None:
        """The file or folder of the build that the file `name` would clash with."""
        if name in self.files or any(fnmatch(name, p) for p in self.patterns):
            return name
        if f"{name}/" in self.parents:  # the build makes a folder where this is a file
            return f"{name}/"
        parts = name.split("/")
        for folder in ("/".join(parts[:n]) for n in range(1, len(parts))):
            if folder in self.files:  # the build makes a file where this needs a folder
                return folder
            if f"{folder}/" in self.folders:
                return f"{folder}/"
        return None


def clashes(files: Iterable[SiteFile], claimed: Claimed) -> list[Problem]:
    """A problem for each file of static/ that would replace a file the build makes."""
    problems = []
    for file in files:
        taken = claimed.taken(file.name)
        if taken is not None:
            hint = claimed.hints.get(taken, "rename or move it")
            problems.append(
                Problem(
                    f"{FOLDER}/{file.name}",
                    1,
                    f"output/{taken} is made by the build, and a file of "
                    "static/ may not take its place (one would silently "
                    f"overwrite the other): {hint}",
                )
            )
    return problems


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()
