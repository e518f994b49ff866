"""The moderation queue: posts in `pending/` wait there until approved into `content/`
or rejected. Used by `forumgen moderate` and written to by the intake in queue mode.

`pending/topics/<slug>/<id>.md` mirrors the content layout, so approving a reply is one
atomic rename and a pending file is an ordinary post file. A reply can only answer a
published topic, so a reply waiting in `pending/topics/<slug>/` always belongs to
`content/topics/<slug>/`, even when a new topic waiting under the same slug sits beside
it (that slug was free when the topic was sent, and taken by a published topic since):
approving that topic publishes its own file and nothing else.
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
from .scaffold import ScaffoldError, place_topic, taken_slugs, topic_slug
from .scaffold import pending_root as pending_root


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


def rejected_root(config: Config) -> Path:
    return config.site_dir / "pending" / "rejected"


def list_pending(config: Config) -> list[Pending]:
    """Every waiting post, oldest first."""
    root = pending_root(config)
    if root.is_dir():
        found = [_read(config, path) for path in sorted(root.glob("*/*.md"))]
    else:
        found = []
    return sorted(found, key=lambda p: (p.date is None, p.date or datetime.min, p.id))


def _read(config: Config, path: Path) -> Pending:
    post = read_post_file(path, Problems(config.site_dir))
    values = post.front.values if post else {}
    try:
        date = parse_date(values.get("date"), config.tz)
    except ValueError:
        date = None
    return Pending(
        topic=path.parent.name,
        post_id=path.stem,
        path=path,
        author=str(values.get("author", "")),
        date=date,
        title=str(values.get("title", "")),
        body=post.body if post else "",
    )


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
    if post.new_topic:
        target = _publish_topic(config, post)
    else:
        folder = config.content_dir / "topics" / post.topic
        if not (folder / TOPIC_FILE).is_file():
            raise ModerationError(
                f"topic '{post.topic}' of {post.id} no longer exists; "
                "reject the post or restore the topic"
            )
        target = folder / post.path.name
        os.rename(post.path, target)
        fsync_dir(target.parent)
    fsync_dir(post.path.parent)
    _remove_if_empty(post.path.parent)
    return target


def _publish_topic(config: Config, post: Pending) -> Path:
    """Publish a waiting topic under its slug, or under the next free one if a topic took
    that slug meanwhile. Only its own file goes: replies waiting beside it answer the
    published topic of that slug and wait on for it. The topic is written to content/
    before it leaves pending/, so a crash in between duplicates it rather than loses it."""
    topics = config.content_dir / "topics"
    while True:
        # Published topics and old URLs may have taken its slug since it was sent.
        taken = set(taken_slugs(config, pending=False))
        slug = post.topic
        if slug.casefold() in taken:
            slug = topic_slug(post.title or post.topic, taken)
        try:
            folder = place_topic(config, slug, post.path.read_bytes(), durable=True, pending=False)
            break
        except ScaffoldError as exc:
            if slug.casefold() not in {p.name.casefold() for p in topics.glob("*")}:
                raise ModerationError(str(exc)) from None
            # another writer took the slug between the look and the claim: look again
    post.path.unlink()
    return folder / TOPIC_FILE


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
