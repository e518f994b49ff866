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
    path.parent.mkdir(parents=True, exist_ok=True)
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=scratch or path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)  # atomic, also across folders of one file system
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


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
