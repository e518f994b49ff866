"""A mail's text as HTML, the way mail archives show it (public-inbox, HyperKitty,
MHonArc): every line where the sender put it, `>` quotes nested by depth, patches as
highlighted diffs, bare links linked, and a quoted tail and the signature folded away.
Pure and deterministic, so the build caches the result like rendered Markdown.

Nothing in a mail is markup. Each line is escaped, and the only elements are this
module's own: paragraphs of lines (a `<br>` between them; the theme keeps their spaces
and wraps long ones), blockquotes, the same code blocks as Markdown's, links and
`<details>`. The result still goes through the Markdown renderer's sanitizer.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Container

from . import markup

Labels = tuple[str, str]
"""The summaries of the folded quoted tail and signature, in the site's language."""

MAX_DEPTH = 12
"""Quote levels shown nested; deeper '>'s stay as text (and recursion stays shallow)."""

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")  # colours in a pasted terminal log
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # not allowed in HTML or XML

# A patch starts at a `diff` line, a `--- `/`+++ ` pair or a hunk header.
_DIFF = re.compile(r"diff (?:--git |-{1,2}[A-Za-z])")
_HUNK = re.compile(r"@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
_GIT_HEADER = re.compile(
    r"index [0-9a-f]|(?:old|new|deleted file|new file) mode |"
    r"(?:dis)?similarity index |rename (?:from|to) |copy (?:from|to) |"
    r"Binary files "
)
_BINARY = re.compile(r"(?:literal|delta) \d+")
_BASE85 = re.compile(r"[A-Za-z][0-9A-Za-z!#$%&()*+;<=>?@^_`{|}~-]+")

_URL = re.compile(r"(?:https?://|mailto:)[^\s<>\"'`\u3000-\u303f\uff00-\uffef]+", re.IGNORECASE)
_CLOSING = {")": "(", "]": "[", "}": "{"}

_SIGNATURE = ("-- ", "--", "-- \\")
_ATTRIBUTION = re.compile(
    r"(wrote|writes|schrieb|a écrit|escribió|ha scritto|написал|写道)"
    r"\s*[:：]\s*$",
    re.IGNORECASE,
)
_ORIGINAL = re.compile(
    r"^\s*(-{2,}\s*(original message|ursprüngliche nachricht|原始邮件)"
    r"\s*-{2,}|_{10,})\s*$",
    re.IGNORECASE,
)


def render(text: str, labels: Labels) -> str:
    """The mail's text as safe HTML, in a `<div class="mail">` for the theme to style."""
    lines = _lines(text)
    own, quoted, signature = tails(lines, _patch_lines(lines))
    if _has_text(own):
        parts = [_blocks(own, 0)]
    else:
        parts = []
    for label, tail in zip(labels, (quoted, signature), strict=True):
        if not _has_text(tail):
            continue
        if not parts:  # nothing else to show: no point folding it
            parts.append(_blocks(tail, 0))
            continue
        parts.append(
            f"<details><summary>{html.escape(label)}</summary>\n{_blocks(tail, 0)}</details>\n"
        )
    # A sanitized fragment is balanced, so wrapping it in an element of our own is safe.
    return f'<div class="mail">\n{markup.finish("".join(parts))}</div>\n'


def _lines(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = _CONTROL.sub("\ufffd", _ANSI.sub("", text)).split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _has_text(lines: list[str]) -> bool:
    return any(line.strip() for line in lines)


def split_tails(text: str) -> tuple[str, str, str]:
    """(own text, quoted tail, signature without its '-- ' line) of a mail's text: see
    `tails`."""
    own, quoted, signature = tails(text.split("\n"))
    own_text, quoted_text, signature_text = (
        "\n".join(part).strip("\n") for part in (own, quoted, signature[1:])
    )
    return own_text, quoted_text, signature_text


def tails(lines: list[str], fixed: Container[int] = ()) -> tuple[list[str], list[str], list[str]]:
    """(own lines, quoted tail, signature). The quoted tail is a block of '>' lines at the
    end (with its 'On ... wrote:' line) or everything from an 'Original Message' line;
    the signature is the last '-- ' line and the text after it. Lines numbered in `fixed`
    (those of a patch) are never taken for a separator."""
    signature: list[str] = []
    for index in range(len(lines) - 1, max(len(lines) - 40, -1), -1):
        if lines[index] in _SIGNATURE and index not in fixed and _has_text(lines[index + 1 :]):
            signature, lines = lines[index:], lines[:index]
            break
    for index, line in enumerate(lines):
        if _ORIGINAL.match(line) and index not in fixed:
            return lines[:index], lines[index:], signature
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    start = end
    while start and (lines[start - 1].startswith(">") or not lines[start - 1].strip()):
        start -= 1
    while start < end and not lines[start].strip():
        start += 1
    if start == end:  # no quoted tail
        return lines[:end], [], signature
    attribution = start
    while attribution and not lines[attribution - 1].strip():
        attribution -= 1
    for span in (1, 2, 3):  # an 'On ..., Jane wrote:' line, maybe wrapped
        if attribution - span >= 0 and _ATTRIBUTION.search(
            " ".join(lines[attribution - span : attribution])
        ):
            start = attribution - span
            break
    return lines[:start], lines[start:end], signature


def _blocks(lines: list[str], depth: int) -> str:
    """Quotes, patches and paragraphs of text, in the order the lines have them."""
    out: list[str] = []
    index = 0
    while index < len(lines):
        if depth < MAX_DEPTH and lines[index].startswith(">"):
            end = _quote_end(lines, index)
            inner = [_unquote(line) for line in lines[index:end]]
            out.append(f"<blockquote>\n{_blocks(inner, depth + 1)}</blockquote>\n")
        elif (end := _patch_at(lines, index)) > index:
            out.append(markup.highlight("\n".join(lines[index:end]) + "\n", "diff"))
        else:
            end = index + 1
            while end < len(lines) and not (
                (depth < MAX_DEPTH and lines[end].startswith(">")) or _patch_at(lines, end) > end
            ):
                end += 1
            out.append(_paragraphs(lines[index:end]))
        index = end
    return "".join(out)


def _quote_end(lines: list[str], start: int) -> int:
    """The end of the quote starting at `start`: blank lines between two quoted lines
    belong to it."""
    end = start
    while end < len(lines):
        if lines[end].startswith(">"):
            end += 1
            continue
        gap = end
        while gap < len(lines) and not lines[gap].strip():
            gap += 1
        if gap == end or gap == len(lines) or not lines[gap].startswith(">"):
            break
        end = gap
    return end


def _unquote(line: str) -> str:
    """One level of quoting off: '>' and the space after it ('> > x' -> '> x'; '>  y'
    -> ' y', so a quoted diff's context line keeps its own space)."""
    line = line[1:]
    return line[1:] if line.startswith(" ") else line


def _patch_lines(lines: list[str]) -> set[int]:
    """The numbers of the lines of every patch outside quotes."""
    found: set[int] = set()
    index = 0
    while index < len(lines):
        end = _patch_at(lines, index)
        found.update(range(index, end))
        index = max(end, index + 1)
    return found


def _patch_at(lines: list[str], start: int) -> int:
    """The end of the patch starting at `start`, or `start` if none does. A patch ends
    where a line can be neither a file header nor a line its hunks' counts expect, so
    the `-- ` after the last hunk (and whatever follows) is text again."""
    line = lines[start]
    if not (_DIFF.match(line) or _HUNK.match(line) or _file_pair(lines, start)):
        return start
    index, header = start, False
    while index < len(lines):
        line = lines[index]
        if _DIFF.match(line):
            index, header = index + 1, True
        elif header and _GIT_HEADER.match(line):
            index += 1
        elif header and line.startswith("GIT binary patch"):
            index = _binary_end(lines, index + 1)
        elif _file_pair(lines, index):
            index, header = index + 2, False
        elif hunk := _HUNK.match(line):
            index = _hunk_end(lines, index + 1, int(hunk[1] or 1), int(hunk[2] or 1))
            header = False
        else:
            break
    # A lone 'diff -u ...' or '@@ ... @@' line in prose is prose.
    return index if index - start >= 2 else start


def _file_pair(lines: list[str], index: int) -> bool:
    return (
        lines[index].startswith("--- ")
        and index + 1 < len(lines)
        and lines[index + 1].startswith("+++ ")
    )


def _hunk_end(lines: list[str], index: int, old: int, new: int) -> int:
    """After a hunk of `old` lines before and `new` after (a context line emptied by a
    mailer that strips trailing spaces still counts), and its '\\ No newline' notes."""
    while index < len(lines) and (old or new):
        mark = lines[index][:1]
        if mark == "+" and new:
            new -= 1
        elif mark == "-" and old:
            old -= 1
        elif mark in (" ", "") and old and new:
            old, new = old - 1, new - 1
        elif mark != "\\":
            break
        index += 1
    while index < len(lines) and lines[index].startswith("\\ "):
        index += 1
    return index


def _binary_end(lines: list[str], index: int) -> int:
    """After a 'GIT binary patch': 'literal N' or 'delta N' lines, each followed by
    base85 lines whose first letter gives their length, and a blank line."""
    while index < len(lines):
        line = lines[index]
        if _BINARY.fullmatch(line) or _is_base85(line):
            index += 1
        elif not line and index + 1 < len(lines) and _BINARY.fullmatch(lines[index + 1]):
            index += 1
        else:
            break
    return index


def _is_base85(line: str) -> bool:
    if not _BASE85.fullmatch(line):
        return False
    size = ord(line[0]) - (ord("A") - 1 if line[0] <= "Z" else ord("a") - 27)
    return len(line) == 1 + 5 * math.ceil(size / 4)


def _paragraphs(lines: list[str]) -> str:
    """Lines between blank lines as paragraphs; more than one blank line between two
    paragraphs is kept as empty lines at the start of the second."""
    out: list[str] = []
    paragraph: list[str] = []
    blanks = 0
    for line in [*lines, ""]:
        if line.strip():
            if not paragraph and out:
                if blanks > 1:
                    paragraph = ["<br>" * (blanks - 1)]
                else:
                    paragraph = []
            paragraph.append(_line(line) + "<br>")
            blanks = 0
            continue
        if paragraph:
            out.append(f"<p>{''.join(paragraph).removesuffix('<br>')}</p>\n")
            paragraph = []
        blanks += 1
    return "".join(out)


def _line(text: str) -> str:
    """A line of text, escaped, with its bare http(s) and mailto URLs linked."""
    out: list[str] = []
    at = 0
    for match in _URL.finditer(text):
        url = _trimmed(match.group())
        if not _URL.fullmatch(url):  # nothing left after the scheme
            continue
        out.append(html.escape(text[at : match.start()], quote=False))
        out.append(f'<a href="{html.escape(url)}">{html.escape(url, quote=False)}</a>')
        at = match.start() + len(url)
    out.append(html.escape(text[at:], quote=False))
    return "".join(out)


def _trimmed(url: str) -> str:
    """A URL without the punctuation of the sentence around it: a final '.', ',' or ')'
    closes the sentence, unless the URL opened that bracket itself."""
    while url:
        last = url[-1]
        if last in ".,;:!?*":
            url = url[:-1]
        elif last in _CLOSING and url.count(_CLOSING[last]) < url.count(last):
            url = url[:-1]
        else:
            break
    return url
