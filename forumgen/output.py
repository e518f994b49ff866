"""Writing the build result: only files whose bytes changed are replaced (atomically),
and files the build no longer produces are removed, so a host syncing `output/` sees
exactly the real changes."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path

from .files import atomic_write, remove_stale_scratch


class Written(Enum):
    WRITTEN = "written"
    UNCHANGED = "unchanged"


def write_if_changed(path: Path, data: bytes, scratch: Path | None = None) -> Written:
    """Leave the file (and its mtime) alone when it already holds these bytes. `scratch`
    (a folder on the same file system, outside the output) takes the temporary file, so
    a build killed mid-write leaves nothing partial in the output."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return Written.UNCHANGED
    except (FileNotFoundError, NotADirectoryError):
        pass
    if path.is_dir():
        # A page became a file where a folder was (or the reverse): clear the way.
        remove_tree(path)
    atomic_write(path, data, scratch=scratch)
    return Written.WRITTEN


def scratch_for(output: Path, state: Path) -> Path | None:
    """A folder for temporary files beside the build state, if it is on the output's
    file system (a rename cannot cross file systems); emptied of a killed build's debris."""
    scratch = state / "output-tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    output.mkdir(parents=True, exist_ok=True)
    if scratch.stat().st_dev != output.stat().st_dev:
        return None
    remove_stale_scratch(scratch, older_than=-1)  # builds take turns: nothing is in use
    return scratch


def remove_stale(root: Path, keep: set[str]) -> list[str]:
    """Delete files under `root` that are not in `keep` (paths relative to root), and the
    folders left empty; returns the files deleted. Dot-files and dot-folders are never
    touched: `output/` is often a git checkout of a gh-pages branch, or holds a host's
    `.well-known/`."""
    removed = []
    for folder, _dirs, files in os.walk(root, topdown=False):
        here = Path(folder)
        relative = here.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        for name in files:
            if name.startswith("."):
                if name.endswith(".tmp"):  # left by a build that was killed mid-write
                    (here / name).unlink()
                continue
            file = (relative / name).as_posix()
            if file not in keep:
                (here / name).unlink()
                removed.append(file)
        if here != root and not any(here.iterdir()):
            here.rmdir()
    return removed


def remove_tree(path: Path) -> None:
    for folder, dirs, files in os.walk(path, topdown=False):
        for name in files:
            Path(folder, name).unlink()
        for name in dirs:
            Path(folder, name).rmdir()
    path.rmdir()
