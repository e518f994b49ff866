"""Mailing-list archives (mbox files) -> topics and replies.

Threads come from Message-ID / In-Reply-To / References; a reply whose parent is not in
the archive (or that has no such headers) joins the thread of the first earlier message
with the same subject once its 'Re:'s and list tags are stripped. Every message's file
name comes from its Message-ID (`<UTC date>-<6 hex of its SHA-1>`) and every thread's
folder from its first message (`<subject>-<6 hex>`), so an import run again finds what
it wrote before and writes only what is new.
"""

from __future__ import annotations

import hashlib
import mailbox
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path

from ..bodies import mail_labels
from ..config import Config
from ..content import TOPIC_FILE, TOPIC_ID, format_date
from ..mailbody import split_tails
from ..model import MAIL, MARKDOWN, PostFormat, slugify
from . import mailtext
from .common import (
    Existing,
    ImportReport,
    Planned,
    Reply,
    Rewrite,
    existing_topics,
    fold,
    mask_addresses,
    person,
    rewrite,
    stamp,
    write,
)

_PARSER = BytesParser(policy=policy.default)
Location = tuple[str, str]
"""(topic slug, post id) of a post in the site."""


@dataclass
class Mail:
    """One message, decoded."""

    key: str
    """Its Message-ID, or one derived from its bytes."""
    digest: str
    parents: list[str]
    """Message-IDs it answers, nearest first (In-Reply-To, then References backwards)."""
    subject: str
    author: str
    date: datetime
    body: str
    format: PostFormat

    @property
    def id(self) -> str:
        return f"{stamp(self.date)}-{self.digest[:6]}"


def read_mails(files: Iterable[Path], labels: tuple[str, str]) -> Iterator[Mail]:
    for path in files:
        box = mailbox.mbox(str(path), create=False)
        try:
            for key in box.iterkeys():
                with box.get_file(key, from_=True) as handle:
                    data = handle.read()
                from_line, _, raw = data.partition(b"\n")
                try:
                    yield parse(raw, from_line.decode("latin-1").strip(), labels)
                except Exception:  # noqa: BLE001 - whatever else breaks: its bytes as text
                    yield _unreadable(raw, from_line.decode("latin-1").strip())
        finally:
            box.close()


def _unreadable(raw: bytes, from_line: str) -> Mail:
    key = f"<{hashlib.sha1(raw).hexdigest()}@content>"
    text = mailtext.decode_bytes(raw, None).replace("\r\n", "\n").replace("\r", "\n")
    return Mail(
        key,
        hashlib.sha1(key.encode()).hexdigest(),
        [],
        "",
        "unknown",
        mailtext.date(_PARSER.parsebytes(b""), from_line),
        mask_addresses(text),
        MAIL,
    )


def parse(raw: bytes, from_line: str, labels: tuple[str, str]) -> Mail:
    msg = _PARSER.parsebytes(raw)
    ids = mailtext.message_ids(mailtext.header(msg, "message-id"))
    # No Message-ID: one from the content, so the same message found twice is one post.
    if ids:
        key = ids[0]
    else:
        key = f"<{hashlib.sha1(raw).hexdigest()}@content>"
    parents = (
        mailtext.message_ids(mailtext.header(msg, "in-reply-to"))[:1]
        + mailtext.message_ids(mailtext.header(msg, "references"))[::-1]
    )
    text = mailtext.body(msg)
    body = text.text
    if text.format == MARKDOWN:  # HTML made Markdown: its tails are folded here, for good
        own, quoted, signature = split_tails(body)
        body = fold(own, [(labels[0], quoted), (labels[1], signature)])
    return Mail(
        key=key,
        digest=hashlib.sha1(key.encode("utf-8", "replace")).hexdigest(),
        parents=[p for p in parents if p != key],
        subject=mailtext.header(msg, "subject"),
        author=person(mailtext.sender(msg)) or "unknown",
        date=mailtext.date(msg, from_line),
        body=mask_addresses(body) if body.strip() else "(no text in this message)\n",
        format=text.format,
    )


class _Threads:
    """Where each message goes: a thread of this import, or a topic imported before."""

    def __init__(self, existing: dict[str, Existing]) -> None:
        self.by_id: dict[str, Location] = {}  # post ids already in the site
        self.by_digest: dict[str, Location | None] = {}
        self.by_subject: dict[str, Location] = {}
        for topic in existing.values():
            places = [(reply, (topic.slug, reply)) for reply in topic.replies]
            tail = topic.slug.rsplit("-", 1)[-1]
            if topic.date and len(tail) >= 6 and all(c in "0123456789abcdef" for c in tail):
                places.append((f"{stamp(topic.date)}-{tail[:6]}", (topic.slug, TOPIC_ID)))
            for post_id, where in places:
                self.by_id[post_id] = where
                short = post_id.rsplit("-", 1)[-1]
                # Six hex digits can collide across a big archive: only a unique one is kept.
                if short in self.by_digest:
                    self.by_digest[short] = None
                else:
                    self.by_digest[short] = where
            if topic.title:
                self.by_subject.setdefault(
                    mailtext.subject_key(topic.title), (topic.slug, TOPIC_ID)
                )


def plan(
    mails: list[Mail], existing: dict[str, Existing], category: str, report: ImportReport
) -> list[Planned]:
    """Topics to write (new ones, and existing ones that get new replies)."""
    threads = _Threads(existing)
    unique = _unique(mails, report)
    ordered = sorted(unique.values(), key=lambda m: (m.date, m.key))
    parent = _parents(ordered, unique, threads)
    planned: dict[str, Planned] = {}
    taken = {slug.casefold() for slug in existing}
    located: dict[str, Location] = {}

    def locate(mail: Mail, seen: frozenset[str] = frozenset()) -> Location:
        if mail.key in located:
            return located[mail.key]
        if mail.id in threads.by_id:  # imported by an earlier run
            located[mail.key] = threads.by_id[mail.id]
            return located[mail.key]
        up = parent[mail.key]
        if isinstance(up, str) and up not in seen:
            slug = locate(unique[up], seen | {mail.key})[0]
            where = (slug, mail.id)
        elif isinstance(up, tuple):
            where = (up[0], mail.id)
        else:  # the first message of a new thread
            where = (_topic_slug(mail, taken), TOPIC_ID)
            taken.add(where[0].casefold())
        located[mail.key] = where
        return where

    for mail in ordered:
        slug, post_id = locate(mail)
        if mail.id in threads.by_id:
            report.skipped += 1
        elif post_id == TOPIC_ID:
            # Replies dated before their thread's first message may have come first.
            if slug in planned:
                early = planned[slug].replies
            else:
                early = []
            planned[slug] = _opening(slug, mail, category, early)
        else:
            topic = planned.get(slug) or planned.setdefault(
                slug, Planned(slug, {}, "", exists=True)
            )
            up = parent[mail.key]
            if isinstance(up, str):
                answered = located.get(up)
            else:
                answered = up
            topic.replies.append(_reply(slug, post_id, mail, answered))
    return [planned[slug] for slug in sorted(planned)]


def _unique(mails: list[Mail], report: ImportReport) -> dict[str, Mail]:
    """Each message once (by key), the first copy found; the others counted as duplicates."""
    unique: dict[str, Mail] = {}
    for mail in mails:
        if mail.key in unique:
            report.duplicates += 1
        else:
            unique[mail.key] = mail
    return unique


def _parents(
    ordered: list[Mail], unique: dict[str, Mail], threads: _Threads
) -> dict[str, str | Location | None]:
    """What each message (by key, oldest first) answers: see _parent."""
    first_of_subject: dict[str, Mail] = {}
    parent: dict[str, str | Location | None] = {}
    for mail in ordered:
        parent[mail.key] = _parent(mail, unique, threads, first_of_subject)
        first_of_subject.setdefault(mailtext.subject_key(mail.subject), mail)
    return parent


def _opening(slug: str, mail: Mail, category: str, replies: list[Reply]) -> Planned:
    """A new topic opened by `mail`, with the `replies` planned for it so far."""
    front: dict[str, object] = {
        "title": mailtext.clean_subject(mail.subject) or "(no subject)",
        "author": mail.author,
        "date": format_date(mail.date),
        "category": category,
    }
    return Planned(slug, _front(mail, front), mail.body, replies=replies)


def _reply(slug: str, post_id: str, mail: Mail, answered: Location | None) -> Reply:
    """The reply `mail` in topic `slug`; reply_to when the post it answers is there too."""
    front: dict[str, object] = {"author": mail.author, "date": format_date(mail.date)}
    if answered and answered[0] == slug:
        front["reply_to"] = answered[1]
    return Reply(post_id, _front(mail, front), mail.body)


def _front(mail: Mail, front: dict[str, object]) -> dict[str, object]:
    """Front matter with the mail's format, unless it is Markdown (the default)."""
    if mail.format == MARKDOWN:
        return front
    return {**front, "format": mail.format}


def imported_before(
    mails: list[Mail], existing: dict[str, Existing], config: Config
) -> list[Rewrite]:
    """The posts an earlier import made of `mails`, with their text as made now."""
    by_id = _Threads(existing).by_id
    found: dict[str, Rewrite] = {}
    for mail in mails:
        if mail.id in by_id and mail.key not in found:
            slug, post_id = by_id[mail.id]
            if post_id == TOPIC_ID:
                name = TOPIC_FILE
            else:
                name = f"{post_id}.md"
            found[mail.key] = Rewrite(
                config.content_dir / "topics" / slug / name, mail.body, mail.format
            )
    return list(found.values())


def _parent(
    mail: Mail, unique: dict[str, Mail], threads: _Threads, first_of_subject: dict[str, Mail]
) -> str | Location | None:
    """The message (by key) or imported post this one answers, if any is known."""
    for key in mail.parents:
        if key in unique:
            return key
        short = hashlib.sha1(key.encode("utf-8", "replace")).hexdigest()[:6]
        if threads.by_digest.get(short):
            return threads.by_digest[short]
    if mailtext.is_reply_subject(mail.subject):
        subject = mailtext.subject_key(mail.subject)
        if subject in first_of_subject:
            return first_of_subject[subject].key
        if subject in threads.by_subject:
            return threads.by_subject[subject]
    return None


def _topic_slug(mail: Mail, taken: set[str]) -> str:
    base = slugify(mailtext.clean_subject(mail.subject))[:50].strip("-") or "topic"
    for length in (6, 10, 40):
        slug = f"{base}-{mail.digest[:length]}"
        if slug.casefold() not in taken:
            return slug
    return slug


def import_mbox(
    config: Config,
    files: list[Path],
    category: str,
    progress: Callable[[int, int], None] | None = None,
    update: bool = False,
) -> ImportReport:
    """Import mbox files into the site's content; see the module's docstring. With
    `update`, posts imported before whose text this import makes differently (an older
    forumgen imported plain-text mail as Markdown) are rewritten too."""
    report = ImportReport()
    mails = list(read_mails(files, mail_labels(config.language)))
    existing = existing_topics(config)
    topics = plan(mails, existing, category, report)
    for done, _ in enumerate(write(config, topics, report, existing), 1):
        if progress:
            progress(done, len(topics))
    if update:
        rewrite(config, imported_before(mails, existing, config), report)
    return report
