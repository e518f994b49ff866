"""What every importer shares: the topics already in the site, idempotent writing of
imported topics and replies through content.py, and the rules for what an import may
publish (no e-mail address, ever).

An import never changes a file that exists: a topic folder that is there already gets
only its missing replies, so running an import twice writes nothing the second time,
and a larger archive tops the forum up. Only when asked to update (`rewrite`) does it
give posts it wrote before the text it would write now.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..config import Config
from ..content import (
    TOPIC_FILE,
    TOPIC_ID,
    parse_date,
    read_opening_file,
    render_post,
    rewrite_body,
    write_post,
)
from ..errors import Problems
from ..model import PostFormat, is_safe_slug, slugify
from ..scaffold import ScaffoldError, place_topic, scratch_dir
from ..wording import counted

# Local part, '@', a domain with at least one dot; optionally in <...> or after mailto:.
_ADDRESS = re.compile(
    r"(?:mailto:)?<?([\w.!#$%&'*+/=?^`{|}~-]+)@[\w-]+(?:\.[\w-]+)+>?", re.IGNORECASE
)


@dataclass
class ImportReport:
    topics: int = 0
    replies: int = 0
    skipped: int = 0
    """Posts already in the site (imported by an earlier run)."""
    duplicates: int = 0
    """Messages or posts found twice in what was imported."""
    problems: list[str] = field(default_factory=list)
    """What could not be imported, one line each."""
    updated: int | None = None
    """Posts imported before and rewritten by this import (None: not asked to)."""

    def line(self, source: str) -> str:
        if self.updated is None:
            updated = ""
        else:
            updated = f", {self.updated} updated"
        return (
            f"imported {counted(self.topics, 'topic')} and "
            f"{counted(self.replies, 'reply', 'replies')} from {source}; "
            f"{self.skipped} already imported, {counted(self.duplicates, 'duplicate')}"
            f"{updated}"
        )


def mask_addresses(text: str) -> str:
    """'jane@example.org' -> 'jane@…': a body keeps who was meant, never the address."""
    return _ADDRESS.sub(lambda m: f"{m.group(1)}@…", text)


def person(name: str) -> str:
    """An author name fit to publish: any address in it masked down to its local part."""
    name = " ".join(_ADDRESS.sub(lambda m: m.group(1), name).split()).strip(" \"'")
    return name if slugify(name) else ""


def fold(main: str, tails: list[tuple[str, str]]) -> str:
    """The post's own text, then each (label, text) tail (a quote of the message
    answered, a signature) in a collapsed <details>: kept, but out of the way."""
    parts = [main.strip("\n")] if main.strip() else []
    for label, text in tails:
        if text.strip():
            if not parts:  # nothing else to show: no point folding it
                parts.append(text.strip("\n"))
                continue
            parts.append(
                f'<details markdown="1"><summary>{label}</summary>\n\n'
                f"{text.strip(chr(10))}\n\n</details>"
            )
    return "\n\n".join(parts) + "\n"


def stamp(when: datetime) -> str:
    """The time part of a post id: `YYYYMMDDTHHMMSSZ`, as content.new_post_id makes it."""
    return when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def unique_slug(base: str, taken: set[str], suffix: str) -> str:
    """`base`, or `base-<suffix>` if another topic has it already (compared without case)."""
    base = slugify(base)[:60].strip("-") or "topic"
    slug = base
    if base.casefold() in taken:
        slug = f"{base}-{suffix}"
    if is_safe_slug(slug):
        return slug
    return f"topic-{suffix}"


@dataclass
class Existing:
    """A topic already in the site, as far as importers need it."""

    slug: str
    title: str
    date: datetime | None
    redirect_from: tuple[str, ...]
    replies: set[str]
    """Reply ids (file names without .md)."""


def existing_topics(config: Config) -> dict[str, Existing]:
    """Every topic folder of the site, by slug; read leniently (a broken file is
    `forumgen check`'s business, not the importer's)."""
    found: dict[str, Existing] = {}
    root = config.content_dir / "topics"
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        post = read_opening_file(folder, Problems(config.site_dir))
        front = post.front.values if post else {}
        try:
            if front.get("date"):
                date = parse_date(front.get("date"), config.tz)
            else:
                date = None
        except ValueError:
            date = None
        olds = front.get("redirect_from") or []
        found[folder.name] = Existing(
            folder.name,
            str(front.get("title") or ""),
            date,
            tuple(str(o) for o in (olds if isinstance(olds, list) else [olds])),
            {p.stem for p in folder.glob("*.md") if p.name != TOPIC_FILE},
        )
    return found


@dataclass
class Reply:
    id: str
    front: dict[str, Any]
    body: str


@dataclass
class Planned:
    """A topic to write, or to top up if `exists`."""

    slug: str
    front: dict[str, Any]
    body: str
    exists: bool = False
    replies: list[Reply] = field(default_factory=list)


def write(
    config: Config, topics: list[Planned], report: ImportReport, existing: dict[str, Existing]
) -> Iterator[int]:
    """Write what is missing of each planned topic; yields after each topic (for a
    progress bar). Files that exist are never touched."""
    scratch = scratch_dir(config)
    for topic in topics:
        folder = config.content_dir / "topics" / topic.slug
        if not topic.exists:
            try:
                place_topic(config, topic.slug, render_post(topic.front, topic.body))
                report.topics += 1
            except ScaffoldError as exc:
                report.problems.append(f"topic '{topic.slug}' not imported: {exc}")
                yield 1
                continue
        if topic.slug in existing:
            have = existing[topic.slug].replies
        else:
            have = set()
        for reply in topic.replies:
            path = folder / f"{reply.id}.md"
            if reply.id in have or path.exists():
                report.skipped += 1
                continue
            write_post(path, reply.front, reply.body, durable=False, scratch=scratch)
            report.replies += 1
        yield 1


@dataclass(frozen=True)
class Rewrite:
    """A post an earlier import wrote, with its text as this import makes it."""

    path: Path
    body: str
    format: PostFormat


def rewrite(config: Config, posts: Iterable[Rewrite], report: ImportReport) -> None:
    """Give posts imported before the body and format this import makes, where they
    differ (an archive imported by an older forumgen); the rest of their front matter,
    which may have been edited since, is kept."""
    scratch = scratch_dir(config)
    report.updated = 0
    for post in posts:
        try:
            report.updated += rewrite_body(post.path, post.body, post.format, scratch)
        except (OSError, ValueError) as exc:
            report.problems.append(f"not updated: {exc}")


__all__ = [
    "TOPIC_ID",
    "ImportReport",
    "Planned",
    "Reply",
    "existing_topics",
    "fold",
    "mask_addresses",
    "person",
    "rewrite",
    "stamp",
    "unique_slug",
    "write",
]
