"""What the last complete build of an output left out (`--keep-going`): its problems,
kept beside the build state. `forumgen moderate list` names the published posts that are
not on the pages from it, and the intake, which builds with --keep-going, tells a build
that left something out (it wrote this record) from one that stopped (it did not)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from .errors import Problem
from .files import atomic_write

RECORD = "left-out.json"

Stamp = tuple[int, int] | None
"""What tells that the record was written again: its inode and mtime."""


def record(state: Path, problems: Sequence[Problem]) -> None:
    """Keep `problems` as what the build that just finished left out (none: nothing)."""
    data = [[p.path, p.line, p.message] for p in sorted(problems)]
    atomic_write(state / RECORD, json.dumps(data, ensure_ascii=False).encode())


def last(state: Path) -> list[Problem]:
    """What the last complete build into the output whose state is `state` left out."""
    try:
        data = json.loads((state / RECORD).read_text(encoding="utf-8"))
        return [Problem(str(path), int(line), str(message)) for path, line, message in data]
    except (OSError, ValueError, TypeError):  # none yet, or not ours
        return []


def stamp(state: Path) -> Stamp:
    try:
        stat = (state / RECORD).stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns
