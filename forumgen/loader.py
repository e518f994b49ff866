"""Loading a whole site: categories, authors and every topic, with every problem
collected. With a BuildCache, topics whose files did not change (same names, mtimes and
sizes) come from the cache instead of being parsed again."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .cache import BuildCache
from .config import Config, suggest
from .content import (
    TOPIC_FILE,
    TOPIC_ID,
    ReplyReader,
    decode,
    read_post_file,
    read_reply_file,
    read_topic,
)
from .errors import Problems
from .model import Author, Category, Post, Site, Topic, is_safe_slug, slugify
from .yamlfile import YamlError, parse_mapping, parse_sequence_lines

FileStats = tuple[tuple[str, int, int], ...]
"""(name, mtime_ns, size) of each post file of a topic folder, sorted by name."""


def read_categories(config: Config, problems: Problems) -> list[Category]:
    path = config.content_dir / "categories.yaml"
    if not path.is_file():
        problems.add(path, 1, "missing: list the forum's categories here (slug, name)")
        return []
    try:
        parsed = parse_sequence_lines(decode(path.read_bytes()))
    except YamlError as exc:
        problems.add(path, exc.line, exc.message)
        return []
    except UnicodeDecodeError:
        problems.add(path, 1, "not UTF-8 text")
        return []
    if parsed is None:
        problems.add(path, 1, "no categories: a forum needs at least one")
        return []
    categories: list[Category] = []
    for item, line in zip(*parsed, strict=True):
        if not isinstance(item, dict) or not isinstance(item.get("slug"), str):
            problems.add(path, line, "each category needs at least 'slug' and 'name'")
            continue
        unknown = set(item) - {"slug", "name", "description"}
        slug = item["slug"]
        if unknown:
            problems.add(path, line, f"unknown category key '{sorted(unknown)[0]}'")
        elif not is_safe_slug(slug):
            problems.add(path, line, f"unsafe category slug {slug!r}: use letters and digits "
                         "joined by '-'")
        elif any(c.slug == slug for c in categories):
            problems.add(path, line, f"duplicate category slug '{slug}'")
        else:
            categories.append(Category(slug, str(item.get("name") or slug),
                                       str(item.get("description") or "")))
    return categories


def read_authors(config: Config, problems: Problems) -> dict[str, Author]:
    path = config.content_dir / "authors.yaml"
    if not path.is_file():
        return {}
    try:
        mapping = parse_mapping(decode(path.read_bytes()))
    except YamlError as exc:
        problems.add(path, exc.line, exc.message)
        return {}
    except UnicodeDecodeError:
        problems.add(path, 1, "not UTF-8 text")
        return {}
    authors: dict[str, Author] = {}
    for name, profile in (mapping.values if mapping else {}).items():
        line = mapping.line_of(name) if mapping else 1
        profile = profile or {}
        if not isinstance(profile, dict) or set(profile) - {"bio", "url"}:
            problems.add(path, line, f"author {name!r}: give a mapping with 'bio' and/or 'url'")
            continue
        url = str(profile.get("url") or "")
        if url and not re.match(r"https?://", url):
            problems.add(path, line, f"author {name!r}: url must start with http:// or https://")
            continue
        slug = slugify(name)
        authors[slug] = Author(name, slug, str(profile.get("bio") or ""), url)
    return authors


def topic_folders(config: Config) -> Iterator[os.DirEntry[str]]:
    topics_dir = config.content_dir / "topics"
    if not topics_dir.is_dir():
        return iter(())
    with os.scandir(topics_dir) as entries:
        found = [e for e in entries if not e.name.startswith(".") and e.is_dir()]
    return iter(sorted(found, key=lambda e: e.name))


def file_stats(folder: str) -> FileStats:
    with os.scandir(folder) as entries:
        found = []
        for entry in entries:
            if entry.name.endswith(".md") and not entry.name.startswith("."):
                stat = entry.stat()
                found.append((entry.name, stat.st_mtime_ns, stat.st_size))
    return tuple(sorted(found))


def _signature(stats: FileStats) -> str:
    return hashlib.sha1(repr(stats).encode()).hexdigest()


def _reusing(previous: dict[str, tuple[int, int, Post]], stats: FileStats) -> ReplyReader:
    """A reply reader that returns the cached post when its file is unchanged."""
    current = {name: (mtime, size) for name, mtime, size in stats}

    def read(path: Path, topic: str, config: Config, problems: Problems) -> Post | None:
        cached = previous.get(path.name)
        if cached is not None and current.get(path.name) == cached[:2]:
            return cached[2]
        return read_reply_file(path, topic, config, problems)

    return read


@dataclass(frozen=True)
class Scan:
    """Every topic folder with the stats of its files: what a build would read."""

    folders: list[tuple[str, FileStats, str]]
    """(folder name, file stats, their signature), by name."""

    @property
    def signature(self) -> str:
        return hashlib.sha1(repr([(n, s) for n, _, s in self.folders]).encode()).hexdigest()


def scan(config: Config) -> Scan:
    return Scan([(e.name, stats, _signature(stats)) for e in topic_folders(config)
                 for stats in [file_stats(e.path)]])


def _cacheable(topic: Topic,
               stats: FileStats) -> tuple[Topic, dict[str, tuple[int, int, Post]]]:
    """What the cache keeps of a topic: everything but the post bodies, which are big and
    only needed to render Markdown that is not cached yet (see `post_body`)."""
    lean = dataclasses.replace(topic, posts=[dataclasses.replace(p, body="")
                                             for p in topic.posts])
    mtimes = {name: (mtime, size) for name, mtime, size in stats}
    by_file = {f"{p.id}.md": (*mtimes[f"{p.id}.md"], p) for p in lean.posts
               if p.id != TOPIC_ID and f"{p.id}.md" in mtimes}
    return lean, by_file


def post_body(config: Config, post: Post) -> str:
    """A post's Markdown source, read again from its file if the model came from the
    cache without it."""
    if post.body:
        return post.body
    parsed = read_post_file(config.site_dir / post.path, Problems(config.site_dir))
    return parsed.body if parsed is not None else ""


def load_site(config: Config, problems: Problems, cache: BuildCache | None = None,
              scanned: Scan | None = None) -> Site:
    """Read every content file; problems go to `problems`, the rest into the Site."""
    categories = read_categories(config, problems)
    authors = read_authors(config, problems)
    known = {c.slug for c in categories}
    cached = cache.topics() if cache else {}
    seen: dict[str, str] = {}
    topics: list[Topic] = []
    changed: list[tuple[str, str, object]] = []
    topics_dir = config.content_dir / "topics"
    for name, stats, signature in (scanned or scan(config)).folders:
        folder = topics_dir / name
        key = name.casefold()
        if key in seen:
            problems.add(folder / TOPIC_FILE, 1, f"topic slug '{name}' differs only in "
                         f"case from '{seen[key]}': URLs would collide on many hosts")
            continue
        seen[key] = name
        hit = cached.get(name)
        if hit is not None and hit[0] == signature:
            topic: Topic | None = pickle.loads(hit[1])[0]
        else:
            previous = pickle.loads(hit[1])[1] if hit is not None else {}
            topic = read_topic(folder, config, problems, _reusing(previous, stats))
            if topic is not None:
                changed.append((name, signature, _cacheable(topic, stats)))
        if topic is None:
            continue
        if topic.category not in known:
            problems.add(folder / TOPIC_FILE, topic.category_line,
                         f"unknown category '{topic.category}'"
                         f"{suggest(topic.category, sorted(known))}")
            continue
        topics.append(topic)
    if cache is not None:
        cache.store_topics(changed, keep=set(seen.values()))
    return Site(categories=categories, topics=topics, authors=authors)


class ReplyCache:
    """Parsed replies of a long-running process (the intake), keyed by file name, mtime
    and size, so re-reading a topic after one new post parses only that post."""

    LIMIT = 100_000

    def __init__(self) -> None:
        self._posts: dict[tuple[str, int, int], Post] = {}

    def read(self, path: Path, topic: str, config: Config, problems: Problems) -> Post | None:
        try:
            stat = path.stat()
        except OSError:
            return read_reply_file(path, topic, config, problems)
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        post = self._posts.get(key)
        if post is None:
            post = read_reply_file(path, topic, config, problems)
            if post is not None:
                if len(self._posts) >= self.LIMIT:
                    self._posts.clear()
                self._posts[key] = post
        return post


@dataclass(frozen=True)
class TopicInfo:
    """What accepting a reply needs to know about a topic, without reading the forum."""

    slug: str
    title: str
    locked: bool
    post_ids: frozenset[str]


def topic_info(config: Config, slug: str) -> TopicInfo | None:
    """The topic `slug` as its files say, or None if there is no such (readable) topic."""
    if not is_safe_slug(slug):
        return None
    folder = config.content_dir / "topics" / slug
    post_file = read_post_file(folder / TOPIC_FILE, Problems(config.site_dir)) \
        if (folder / TOPIC_FILE).is_file() else None
    if post_file is None:
        return None
    ids = {p.stem for p in folder.glob("*.md") if p.name != TOPIC_FILE}
    return TopicInfo(slug, str(post_file.front.values.get("title", slug)),
                     post_file.front.values.get("locked") is True, frozenset(ids | {TOPIC_ID}))


def load_topic(config: Config, slug: str, cache: ReplyCache | None = None) -> Topic | None:
    """One topic read in full (for its permalinks), or None if it has problems."""
    folder = config.content_dir / "topics" / slug
    return read_topic(folder, config, Problems(config.site_dir), cache.read if cache else None) \
        if is_safe_slug(slug) else None
