"""The post file format, both ways: files -> model (with every problem located) and
new posts -> files. This module is the only owner of the format; the intake and the
CLI's `new` command write through it."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone, tzinfo
from pathlib import Path
from typing import Any

from .config import Config, suggest
from .errors import Problems
from .files import atomic_write
from .model import Author, Category, Post, Site, Topic, is_safe_slug, slugify
from .yamlfile import Mapping, YamlError, dump, parse_mapping, parse_sequence_lines

TOPIC_FILE = "topic.md"
TOPIC_ID = "topic"
TOPIC_KEYS = {"title", "author", "date", "category", "tags", "pinned", "locked", "redirect_from"}
TOPIC_REQUIRED = ("title", "author", "date", "category")
REPLY_KEYS = {"author", "date", "reply_to", "edited", "hidden"}
REPLY_REQUIRED = ("author", "date")
_DELIMITER = "---"


@dataclass(frozen=True)
class PostFile:
    """A post file split into its parts, before the fields are checked."""

    front: Mapping
    body: str
    body_line: int


def split_front_matter(text: str) -> tuple[str, str, int]:
    """(front matter YAML, body, line the body starts on). Raises YamlError on a bad frame."""
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != _DELIMITER:
        raise YamlError(1, "no front matter: the file must start with a '---' line")
    for index in range(1, len(lines)):
        if lines[index].rstrip() == _DELIMITER:
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1:]), index + 2
    raise YamlError(1, "front matter is not closed: add a '---' line after it")


def decode(data: bytes) -> str:
    """UTF-8 text with a byte-order mark tolerated and line endings normalised.
    Raises UnicodeDecodeError for anything else: guessing encodings corrupts archives."""
    text = data.decode("utf-8-sig")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_post_file(path: Path, problems: Problems) -> PostFile | None:
    try:
        text = decode(path.read_bytes())
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        problems.add(path, line, f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); "
                     "save the file as UTF-8")
        return None
    except OSError as exc:
        problems.add(path, 1, f"cannot read: {exc.strerror}")
        return None
    try:
        yaml_text, body, body_line = split_front_matter(text)
        front = parse_mapping(yaml_text, first_line=2) or Mapping({}, line=1)
    except YamlError as exc:
        problems.add(path, exc.line, exc.message)
        return None
    return PostFile(front, body, body_line)


def parse_date(value: Any, tz: tzinfo) -> datetime:
    """ISO 8601 date or date-time; without an offset it is in the site's time zone."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        text = re.sub(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})", r"\1-\2-\3T\4:\5:\6", text)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"unparsable date {value!r} (use ISO 8601, e.g. "
                             "2024-05-01T14:30:00+02:00)") from None
    else:
        raise ValueError(f"unparsable date {value!r} (use ISO 8601, e.g. 2024-05-01T14:30:00Z)")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed


class _Fields:
    """Typed access to one file's front matter that records each problem with its line."""

    def __init__(self, path: Path, post: PostFile, problems: Problems, allowed: set[str],
                 required: Iterable[str]) -> None:
        self.path, self.front, self.problems = path, post.front, problems
        self.ok = True
        for key in self.front.values:
            if key not in allowed:
                self.error(key, f"unknown front matter key '{key}'{suggest(key, sorted(allowed))}")
        for key in required:
            if self.front.values.get(key) in (None, ""):
                self.ok = False
                self.problems.add(path, self.front.line, f"missing required field '{key}'")

    def error(self, key: str, message: str) -> None:
        self.ok = False
        self.problems.add(self.path, self.front.line_of(key), message)

    def text(self, key: str) -> str:
        value = self.front.values.get(key)
        if value is None:
            return ""
        if isinstance(value, (dict, list)):
            self.error(key, f"'{key}' must be text")
            return ""
        return str(value).strip()

    def flag(self, key: str) -> bool:
        value = self.front.values.get(key, False)
        if not isinstance(value, bool):
            self.error(key, f"'{key}' must be true or false")
            return False
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.front.values.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
            self.error(key, f"'{key}' must be a list of text")
            return ()
        return tuple(str(v).strip() for v in value if str(v).strip())

    def date(self, key: str, tz: tzinfo) -> datetime | None:
        if self.front.values.get(key) in (None, ""):
            return None
        try:
            return parse_date(self.front.values[key], tz)
        except ValueError as exc:
            self.error(key, str(exc))
            return None

    def author(self) -> str:
        name = self.text("author")
        if name and not slugify(name):
            self.error("author", f"author {name!r} needs at least one letter or digit")
        return name


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
            return _read_reply(path, topic, config, problems)
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        post = self._posts.get(key)
        if post is None:
            post = _read_reply(path, topic, config, problems)
            if post is not None:
                if len(self._posts) >= self.LIMIT:
                    self._posts.clear()
                self._posts[key] = post
        return post


def read_topic(folder: Path, config: Config, categories: dict[str, Category],
               problems: Problems, cache: ReplyCache | None = None) -> Topic | None:
    slug = folder.name
    path = folder / TOPIC_FILE
    if not is_safe_slug(slug):
        problems.add(folder, 1, f"unsafe topic slug {slug!r}: use letters and digits joined "
                     "by '-' (no spaces, dots or slashes)")
        return None
    if not path.is_file():
        problems.add(path, 1, "missing: every topic folder needs a topic.md opening post")
        return None
    post_file = read_post_file(path, problems)
    if post_file is None:
        return None
    fields = _Fields(path, post_file, problems, TOPIC_KEYS, TOPIC_REQUIRED)
    category = fields.text("category")
    if category and category not in categories:
        fields.error("category",
                     f"unknown category '{category}'{suggest(category, sorted(categories))}")
    tags = fields.texts("tags")
    for tag in tags:
        if not slugify(tag):
            fields.error("tags", f"tag {tag!r} needs at least one letter or digit")
    topic = Topic(slug=slug, title=fields.text("title"), category=category, tags=tags,
                  pinned=fields.flag("pinned"), locked=fields.flag("locked"),
                  redirect_from=fields.texts("redirect_from"))
    opening = _post(fields, post_file, slug, TOPIC_ID, config, path)
    read_reply = cache.read if cache else _read_reply
    replies = [read_reply(p, slug, config, problems) for p in sorted(folder.glob("*.md"))
               if p.name != TOPIC_FILE and not p.name.startswith(".")]
    if opening is None or not fields.ok or None in replies:
        return None
    posts = [opening, *(r for r in replies if r is not None)]
    ids = {p.id for p in posts}
    dangling = [p for p in posts if p.reply_to and p.reply_to not in ids]
    for post in dangling:
        reply_path = folder / f"{post.id}.md"
        problems.add(reply_path, _line_of(reply_path, "reply_to"),
                     f"reply_to '{post.reply_to}' names no post of topic '{slug}'"
                     f"{suggest(post.reply_to, sorted(ids))}")
    if dangling:
        return None
    topic.posts = [p for p in posts if not p.hidden]
    return topic


def _read_reply(path: Path, topic: str, config: Config, problems: Problems) -> Post | None:
    post_id = path.stem
    if not is_safe_slug(post_id):
        problems.add(path, 1, f"unsafe post id {post_id!r}: name reply files with letters and "
                     "digits joined by '-'")
        return None
    post_file = read_post_file(path, problems)
    if post_file is None:
        return None
    fields = _Fields(path, post_file, problems, REPLY_KEYS, REPLY_REQUIRED)
    post = _post(fields, post_file, topic, post_id, config, path)
    return post if fields.ok else None


def _post(fields: _Fields, post_file: PostFile, topic: str, post_id: str, config: Config,
          path: Path) -> Post | None:
    author = fields.author()
    when = fields.date("date", config.tz)
    edited = fields.date("edited", config.tz)
    reply_to = fields.text("reply_to")
    hidden = fields.flag("hidden")
    if not post_file.body.strip():
        fields.problems.add(path, post_file.body_line, "empty body: write the post below the "
                            "front matter")
        return None
    if not fields.ok or when is None:
        return None
    return Post(topic=topic, id=post_id, author=author, date=when, body=post_file.body,
                reply_to=reply_to, edited=edited, hidden=hidden,
                path=path.relative_to(config.site_dir).as_posix())


def _line_of(path: Path, key: str) -> int:
    for number, line in enumerate(path.read_text("utf-8", "replace").splitlines(), 1):
        if line.startswith(f"{key}:"):
            return number
    return 1


def load_site(config: Config, problems: Problems) -> Site:
    """Read every content file; problems go to `problems`, the rest into the Site."""
    categories = read_categories(config, problems)
    authors = read_authors(config, problems)
    by_slug = {c.slug: c for c in categories}
    topics_dir = config.content_dir / "topics"
    folders = sorted(p for p in topics_dir.iterdir() if p.is_dir() and not
                     p.name.startswith(".")) if topics_dir.is_dir() else []
    seen: dict[str, Path] = {}
    topics = []
    for folder in folders:
        key = folder.name.casefold()
        if key in seen:
            problems.add(folder / TOPIC_FILE, 1, f"topic slug '{folder.name}' differs only in "
                         f"case from '{seen[key].name}': URLs would collide on many hosts")
            continue
        seen[key] = folder
        topic = read_topic(folder, config, by_slug, problems)
        if topic is not None:
            topics.append(topic)
    return Site(categories=categories, topics=topics, authors=authors)


def new_post_id(when: datetime) -> str:
    """`YYYYMMDDTHHMMSSZ-<6 hex>`: sorts by time, and the random tail means concurrent
    posts never collide."""
    stamp = when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def format_date(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def render_post(front: dict[str, Any], body: str) -> bytes:
    """A post file's bytes. Front matter goes through the YAML dumper, so whatever a
    visitor types is a quoted value and can never add or change a key."""
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    if not body.endswith("\n"):
        body += "\n"
    return f"{_DELIMITER}\n{dump(front)}{_DELIMITER}\n{body}".encode()


def write_post(path: Path, front: dict[str, Any], body: str, durable: bool = True,
               scratch: Path | None = None) -> None:
    """Write a post atomically; durable (fsynced file and folder) unless told otherwise.
    `scratch` keeps the temporary file out of the content folders (see atomic_write)."""
    atomic_write(path, render_post(front, body), durable=durable, scratch=scratch)


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)



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
    problems = Problems(config.site_dir)
    categories = {c.slug: c for c in read_categories(config, problems)}
    folder = config.content_dir / "topics" / slug
    return read_topic(folder, config, categories, problems, cache) \
        if is_safe_slug(slug) else None
