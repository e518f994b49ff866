"""What a writer says it changed (`forumgen build --changed PATH...`): the topic folders
its paths are in. A build told so stats only those folders and takes every other one's
signature from the last build's scan; a path that is not in a topic folder (config,
categories, authors, theme, static files) asks for a full scan."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

TOPICS = Path("content") / "topics"


class OutsideSite(ValueError):
    """A changed path that is not in the site's folder: nothing the build reads."""


def folders_of(site_dir: Path, paths: Iterable[Path | str]) -> frozenset[str] | None:
    """The names of the topic folders that hold `paths` (relative to the site's folder,
    or absolute; a deleted file or folder is a change too), or None when one of them is
    elsewhere in the site and everything must be scanned. Raises OutsideSite."""
    site_dir = site_dir.resolve()
    folders = set()
    for path in paths:
        parts = _inside(site_dir, Path(path))
        if parts is None:
            raise OutsideSite(f"--changed {path}: not in the site's folder {site_dir}")
        if len(parts) < 3 or Path(*parts[:2]) != TOPICS:
            return None
        folders.add(parts[2])
    return frozenset(folders)


def _inside(site_dir: Path, path: Path) -> tuple[str, ...] | None:
    """The parts of `path` below the site's folder, or None if it is not below it. The
    path is taken as written first (a symlinked topic folder stays what it is named),
    then with symlinks resolved (the site's folder may be reached through one)."""
    for candidate in (Path(os.path.abspath(site_dir / path)), (site_dir / path).resolve()):
        if candidate.is_relative_to(site_dir):
            return candidate.relative_to(site_dir).parts
    return None
