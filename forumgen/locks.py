"""Advisory file locks shared by every process working on a site (CLI builds, `serve`,
intake workers). The kernel drops a lock when its holder dies, so a killed process
never leaves the site locked, and a forked child lets go of its parent's (see
`_drop_inherited`)."""

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


_held: set[int] = set()
"""The descriptors of the locks this process holds (see `_drop_inherited`)."""


def _drop_inherited() -> None:
    """In a forked child: close the descriptors of the parent's locks. A lock belongs to
    an open file, shared by every process holding a descriptor of it, so a child that
    kept them (a gunicorn worker forked from a `--preload` master during a rebuild, a
    build's worker) would keep the lock after the parent let go of it, and a wait for it
    (its own included) would never end."""
    for fd in _held:
        try:
            os.close(fd)
        except OSError:
            pass
    _held.clear()


os.register_at_fork(after_in_child=_drop_inherited)


@contextmanager
def file_lock(path: Path, shared: bool = False) -> Iterator[None]:
    """Hold an exclusive (or shared) lock on `path` for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    _held.add(fd)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        if fd in _held:  # else a fork closed it (this is the child going on)
            _held.discard(fd)
            os.close(fd)  # closing releases the lock


def build_lock(site_dir: Path) -> Path:
    return state_dir(site_dir) / "build.lock"
