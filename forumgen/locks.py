"""Advisory file locks shared by every process working on a site (CLI builds, `serve`,
intake workers). The kernel drops a lock when its holder dies, so a killed process
never leaves the site locked."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STATE_DIR = ".forumgen"


def state_dir(site_dir: Path) -> Path:
    """`.forumgen/` of a site: build state and intake state, always safe to delete."""
    folder = site_dir / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def file_lock(path: Path, shared: bool = False) -> Iterator[None]:
    """Hold an exclusive (or shared) lock on `path` for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def build_lock(site_dir: Path) -> Path:
    return state_dir(site_dir) / "build.lock"
