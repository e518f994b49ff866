"""Discourse topic JSON (`/t/<id>.json`, and `/t/<id>/posts.json` pages of the same
topic) and its category list (`/categories.json`) -> categories, topics and replies.

Each topic keeps its old addresses in `redirect_from` (`/t/<slug>/<id>`, `/t/<id>`,
and `/t/<slug>/<id>/1` for its first post) and each reply its own
(`/t/<slug>/<id>/<n>`), so old links land on the same post. A topic imported before is
found again by its `/t/<id>`, and a reply by its number (reply files are named
`<UTC date>-p<n>`), so importing again writes nothing new.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..config import Config
from ..content import TOPIC_FILE, TOPIC_ID, format_date, parse_date, read_topic
from ..errors import Problems
from ..model import is_safe_slug, slugify
from . import discoursemd, discourseraw, htmltomd
from .categories import add_categories
from .common import (
    Existing,
    ImportReport,
    Planned,
    Reply,
    existing_topics,
    mask_addresses,
    person,
    stamp,
    unique_slug,
    write,
)
from .links import Resolver, rewrite

_SMALL_ACTION, _WHISPER = 3, 4  # post types never shown to the public as posts
WROTE = {"en": "{name} wrote:", "zh-CN": "{name} 写道："}
"""The line leading a quote, by site language."""
_NUMBERED = re.compile(r"-p(\d+)$")
_OLD_ID = re.compile(r"^/t/(\d+)/?$")


@dataclass
class Source:
    """What the given files hold: categories by Discourse id, topics by Discourse id."""

    categories: list[dict[str, Any]] = field(default_factory=list)
    topics: dict[int, dict[str, Any]] = field(default_factory=dict)
    posts: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)
    """Topic id -> post id -> post, merged from every file of the topic."""


def read_source(paths: Iterable[Path], report: ImportReport) -> Source:
    source = Source()
    for path in _json_files(paths):
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            report.problems.append(f"{path}: not read ({exc})")
            continue
        if not isinstance(data, dict):
            continue
        if isinstance(data.get("category_list"), dict):
            source.categories += data["category_list"].get("categories") or []
        stream = data.get("post_stream")
        if isinstance(stream, dict):
            posts = stream.get("posts") or []
            topic_id = data.get("id") or next((p.get("topic_id") for p in posts), None)
            if not isinstance(topic_id, int):
                report.problems.append(f"{path}: a post stream without a topic id")
                continue
            if "title" in data:
                source.topics[topic_id] = {**source.topics.get(topic_id, {}), **data}
            merged = source.posts.setdefault(topic_id, {})
            for post in posts:
                if post.get("id") in merged:
                    report.duplicates += 1
                merged.setdefault(post.get("id"), post)
    return source


def _json_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        yield from sorted(path.rglob("*.json")) if path.is_dir() else [path]


def _date(value: Any) -> datetime:
    try:
        return parse_date(str(value), timezone.utc)
    except ValueError:
        return datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass
class _Post:
    number: int
    id: str
    date: datetime
    hidden: bool
    front: dict[str, Any]
    source: dict[str, Any]


def _posts(topic_posts: dict[int, dict[str, Any]]) -> list[_Post]:
    """The topic's posts worth keeping, by number."""
    kept = []
    for post in sorted(topic_posts.values(), key=lambda p: p.get("post_number") or 0):
        number = post.get("post_number")
        if not isinstance(number, int) or post.get("post_type") in (_SMALL_ACTION, _WHISPER):
            continue
        when = _date(post.get("created_at"))
        front: dict[str, Any] = {
            "author": person(str(post.get("username") or post.get("name") or "")) or "unknown",
            "date": format_date(when),
        }
        edited = post.get("updated_at")
        if edited and (post.get("version") or 1) > 1:
            front["edited"] = format_date(_date(edited))
        hidden = bool(post.get("hidden") or post.get("deleted_at") or post.get("user_deleted"))
        kept.append(
            _Post(
                number,
                TOPIC_ID if number == 1 else f"{stamp(when)}-p{number}",
                when,
                hidden,
                front,
                post,
            )
        )
    return kept


def _body(post: dict[str, Any], old_url: str) -> str:
    """The post's Markdown, in Discourse's dialect: its raw text (with the addresses of
    its uploads, which only the cooked HTML has), or else its cooked HTML converted."""
    raw, cooked = post.get("raw"), str(post.get("cooked") or "")
    if isinstance(raw, str) and raw.strip():
        return discourseraw.from_raw(raw.replace("\r\n", "\n"), cooked, old_url)
    return htmltomd.convert(cooked, discourse=True)


def import_discourse(
    config: Config,
    paths: list[Path],
    default_category: str,
    old_url: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    report = ImportReport()
    source = read_source(paths, report)
    category_of = add_categories(config, source.categories)
    existing = existing_topics(config)
    by_old_id = {
        int(m.group(1)): topic.slug
        for topic in existing.values()
        for old in topic.redirect_from
        if (m := _OLD_ID.match(old))
    }
    taken = {slug.casefold() for slug in existing}
    plans: dict[int, tuple[Planned, list[_Post]]] = {}
    for topic_id in sorted(source.topics):
        topic = source.topics[topic_id]
        posts = _posts(source.posts.get(topic_id, {}))
        if not posts or posts[0].number != 1:
            report.problems.append(f"topic {topic_id} not imported: its first post is missing")
            continue
        slug = by_old_id.get(topic_id) or _new_slug(topic, topic_id, taken)
        taken.add(slug.casefold())
        plans[topic_id] = (
            _planned(topic, topic_id, slug, posts, existing, category_of, default_category),
            posts,
        )
    resolver = Resolver(
        config,
        {tid: (plan.slug, {p.number: p.id for p in posts}) for tid, (plan, posts) in plans.items()},
        _known_before(existing, by_old_id),
        _visible(plans, existing, config),
    )
    targets = discoursemd.Targets(
        resolver.post, _authors(config, plans), WROTE.get(config.language, WROTE["en"])
    )
    planned = []
    for plan, posts in plans.values():
        by_id = {p.id: p for p in posts}
        if not plan.exists:
            plan.body = _final(by_id[TOPIC_ID].source, resolver, old_url, targets)
        for reply in plan.replies:
            reply.body = _final(by_id[reply.id].source, resolver, old_url, targets)
        planned.append(plan)
    report.skipped = sum(len(posts) for _, posts in plans.values()) - sum(
        len(p.replies) + (not p.exists) for p in planned
    )
    for done, _ in enumerate(write(config, planned, report, existing), 1):
        if progress:
            progress(done, len(planned))
    return report


def _final(
    post: dict[str, Any], resolver: Resolver, old_url: str, targets: discoursemd.Targets
) -> str:
    """The body to write: links to the old forum rewritten first, then Discourse's own
    syntax made plain (the links it adds point into the new site already)."""
    body = rewrite(_body(post, old_url), resolver, old_url)
    body = mask_addresses(discoursemd.to_commonmark(body, targets))
    return body if body.strip() else "(no text)\n"


def _authors(
    config: Config, plans: dict[int, tuple[Planned, list[_Post]]]
) -> Callable[[str], str | None]:
    """username -> the author page of someone with a published post in the import."""
    pages = {
        str(p.source["username"]).casefold(): slugify(p.front["author"])
        for _, posts in plans.values()
        for p in posts
        if not p.hidden and p.source.get("username")
    }

    def page(username: str) -> str | None:
        slug = pages.get(username.casefold())
        if slug:
            return f"{config.base_path}u/{slug}/"
        return None

    return page


def _new_slug(topic: dict[str, Any], topic_id: int, taken: set[str]) -> str:
    wanted = str(topic.get("slug") or "")
    if not is_safe_slug(wanted) or wanted == "topic":  # Discourse's slug for any non-ASCII title
        wanted = slugify(str(topic.get("title") or ""))
    if wanted.isdigit():  # would be taken for a topic id by /t/<id>
        wanted = f"topic-{wanted}"
    return unique_slug(wanted or f"topic-{topic_id}", taken, str(topic_id))


def _planned(
    topic: dict[str, Any],
    topic_id: int,
    slug: str,
    posts: list[_Post],
    existing: dict[str, Existing],
    category_of: dict[int, str],
    default_category: str,
) -> Planned:
    old_slug = str(topic.get("slug") or "topic")
    first = posts[0]
    front: dict[str, Any] = {
        "title": str(topic.get("title") or f"Topic {topic_id}"),
        **first.front,
        "category": category_of.get(topic.get("category_id") or -1, default_category),
    }
    front.pop("edited", None)  # an opening post's edits are not part of a topic's fields
    tags = [t.get("name") if isinstance(t, dict) else t for t in topic.get("tags") or []]
    tags = [str(t) for t in tags if t and slugify(str(t))]
    if tags:
        front["tags"] = tags
    if topic.get("pinned") or topic.get("pinned_globally"):
        front["pinned"] = True
    if topic.get("closed") or topic.get("archived"):
        front["locked"] = True
    front["redirect_from"] = [
        f"/t/{old_slug}/{topic_id}",
        f"/t/{topic_id}",
        f"/t/{old_slug}/{topic_id}/1",
    ]
    if slug in existing:
        have = existing[slug]
    else:
        have = None
    numbers = {
        int(m.group(1)) for r in (have.replies if have else ()) if (m := _NUMBERED.search(r))
    }
    ids = {p.number: p.id for p in posts}
    replies = []
    for post in posts[1:]:
        if post.number in numbers:
            continue
        reply_front = dict(post.front)
        answered = post.source.get("reply_to_post_number")
        if answered in ids:
            reply_front["reply_to"] = ids[answered]
        if post.hidden:
            reply_front["hidden"] = True
        reply_front["redirect_from"] = [f"/t/{old_slug}/{topic_id}/{post.number}"]
        replies.append(Reply(post.id, reply_front, ""))
    return Planned(slug, front, "", exists=have is not None, replies=replies)


def _known_before(
    existing: dict[str, Existing], by_old_id: dict[int, str]
) -> dict[int, tuple[str, dict[int, str]]]:
    """Topics of earlier imports: Discourse id -> (slug, post number -> post id)."""
    known = {}
    for topic_id, slug in by_old_id.items():
        numbers = {
            int(m.group(1)): reply
            for reply in existing[slug].replies
            if (m := _NUMBERED.search(reply))
        }
        known[topic_id] = (slug, {1: TOPIC_ID, **numbers})
    return known


def _visible(
    plans: dict[int, tuple[Planned, list[_Post]]], existing: dict[str, Existing], config: Config
) -> Callable[[str], list[str]]:
    """Slug -> the ids of its published posts in thread order (what decides the page a
    post is on): the posts of this import and those already written."""
    planned = {
        plan.slug: [(p.date, p.id) for p in posts if not p.hidden or p.id == TOPIC_ID]
        for plan, posts in plans.values()
    }

    def order(slug: str) -> list[str]:
        found = dict((pid, when) for when, pid in planned.get(slug, []))
        folder = config.content_dir / "topics" / slug
        if slug in existing and (folder / TOPIC_FILE).is_file():
            topic = read_topic(folder, config, Problems(config.site_dir), keep_going=True)
            for post in topic.posts if topic else []:
                found.setdefault(post.id, post.date)
        return [
            pid for pid, when in sorted(found.items(), key=lambda i: (i[0] != TOPIC_ID, i[1], i[0]))
        ]

    return order
