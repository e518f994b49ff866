"""Writing the build result: only files whose bytes changed are replaced (atomically),
and files the build no longer produces are removed, so a host syncing `output/` sees
exactly the real changes."""

from __future__ import annotations

import os
import stat
import tempfile
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import NamedTuple

from .files import atomic_write, remove_stale_scratch
from .owner import Owner


class Written(Enum):
    WRITTEN = "written"
    UNCHANGED = "unchanged"


class PageRecord(NamedTuple):
    """What a build wrote to one output file, and from what: the build cache keeps it. A
    named tuple, not a dataclass: a build reads one per output file, tens of thousands."""

    path: str
    fingerprint: str
    lastmod: float | None
    owner: Owner


@dataclass(frozen=True)
class OutputDir:
    """The folder a build writes into, and the scratch folder of its temporary files."""

    root: Path
    scratch: Path | None

    def has(self, file: str) -> bool:
        return os.path.isfile(f"{self.root}{os.sep}{file}")

    def write(self, file: str, data: bytes) -> Written:
        return write_if_changed(self.root / file, data, self.scratch)


RACY_NS = 100_000_000
"""Without the file system's own clock (see `clock_of`): a folder whose mtime is this
recent (in ns) by the machine's clock when it is recorded may still change within the
same tick of the file system's clock without its mtime showing it."""
COARSE_RACY_NS = 2_000_000_000
"""The same, for file systems whose mtimes have whole seconds (FAT keeps two)."""


def folder_mtimes(root: Path, folders: Iterable[str]) -> dict[str, int | None]:
    """The mtime in ns of each of `folders` (relative to `root`; '' is `root`), None for
    one that is gone. Removing a file, or a folder, changes its folder's mtime: an
    unchanged mtime vouches that none of the folder's files was deleted."""
    found: dict[str, int | None] = {}
    for folder in folders:
        try:
            found[folder] = os.stat(os.path.join(root, folder)).st_mtime_ns
        except OSError:
            found[folder] = None
    return found


def clock_of(folder: Path | None) -> int | None:
    """The time now (ns) by the clock that stamps files in `folder`'s file system: the
    mtime of a file made there, then removed. None without a folder, or if none can be
    made there."""
    if folder is None:
        return None
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".clock-")
    except OSError:
        return None
    try:
        return os.fstat(fd).st_mtime_ns
    finally:
        os.close(fd)
        os.unlink(name)


def vouched(mtimes: dict[str, int | None], clock: int | None) -> dict[str, int | None]:
    """`mtimes` as recorded: -1 for those that may still change without their mtime
    showing it, as git does with its racily clean index entries: those as recent as
    `clock`, the file system's time after they were read (`clock_of`; a change after it
    gets a later mtime). Without it, those recent by the machine's clock (RACY_NS;
    COARSE_RACY_NS for an mtime in whole milliseconds)."""
    now = time.time_ns()
    found: dict[str, int | None] = {}
    for folder, mtime in mtimes.items():
        if mtime is None:
            found[folder] = None
        elif clock is not None:
            found[folder] = mtime if mtime < clock else -1
        else:
            racy = RACY_NS if mtime % 1_000_000 else COARSE_RACY_NS
            found[folder] = mtime if now - mtime > racy else -1
    return found


@dataclass
class Tally:
    """What writing some files did: the record of each file, what happened to the files
    and how many pages were rendered. Workers each keep one; the build adds them up."""

    records: dict[str, PageRecord] = field(default_factory=dict)
    counts: dict[Written, int] = field(default_factory=lambda: dict.fromkeys(Written, 0))
    rendered: int = 0

    def add(self, other: Tally) -> None:
        self.records.update(other.records)
        for key, value in other.counts.items():
            self.counts[key] += value
        self.rendered += other.rendered

    def write(self, out: OutputDir, file: str, data: bytes, record: PageRecord) -> None:
        self.records[file] = record
        self.counts[out.write(file, data)] += 1

    def keep(self, file: str, record: PageRecord) -> None:
        """A file left as the last build wrote it."""
        self.records[file] = record
        self.counts[Written.UNCHANGED] += 1


def write_if_changed(path: Path, data: bytes, scratch: Path | None = None) -> Written:
    """Leave the file (and its mtime) alone when it already holds these bytes. `scratch`
    (a folder on the same file system, outside the output) takes the temporary file, so
    a build killed mid-write leaves nothing partial in the output."""
    try:
        found = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        found = None  # the usual case in a first build: one system call, no more
    if found is not None and stat.S_ISDIR(found.st_mode):
        # A page became a file where a folder was (or the reverse): clear the way.
        remove_tree(path)
    elif found is not None and found.st_size == len(data) and path.read_bytes() == data:
        return Written.UNCHANGED
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


def remove_stale(
    root: Path, keep: Collection[str], written: Collection[str] | None = None
) -> list[str]:
    """Delete the files under `root` that are not in `keep` (paths relative to root), and
    the folders left empty; returns the files deleted. With the files an
    earlier build `written` there, only those are looked at: cheaper than a walk of the
    whole folder on a large forum, and never a file the build did not make."""
    if written is not None:
        return _remove_written(root, keep, written)
    return _remove_unkept(root, keep)


def _remove_written(root: Path, keep: Collection[str], written: Collection[str]) -> list[str]:
    removed = []
    for file in sorted(set(written) - set(keep)):
        path = root / file
        if path.is_file():
            path.unlink()
            removed.append(file)
        for folder in path.parents:
            if folder == root or not folder.is_dir() or any(folder.iterdir()):
                break
            folder.rmdir()
    return removed


def _remove_unkept(root: Path, keep: Collection[str]) -> list[str]:
    """Every file under `root` not in `keep`. Dot-files and dot-folders are never
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
