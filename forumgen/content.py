"""The post file format, both ways: files -> model (with every problem located) and
new posts -> files. This module is the only owner of the format; the intake and the
CLI's `new` command write through it."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone, tzinfo
from pathlib import Path
from typing import Any

from .config import Config, suggest
from .errors import Problems
from .files import atomic_write
from .model import MARKDOWN, POST_FORMATS, Post, PostFormat, Topic, is_safe_slug, slugify
from .yamlfile import Mapping, YamlError, dump, parse_mapping

TOPIC_FILE = "topic.md"
TOPIC_ID = "topic"
TOPIC_KEYS = {
    "title",
    "author",
    "date",
    "category",
    "tags",
    "pinned",
    "locked",
    "redirect_from",
    "draft",
    "format",
}
TOPIC_REQUIRED = ("title", "author", "date", "category")
REPLY_KEYS = {"author", "date", "reply_to", "edited", "hidden", "redirect_from", "draft", "format"}
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
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1 :]), index + 2
    raise YamlError(1, "front matter is not closed: add a '---' line after it")


def decode(data: bytes) -> str:
    """UTF-8 text with a byte-order mark tolerated and line endings normalised.
    Raises UnicodeDecodeError for anything else: guessing encodings corrupts archives."""
    text = data.decode("utf-8-sig")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_opening_file(folder: Path, problems: Problems) -> PostFile | None:
    """The topic.md of a topic folder, or None if it has none or it cannot be read."""
    path = folder / TOPIC_FILE
    if not path.is_file():
        return None
    return read_post_file(path, problems)


def read_post_file(path: Path, problems: Problems) -> PostFile | None:
    try:
        text = decode(path.read_bytes())
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        problems.add(
            path,
            line,
            f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); save the file as UTF-8",
        )
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
            raise ValueError(
                f"unparsable date {value!r} (use ISO 8601, e.g. 2024-05-01T14:30:00+02:00)"
            ) from None
    else:
        raise ValueError(f"unparsable date {value!r} (use ISO 8601, e.g. 2024-05-01T14:30:00Z)")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    try:  # a year away from the ends of the calendar, so any time zone can show it
        year = parsed.astimezone(timezone.utc).year
    except OverflowError:
        year = 0
    if not 1 < year < 9999:
        raise ValueError(f"date {value!r} is out of range (years 2 to 9998)")
    return parsed


class _Fields:
    """Typed access to one file's front matter that records each problem with its line."""

    def __init__(
        self,
        path: Path,
        post: PostFile,
        problems: Problems,
        allowed: set[str],
        required: Iterable[str],
    ) -> None:
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

    def format(self) -> PostFormat:
        value = self.front.values.get("format", MARKDOWN)
        for known in POST_FORMATS:
            if value == known:
                return known
        self.error(
            "format",
            f"unknown format {value!r}: use "
            f"{' or '.join(POST_FORMATS)}{suggest(str(value), list(POST_FORMATS))}",
        )
        return MARKDOWN

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


ReplyReader = Callable[[Path, str, Config, Problems], "Post | None"]


def read_topic(
    folder: Path,
    config: Config,
    problems: Problems,
    read_reply: ReplyReader | None = None,
    keep_going: bool = False,
    drafts: bool = False,
) -> Topic | None:
    """A topic folder as a Topic, or None with its problems recorded. Whether its category
    exists is checked by the caller, against the categories of the whole site.
    `read_reply` may answer from a cache instead of parsing (see loader.py). With
    `keep_going`, broken replies are left out (and answers to them shown as answers to a
    hidden post) instead of failing the topic; a broken opening post still does.
    Draft replies are read and checked like the others, then left out unless `drafts`;
    a draft topic is returned marked `draft`, for the caller to leave out."""
    slug = folder.name
    path = _topic_file(folder, problems)
    if path is None:
        return None
    post_file = read_post_file(path, problems)
    if post_file is None:
        return None
    fields = _Fields(path, post_file, problems, TOPIC_KEYS, TOPIC_REQUIRED)
    category = fields.text("category")
    tags = fields.texts("tags")
    for tag in tags:
        if not slugify(tag):
            fields.error("tags", f"tag {tag!r} needs at least one letter or digit")
    topic = Topic(
        slug=slug,
        title=fields.text("title"),
        category=category,
        tags=tags,
        pinned=fields.flag("pinned"),
        locked=fields.flag("locked"),
        redirect_from=fields.texts("redirect_from"),
        category_line=post_file.front.line_of("category"),
    )
    opening = _post(fields, post_file, slug, TOPIC_ID, config, path)
    read_reply = read_reply or read_reply_file
    replies = [
        read_reply(p, slug, config, problems)
        for p in sorted(folder.glob("*.md"))
        if p.name != TOPIC_FILE and not p.name.startswith(".")
    ]
    if opening is None or not fields.ok or (None in replies and not keep_going):
        return None
    posts = [opening, *(r for r in replies if r is not None)]
    if _answers_nothing(folder, posts, problems) and not keep_going:
        return None
    topic.draft = opening.draft
    _place_posts(topic, posts, drafts)
    return topic


def _topic_file(folder: Path, problems: Problems) -> Path | None:
    """The folder's topic.md, or None with a problem if the folder cannot be a topic."""
    slug = folder.name
    path = folder / TOPIC_FILE
    if not is_safe_slug(slug):
        problems.add(
            folder,
            1,
            f"unsafe topic slug {slug!r}: use letters and digits joined "
            "by '-' (no spaces, dots or slashes)",
        )
        return None
    if not path.is_file():
        problems.add(path, 1, "missing: every topic folder needs a topic.md opening post")
        return None
    return path


def _answers_nothing(folder: Path, posts: list[Post], problems: Problems) -> bool:
    """Whether some post answers (reply_to) no post of the topic: a problem for each."""
    ids = {p.id for p in posts}
    dangling = [p for p in posts if p.reply_to and p.reply_to not in ids]
    for post in dangling:
        reply_path = folder / f"{post.id}.md"
        problems.add(
            reply_path,
            key_line(reply_path, "reply_to"),
            f"reply_to '{post.reply_to}' names no post of topic '{folder.name}'"
            f"{suggest(post.reply_to, sorted(ids))}",
        )
    return bool(dangling)


def _place_posts(topic: Topic, posts: list[Post], drafts: bool) -> None:
    """Put the posts in the topic in thread order, leaving out hidden ones and, unless
    `drafts`, draft replies."""
    # A draft reply is as if it did not exist: it takes no number and no place on a page.
    posts = [p for p in posts if drafts or not p.draft or p.id == TOPIC_ID]
    # Thread order: the opening post, then replies by date (the id breaks ties).
    topic.posts = sorted(
        (p for p in posts if not p.hidden), key=lambda p: (p.id != TOPIC_ID, p.date, p.id)
    )
    # An old link to a post that is hidden now still leads somewhere: to its topic.
    topic.redirect_from += tuple(
        old for p in sorted(posts, key=lambda p: p.id) if p.hidden for old in p.redirect_from
    )


def read_reply_file(path: Path, topic: str, config: Config, problems: Problems) -> Post | None:
    post_id = path.stem
    if not is_safe_slug(post_id):
        problems.add(
            path,
            1,
            f"unsafe post id {post_id!r}: name reply files with letters and digits joined by '-'",
        )
        return None
    post_file = read_post_file(path, problems)
    if post_file is None:
        return None
    fields = _Fields(path, post_file, problems, REPLY_KEYS, REPLY_REQUIRED)
    post = _post(fields, post_file, topic, post_id, config, path, fields.texts("redirect_from"))
    return post if fields.ok else None


def _post(
    fields: _Fields,
    post_file: PostFile,
    topic: str,
    post_id: str,
    config: Config,
    path: Path,
    redirect_from: tuple[str, ...] = (),
) -> Post | None:
    author = fields.author()
    when = fields.date("date", config.tz)
    edited = fields.date("edited", config.tz)
    reply_to = fields.text("reply_to")
    hidden = fields.flag("hidden")
    draft = fields.flag("draft")
    body_format = fields.format()
    if not post_file.body.strip():
        fields.problems.add(
            path, post_file.body_line, "empty body: write the post below the front matter"
        )
        return None
    if not fields.ok or when is None:
        return None
    return Post(
        topic=topic,
        id=post_id,
        author=author,
        date=when,
        body=post_file.body,
        reply_to=reply_to,
        edited=edited,
        hidden=hidden,
        path=path.relative_to(config.site_dir).as_posix(),
        digest=body_digest(post_file.body, body_format),
        redirect_from=redirect_from,
        draft=draft,
        format=body_format,
    )


def body_digest(body: str, body_format: PostFormat = MARKDOWN) -> str:
    """The key of a body's rendered HTML: a hash of the Markdown, or of the format and the
    text for other formats, so that changing a post's format renders it again."""
    if body_format == MARKDOWN:
        key = body
    else:
        key = f"{body_format}\0{body}"
    return hashlib.sha1(key.encode("utf-8")).hexdigest()


def key_line(path: Path, key: str) -> int:
    """The line of a post file's top-level `key`, 1 if it has none: where to point a
    problem found after parsing (the parsed front matter is gone by then)."""
    for number, line in enumerate(path.read_text("utf-8", "replace").splitlines(), 1):
        if line.startswith(f"{key}:"):
            return number
    return 1


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
    return f"{_DELIMITER}\n{dump(front)}{_DELIMITER}\n{_body_text(body)}".encode()


def _body_text(body: str) -> str:
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    if body.endswith("\n"):
        return body
    return body + "\n"


def rewrite_body(
    path: Path, body: str, body_format: PostFormat, scratch: Path | None = None
) -> bool:
    """Give a post file a new body and format, keeping its front matter as it is written
    (only a `format` line changes); False if it has them already. Raises ValueError
    ('path:line: problem') for a file that cannot be read as a post."""
    try:
        text = decode(path.read_bytes())
        yaml_text, old_body, _ = split_front_matter(text)
        front = parse_mapping(yaml_text, first_line=2) or Mapping({}, line=1)
    except UnicodeDecodeError:
        raise ValueError(f"{path}:1: not UTF-8 text") from None
    except YamlError as exc:
        raise ValueError(f"{path}:{exc.line}: {exc.message}") from None
    body = _body_text(body)
    if old_body == body and front.values.get("format", MARKDOWN) == body_format:
        return False
    lines = yaml_text.split("\n") if yaml_text else []
    setting = dump({"format": body_format}).rstrip("\n")
    if "format" in front.values:
        lines[front.line_of("format") - 2] = setting
    elif body_format != MARKDOWN:
        lines.append(setting)
    front_text = "".join(f"{line}\n" for line in lines)
    atomic_write(
        path,
        f"{_DELIMITER}\n{front_text}{_DELIMITER}\n{body}".encode(),
        durable=False,
        scratch=scratch,
    )
    return True


def write_post(
    path: Path, front: dict[str, Any], body: str, durable: bool = True, scratch: Path | None = None
) -> None:
    """Write a post atomically; durable (fsynced file and folder) unless told otherwise.
    `scratch` keeps the temporary file out of the content folders (see atomic_write)."""
    atomic_write(path, render_post(front, body), durable=durable, scratch=scratch)


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)
