"""Characters that break what forumgen writes: those XML 1.0 forbids, Unicode's
noncharacters, and control characters that a terminal or a log reader would obey.

Text reaches the outputs from visitors (through the intake) and from files written by
hand, so no writer can count on the intake having cleaned it: each one drops, or shows
escaped, what its format cannot carry.
"""

from __future__ import annotations

import re

# Everything outside XML 1.0's Char production:
# #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# U+FDD0..U+FDEF and the last two code points of every plane are never characters;
# surrogates are never characters on their own either.
_NONCHARACTER = re.compile(
    "[\ufdd0-\ufdef\ud800-\udfff"
    + "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17))
    + "]"
)
_C1 = re.compile("[\x80-\x9f]")


def xml_text(text: str) -> str:
    """`text` without the characters no XML 1.0 document may contain (a feed holding
    one is not XML at all, and feed readers refuse all of it)."""
    return _NOT_XML.sub("", text)


def without_noncharacters(text: str) -> str:
    """`text` without noncharacters (U+FFFE, U+FFFF, ...) and lone surrogates."""
    return _NONCHARACTER.sub("", text)


def first_c1(text: str) -> str | None:
    """The first C1 control character (U+0080 to U+009F) in `text`, if any: terminals
    obey some of them (U+009B starts an escape sequence) and no text needs one."""
    match = _C1.search(text)
    return match.group() if match else None


def visible(text: str, keep: str = "") -> str:
    """`text` with every character that is not printable (control and format characters,
    line separators, ...) but those in `keep` written as Python writes it in a string
    literal (`\\x1b`, `\\n`, `\\u202e`), so printing it to a terminal or a log shows it
    rather than obeying it."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else repr(c)[1:-1] for c in text)


def code_point(char: str) -> str:
    """`U+009B`: how a message names a character it cannot show."""
    return f"U+{ord(char):04X}"
