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
PREVIEW_DIR = "preview"


def state_dir(site_dir: Path) -> Path:
    """`.forumgen/` of a site: build state and intake state, always safe to delete."""
    folder = site_dir / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def preview_dir(site_dir: Path) -> Path:
    """`.forumgen/preview/`: what `forumgen serve` renders (in `site/`) and the state of
    its builds, kept apart from output/'s so that serving never changes what is published."""
    return state_dir(site_dir) / PREVIEW_DIR


def preview_output(site_dir: Path) -> Path:
    """The folder `forumgen serve` renders the preview into and serves."""
    return preview_dir(site_dir) / "site"


def output_state_dir(site_dir: Path, output: Path) -> Path:
    """Where the builds into `output` keep their cache and rebuild requests: the preview
    in its own folder, so that alternating `forumgen serve` and `forumgen build` keeps both
    incremental and neither takes the other's state for its own; every other output in
    `.forumgen/`."""
    if output.resolve() == preview_output(site_dir).resolve():
        return preview_dir(site_dir)
    return state_dir(site_dir)


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
