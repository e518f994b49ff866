"""The moderation queue: posts in `pending/` wait there until approved into `content/`
or rejected. Used by `forumgen moderate` and written to by the intake in queue mode.

`pending/topics/<slug>/<id>.md` mirrors the content layout, so approving is one atomic
rename and a pending file is an ordinary post file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .config import Config
from .content import TOPIC_FILE, TOPIC_ID, parse_date, read_post_file
from .errors import Problems
from .files import fsync_dir
from .scaffold import topic_slug


class ModerationError(Exception):
    """A moderation request that cannot be carried out, worded for the moderator."""


@dataclass(frozen=True)
class Pending:
    topic: str
    post_id: str
    path: Path
    author: str
    date: datetime | None
    title: str
    body: str

    @property
    def id(self) -> str:
        """How a moderator names the post: `<topic>/<post id>`."""
        return f"{self.topic}/{self.post_id}"

    @property
    def new_topic(self) -> bool:
        return self.post_id == TOPIC_ID


def pending_root(config: Config) -> Path:
    return config.site_dir / "pending" / "topics"


def rejected_root(config: Config) -> Path:
    return config.site_dir / "pending" / "rejected"


def list_pending(config: Config) -> list[Pending]:
    """Every waiting post, oldest first."""
    root = pending_root(config)
    found = [_read(config, path) for path in sorted(root.glob("*/*.md"))] \
        if root.is_dir() else []
    return sorted(found, key=lambda p: (p.date is None, p.date or datetime.min, p.id))


def _read(config: Config, path: Path) -> Pending:
    post = read_post_file(path, Problems(config.site_dir))
    values = post.front.values if post else {}
    try:
        date = parse_date(values.get("date"), config.tz)
    except ValueError:
        date = None
    return Pending(topic=path.parent.name, post_id=path.stem, path=path,
                   author=str(values.get("author", "")), date=date,
                   title=str(values.get("title", "")), body=post.body if post else "")


def find(config: Config, ident: str) -> Pending:
    """A pending post by `<topic>/<id>`, or by its id alone when that is unambiguous."""
    matches = [p for p in list_pending(config) if ident in (p.id, p.post_id)]
    if not matches:
        raise ModerationError(f"no pending post '{ident}' (see `forumgen moderate list`)")
    if len(matches) > 1:
        raise ModerationError(f"'{ident}' is ambiguous: " + ", ".join(p.id for p in matches))
    return matches[0]


def approve(config: Config, ident: str) -> Path:
    """Publish a pending post: move it into content/; returns where it now is."""
    post = find(config, ident)
    topics = config.content_dir / "topics"
    if post.new_topic:
        taken = {p.name for p in topics.iterdir()} if topics.is_dir() else set()
        slug = post.topic if post.topic.casefold() not in {t.casefold() for t in taken} \
            else topic_slug(post.title or post.topic, taken)
        topics.mkdir(parents=True, exist_ok=True)
        os.rename(post.path.parent, topics / slug)
        target = topics / slug / TOPIC_FILE
    else:
        folder = topics / post.topic
        if not (folder / TOPIC_FILE).is_file():
            raise ModerationError(f"topic '{post.topic}' of {post.id} no longer exists; "
                                  "reject the post or restore the topic")
        target = folder / post.path.name
        os.rename(post.path, target)
    fsync_dir(target.parent.parent if post.new_topic else target.parent)
    _remove_if_empty(post.path.parent)
    return target


def reject(config: Config, ident: str, keep: bool = False) -> Path | None:
    """Delete a pending post, or with `keep` move it to pending/rejected/."""
    post = find(config, ident)
    if keep:
        target = rejected_root(config) / post.topic / post.path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(post.path, target)
        fsync_dir(target.parent)
    else:
        post.path.unlink()
        target = None
    fsync_dir(post.path.parent)
    _remove_if_empty(post.path.parent)
    return target


def _remove_if_empty(folder: Path) -> None:
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
