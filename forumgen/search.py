"""What the search index knows of a topic: its posts as plain text, and the terms each
post holds with a weight. `static/search.js` splits queries exactly as `terms` splits text.

Terms are lowercase words with a light plural stemmer, pairs of adjacent words (so a
phrase from a forum of everyday words still singles out its post), and for Chinese,
Japanese and Korean text, written without spaces, every character and every pair of
adjacent characters. A term found in a topic's title is indexed once more with a `^`
in front: the client ranks title matches first.

A topic's terms are computed once, when it changes, and kept in the build cache
(`searchindex.py` merges them into the index). A term's postings in a topic are encoded
as text: varint(count), then varint(post index - previous), varint(weight) per post.

Words of at least `PREFIX` letters are also listed by their first `PREFIX` letters
(`prefix_key`), so that the last word of a query, still being typed, can be completed.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from .markup import _TAG

CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_CJK_RUN = re.compile(f"([{CJK}]+)")
_WORD = re.compile(r"[^\W_]+")
LONGEST_WORD = 40  # longer "words" are URLs or noise, not something anyone types
TITLE = "^"
TEXT_CHARS = 1500
"""Text kept per post for snippets: the whole post is indexed, this much is shown."""
AVERAGE_LENGTH = 80
"""BM25's average document length, fixed so that a post's weights depend on the post
alone: a new post must not change every posting in the index."""
PREFIX = 3
"""Letters of the prefix that lists the words completing it: a query's last word of at
least this many letters is completed (two letters would list too many words)."""
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Inline tags do not separate words ("<em>very</em>ugly" is one word); others do.
_INLINE = re.compile(
    r"</?(?:a|abbr|b|code|del|em|i|ins|kbd|s|span|strong|sub|sup)\b"
    r"""(?:[^>"']|"[^"]*"|'[^']*')*>"""
)


def stem(word: str) -> str:
    """English plurals folded to the singular, roughly: enough that 'workers' finds
    'worker'. The same rule runs in search.js."""
    if len(word) <= 3 or not word.endswith("s") or not word.isascii():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes")):
        return word[:-2]
    if word.endswith(("ss", "us", "is")):
        return word
    return word[:-1]


def prefix_key(term: str) -> str | None:
    """The prefix under which a term (a word, in titles or not) is listed for completion;
    None for pairs of words, CJK characters and words shorter than `PREFIX`."""
    word = term.removeprefix(TITLE)
    if len(word) < PREFIX or " " in word or _CJK_RUN.search(word):
        return None
    return word[:PREFIX]


def segments(text: str) -> Iterator[tuple[bool, list[str]]]:
    """(is CJK, tokens) for each run of text: CJK runs as their characters, other runs
    as their stemmed words."""
    text = unicodedata.normalize("NFKC", text).lower()
    for number, part in enumerate(_CJK_RUN.split(text)):
        if number % 2:
            yield True, list(part)
        else:
            words = [stem(w) for w in _WORD.findall(part) if len(w) <= LONGEST_WORD]
            if words:
                yield False, words


def terms(text: str) -> tuple[list[str], int]:
    """Every term occurrence in `text`, and its length in tokens (words and characters)."""
    found: list[str] = []
    length = 0
    for cjk, tokens in segments(text):
        length += len(tokens)
        found += tokens
        glue = "" if cjk else " "
        found += map(glue.join, zip(tokens, tokens[1:], strict=False))
    return found, length


@lru_cache(maxsize=65536)
def weight(count: int, length: int) -> int:
    """BM25's term-frequency part (k1 = 1.2, b = 0.75), scaled to a small integer."""
    norm = 1.2 * (0.25 + 0.75 * length / AVERAGE_LENGTH)
    return max(1, min(31, round(10 * count * 2.2 / (count + norm))))


def _varint(value: int) -> str:
    """`varint`, a digit at a time: what its tables are made of."""
    out = []
    while value >= 32:
        out.append(ALPHABET[32 | (value & 31)])
        value >>= 5
    out.append(ALPHABET[value])
    return "".join(out)


SMALL = tuple(_varint(n) for n in range(1024))
"""The varints of small numbers, looked up rather than computed: most are small."""
_LOW = tuple(ALPHABET[32 | (n & 31)] + ALPHABET[32 | (n >> 5)] for n in range(1024))
"""The first two digits of the varint of a number past 1023, by its low 10 bits."""
_DIGIT = {char: number for number, char in enumerate(ALPHABET)}


def varint(value: int) -> str:
    """`value` in base 32, low digits first, each but the last flagged by 32: ten bits
    at a time, looked up (the gaps between the topic ids of a term's postings are
    mostly past 1023)."""
    if value < 1024:
        return SMALL[value]
    return _LOW[value & 1023] + varint(value >> 10)


def plain_text(rendered: str) -> str:
    """A rendered (sanitized) post as the text a reader sees."""
    text = html.unescape(_TAG.sub(" ", _INLINE.sub("", rendered)))
    return " ".join(text.split())


class Doc(NamedTuple):
    """A published post as a result shows it (a JSON list in the index's text files)."""

    id: str
    page: int
    text: str
    """The post's plain text: whole when indexed, its first `TEXT_CHARS` when shown."""
    author: str
    date: str
    """As the site writes a short date, in its language and time zone."""


@dataclass(frozen=True)
class TopicIndex:
    """A topic as the search index holds it."""

    slug: str
    title: str
    posts: tuple[Doc, ...]
    """Each published post, in thread order, its text cut to `TEXT_CHARS`."""
    postings: dict[str, str]
    """Term -> its encoded postings in this topic (see the module docstring)."""


def index_topic(slug: str, title: str, posts: Sequence[Doc]) -> TopicIndex:
    """`posts` with their whole plain text; the title counts for the first post."""
    found: dict[str, list[tuple[int, int]]] = {}
    for number, post in enumerate(posts):
        occurrences, length = terms(post.text)
        for term, count in Counter(occurrences).items():
            held = found.get(term)
            if held is None:
                found[term] = [(number, weight(count, length))]
            else:
                held.append((number, weight(count, length)))
    for term in sorted(set(terms(title)[0])):
        found[TITLE + term] = [(0, 1)]
    postings = {term: encode(items) for term, items in found.items()}
    shown = tuple(p._replace(text=p.text[:TEXT_CHARS]) for p in posts)
    return TopicIndex(slug, title, shown, postings)


def encode(items: list[tuple[int, int]]) -> str:
    small = SMALL
    if len(items) == 1:  # most terms of a topic are in one of its posts
        number, value = items[0]
        return small[1] + (small[number] if number < 1024 else varint(number)) + small[value]
    out = [varint(len(items))]
    previous = 0
    for number, value in items:
        gap = number - previous
        out.append(small[gap] if gap < 1024 else varint(gap))
        out.append(small[value])
        previous = number
    return "".join(out)


def count(encoded: str) -> int:
    """How many posts an encoded posting list names (its first varint)."""
    first = _DIGIT[encoded[0]]
    if first < 32:
        return first
    value = shift = 0
    for char in encoded:
        digit = _DIGIT[char]
        value |= (digit & 31) << shift
        if digit < 32:
            return value
        shift += 5
    raise ValueError("truncated varint")


def fnv1a(text: str) -> int:
    """32-bit FNV-1a of the UTF-8 bytes: the shard of a term, computed alike in search.js."""
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value
