"""Reading one e-mail as archives really hold it: encoded headers (RFC 2047) in any
charset, bodies mislabelled or unlabelled, multipart messages, HTML-only mail and
format=flowed text. Nothing here raises on bad input: a wrong charset falls back to
the next likely one, and the worst case is a replacement character, never a crash."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.header import decode_header
from email.message import EmailMessage, Message
from email.utils import collapse_rfc2231_value, getaddresses, parsedate_to_datetime

from ..model import MAIL, MARKDOWN, PostFormat
from . import htmltomd

# Labels that name a subset of what senders really used: decode with the superset.
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "big5": "big5hkscs",
    "shift_jis": "cp932",
    "iso-8859-8-i": "iso-8859-8",
    "unknown-8bit": "cp1252",
}
_SEVEN_BIT = ("iso-2022", "utf-7", "hz-gb")
_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|vs|antw|fwd?|wg|tr|rif|回复|答复|转发|回覆)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*|\[[^\]]{1,40}\]\s*)+",
    re.IGNORECASE,
)
_REPLY_WORD = re.compile(
    r"(?:^|\])\s*(?:re|aw|sv|vs|antw|回复|答复|回覆)\s*(?:\[\d+\])?\s*[:：]", re.IGNORECASE
)
_ANGLE = re.compile(r"<[^<>\s]+>")


def decode_bytes(data: bytes, declared: str | None) -> str:
    """Bytes as text: UTF-8 if they are valid UTF-8 (a common mislabel), else the declared
    charset (or its superset), else Windows-1252; never raises."""
    candidates = ["utf-8"]
    if declared:
        name = declared.strip().strip('"').lower()
        # 7-bit charsets that shift by escape sequences (ISO-2022-JP: most Japanese
        # mail) are valid ASCII too: only their own decoder reads them right.
        candidates.insert(0 if name.startswith(_SEVEN_BIT) else 1, _SUPERSETS.get(name, name))
    candidates.append("cp1252")
    for charset in candidates:
        try:
            return valid(data.decode(charset))
        except (UnicodeDecodeError, LookupError):
            continue
    return valid(data.decode("latin-1"))


def header(msg: Message, name: str) -> str:
    """A header's text with encoded words decoded, line folding undone; '' if absent."""
    raw = next((value for key, value in msg.raw_items() if key.lower() == name.lower()), None)
    if raw is None:
        return ""
    return " ".join(decode_words(raw).split())


def decode_words(raw: str) -> str:
    """RFC 2047 encoded words in any charset, and raw 8-bit header bytes."""
    raw = re.sub(r"\r?\n[ \t]", " ", raw)
    try:
        pieces = decode_header(raw)
    except Exception:  # noqa: BLE001 - a malformed encoded word: keep the text as it is
        pieces = [(raw, None)]
    text = []
    for piece, charset in pieces:
        if charset is None and isinstance(piece, bytes):  # text between encoded words
            piece = piece.decode("raw-unicode-escape")
        if isinstance(piece, str):
            # 8-bit bytes in a header arrive as surrogate escapes: decode them for real.
            text.append(decode_bytes(piece.encode("utf-8", "surrogateescape"), None))
        else:
            text.append(decode_bytes(piece, charset))
    return valid("".join(text))


def valid(text: str) -> str:
    """Text that encodes as UTF-8 (no lone surrogates, no NUL)."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def message_ids(value: str) -> list[str]:
    """The <...> ids in a Message-ID, In-Reply-To or References header, in order."""
    return _ANGLE.findall(value)


def subject_key(subject: str) -> str:
    """A subject without reply/forward prefixes and list tags, for threading by subject."""
    return " ".join(_REPLY_PREFIX.sub("", subject).split()).casefold()


def clean_subject(subject: str) -> str:
    return " ".join(_REPLY_PREFIX.sub("", subject).split())


def is_reply_subject(subject: str) -> bool:
    return bool(_REPLY_WORD.search(subject[:80]))


def sender(msg: Message) -> str:
    """The sender's display name, or the local part of the address if there is none."""
    raw = header(msg, "from")
    try:
        name, address = next(iter(getaddresses([raw])), ("", ""))
    except Exception:  # noqa: BLE001
        name, address = "", raw
    if not name and " at " in address and "@" not in address:  # 'jane at example.org'
        address = address.split(" at ", 1)[0]
    name = name.strip() or address.split("@", 1)[0].strip()
    if not name:  # nothing parsable: whatever the header says, less any address
        name = re.sub(r"<[^>]*>|\S+@\S+", "", raw).strip()
    return name


def date(msg: Message, from_line: str) -> datetime:
    """The Date header with its offset; else the mbox From_ line's date; else the epoch
    (deterministic, so a re-import names the post the same)."""
    for text in (header(msg, "date"), from_line.split(" ", 2)[-1] if from_line else ""):
        if not text:
            continue
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            continue
        if parsed.tzinfo:
            return parsed
        return parsed.replace(tzinfo=timezone.utc)
    return datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Text:
    """A message's text and the format to keep it in."""

    text: str
    format: PostFormat


def body(msg: EmailMessage | Message) -> Text:
    """The message's text: its first text/plain part as sent (format=flowed undone, as
    mail clients show it), else its HTML as Markdown."""
    plain = html = None
    for part in msg.walk() if msg.is_multipart() else [msg]:
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        disposition = str(part.get("content-disposition", "")).lower()
        if "attachment" in disposition or kind not in ("text/plain", "text/html"):
            continue
        try:
            data = part.get_payload(decode=True)
        except Exception:  # noqa: BLE001 - broken transfer encoding: take it raw
            data = str(part.get_payload()).encode("utf-8", "surrogateescape")
        if not isinstance(data, bytes):
            continue
        try:
            charset = part.get_content_charset()
        except Exception:  # noqa: BLE001
            charset = None
        text = decode_bytes(data, charset).replace("\r\n", "\n").replace("\r", "\n")
        if kind == "text/plain" and plain is None:
            plain = text
            if _param(part, "format") == "flowed":
                plain = unflow(text, _param(part, "delsp") == "yes")
        elif kind == "text/html" and html is None:
            html = text
    if plain is not None and plain.strip():
        return Text(plain.strip("\n") + "\n", MAIL)
    return Text(htmltomd.convert(html) if html else "", MARKDOWN)


def _param(part: Message, name: str) -> str:
    """A Content-Type parameter, lower-cased; '' if absent or unreadable."""
    try:
        value = part.get_param(name)
    except Exception:  # noqa: BLE001
        return ""
    if value:
        return collapse_rfc2231_value(value).strip().lower()
    return ""


def unflow(text: str, delsp: bool) -> str:
    """RFC 3676 format=flowed as its reader sees it: a line ending in a space (a soft
    break) joined to the next line of the same quote depth, the space dropped too with
    DelSp=yes; the space stuffed before a line starting with a space, '>' or 'From '
    removed. Quote marks come back as '>' per level and a space."""
    out: list[str] = []
    joined: str | None = None
    joined_depth = 0
    for raw in text.split("\n"):
        depth = len(raw) - len(raw.lstrip(">"))
        line = raw[depth:]
        line = line[1:] if line.startswith(" ") else line
        if joined is not None and (depth != joined_depth or line == "-- "):
            out.append(_quoted(joined, joined_depth))  # a soft break with nothing to join
            joined = None
        joined = line if joined is None else joined + line
        joined_depth = depth
        if line.endswith(" ") and line != "-- ":
            joined = joined[:-1] if delsp else joined
            continue
        out.append(_quoted(joined, depth))
        joined = None
    if joined is not None:
        out.append(_quoted(joined, joined_depth))
    return "\n".join(out)


def _quoted(line: str, depth: int) -> str:
    return ">" * depth + (" " + line if depth and line else line)
