"""Atomic file replacement, shared by the build output and by post storage."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path


def atomic_write(
    path: Path, data: bytes, durable: bool = False, scratch: Path | None = None
) -> None:
    """Replace `path` with `data` so readers see the old file or the new one, never a part.

    `durable` adds the fsyncs (file, then folder) that make an accepted post survive a
    power cut; build output skips them because it can always be rebuilt. `scratch` is a
    folder on the same file system for the temporary file, so a process killed mid-write
    leaves its debris there instead of beside the content.
    """
    tmp = _temporary(scratch or path.parent, path.name, data, durable)
    try:
        try:
            os.replace(tmp, path)  # atomic, also across folders of one file system
        except FileNotFoundError:
            # Folders are made when a rename finds them missing: most writes go to
            # folders that exist, and a large build writes tens of thousands of files.
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def _temporary(folder: Path, name: str, data: bytes, durable: bool) -> str:
    """A new file in `folder` (made if missing) holding `data`, readable by all."""
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    except FileNotFoundError:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, 0o644)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def remove_stale_scratch(scratch: Path, older_than: float = 3600) -> int:
    """Delete temporary files and folders left in `scratch` by killed writers, if older
    than `older_than` seconds (younger ones may belong to a writer still at work)."""
    cutoff = time.time() - older_than
    removed = 0
    for leftover in scratch.glob(".*.tmp") if scratch.is_dir() else []:
        try:
            if leftover.lstat().st_mtime < cutoff:
                if leftover.is_dir():
                    shutil.rmtree(leftover)
                else:
                    leftover.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed


def fsync_dir(folder: Path) -> None:
    """Make a rename or unlink in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
