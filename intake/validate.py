"""Form fields -> a Submission, or every bad field with a message for the visitor.

Fields not read below are ignored, `email` among them: the forms used to ask for an
address that nothing used, and API clients written then may still send one. It is
neither checked nor kept, so such a post is accepted and no address is ever stored.

Noncharacters (U+FFFE, U+FFFF, ...) are dropped from every field: no text needs one, and
they make the feeds that show the post invalid XML. C1 control characters (U+0080 to
U+009F) are refused: no text needs one either, and some (U+009B) would act on the
terminal of a moderator reading the post.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from forumgen.chars import code_point, first_c1, without_noncharacters
from forumgen.loader import TopicInfo
from forumgen.markup import COMMONMARK, Engine, hostile
from forumgen.model import slugify

MAX_AUTHOR = 80
MAX_TITLE = 200
MAX_TAGS = 5
MAX_TAG = 40
# Control characters other than newline and tab have no place in a post; in one-line
# fields (names, titles) newlines and tabs are refused too.
_CONTROL = {chr(c) for c in range(32) if chr(c) not in "\n\t"} | {"\x7f"}


@dataclass(frozen=True)
class Submission:
    author: str
    body: str
    topic: str = ""
    reply_to: str = ""
    title: str = ""
    category: str = ""
    tags: tuple[str, ...] = ()


@dataclass
class FieldErrors(Exception):
    """Every bad field, by name, with a message a visitor can act on."""

    errors: dict[str, str] = field(default_factory=dict)


def _field(fields: Mapping[str, str], name: str) -> str:
    return without_noncharacters(fields.get(name, ""))


def _c1(value: str) -> str | None:
    """The error for a value holding a C1 control character, naming the first one."""
    found = first_c1(value)
    if found is None:
        return None
    return f"must not contain control characters (it has {code_point(found)})"


def _line(
    fields: Mapping[str, str], name: str, limit: int, errors: dict[str, str], required: bool = True
) -> str:
    value = unicodedata.normalize("NFC", _field(fields, name)).strip()
    if required and not value:
        errors[name] = "is required"
    elif len(value) > limit:
        errors[name] = f"must be at most {limit} characters"
    elif any(c in _CONTROL or c in "\n\t" for c in value):
        errors[name] = "must be a single line of text"
    elif (problem := _c1(value)) is not None:
        errors[name] = problem
    return value


def _common(
    fields: Mapping[str, str],
    max_body: int,
    errors: dict[str, str],
    reserved: Callable[[str], bool],
    engine: Engine,
) -> tuple[str, str]:
    if fields.get("website", ""):
        errors["website"] = "must be left empty"
    author = _line(fields, "author", MAX_AUTHOR, errors)
    if author and "author" not in errors:
        if not slugify(author):
            errors["author"] = "must contain at least one letter or digit"
        elif reserved(author):
            errors["author"] = (
                "is the name of a member of this forum (or looks like it); please choose another"
            )
    body = _field(fields, "body").replace("\r\n", "\n").replace("\r", "\n")
    body = "".join(c for c in body if c not in _CONTROL).strip("\n")
    if not body.strip():
        errors["body"] = "is required"
    elif len(body) > max_body:
        errors["body"] = f"must be at most {max_body} characters (it has {len(body)})"
    elif (problem := _c1(body)) is not None:
        errors["body"] = problem
    elif (problem := hostile(body, engine)) is not None:
        # Stored, it would be shown as plain text (see markup.hostile): the visitor had
        # better simplify it now.
        errors["body"] = f"is too complex to show as Markdown: {problem}"
    return author, body


def reply(
    fields: Mapping[str, str],
    topic: TopicInfo,
    max_body: int,
    *,
    reserved: Callable[[str], bool],
    engine: Engine = COMMONMARK,
) -> Submission:
    """`reserved` tells the author names no visitor may post under; `engine` is the
    site's Markdown (`config.markdown`), which must be able to render the body."""
    errors: dict[str, str] = {}
    author, body = _common(fields, max_body, errors, reserved, engine)
    reply_to = fields.get("reply_to", "").strip()
    if reply_to and reply_to not in topic.post_ids:
        errors["reply_to"] = "names no post of this topic"
    if errors:
        raise FieldErrors(errors)
    return Submission(author=author, body=body, topic=topic.slug, reply_to=reply_to)


def new_topic(
    fields: Mapping[str, str],
    max_body: int,
    *,
    reserved: Callable[[str], bool],
    engine: Engine = COMMONMARK,
) -> Submission:
    """Category existence is checked by the caller (an unknown one is a 404); `engine`
    as for `reply`."""
    errors: dict[str, str] = {}
    title = _line(fields, "title", MAX_TITLE, errors)
    author, body = _common(fields, max_body, errors, reserved, engine)
    tags = tuple(dict.fromkeys(t.strip() for t in _field(fields, "tags").split(",") if t.strip()))
    if len(tags) > MAX_TAGS:
        errors["tags"] = f"at most {MAX_TAGS} tags"
    elif any(len(t) > MAX_TAG or not slugify(t) or any(c in _CONTROL for c in t) for t in tags):
        errors["tags"] = f"each tag needs a letter or digit and at most {MAX_TAG} characters"
    elif (problem := _c1("".join(tags))) is not None:
        errors["tags"] = problem
    if not fields.get("category", "").strip():
        errors["category"] = "is required"
    if errors:
        raise FieldErrors(errors)
    return Submission(
        author=author, body=body, title=title, category=fields["category"].strip(), tags=tags
    )
