"""A new post's text written in the author's editor, the way `git commit` asks for its
message: a template whose comment says what to write opens in $VISUAL or $EDITOR, the
comment is taken out again, and an empty text cancels."""

from __future__ import annotations

import os
import shutil
import sys

import click

from .content import decode

# Tried in this order when neither $VISUAL nor $EDITOR is set (Debian's choices first).
FALLBACKS = ("sensible-editor", "editor", "nano", "vim", "vi")


class EditorError(Exception):
    """The editor failed, or the author left the text empty: nothing is to be written."""


def on_terminal() -> bool:
    """Whether a person is at a terminal: an editor opened anywhere else (a script, a
    pipe, a CI job) would wait for keys that never come, or draw into captured output."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def find_editor() -> str | None:
    """The command to edit with: $VISUAL, $EDITOR, else a common editor on PATH."""
    for variable in ("VISUAL", "EDITOR"):
        if os.environ.get(variable, "").strip():
            return os.environ[variable]
    return next((name for name in FALLBACKS if shutil.which(name)), None)


def write_in_editor(editor: str, what: str) -> str:
    """The text the author wrote in `editor` (a command, split like a shell would) for
    `what` (e.g. 'the opening post of "Hello"'), without the template's comment and the
    blank lines around it; EditorError if the editor fails or the text is empty."""
    comment = (
        f"<!--\nWrite {what} above this comment, in Markdown.\nSave and close the "
        "editor to write the file; an empty post writes nothing.\nThis comment is "
        "left out.\n-->\n"
    )
    try:
        edited = click.edit(
            f"\n\n{comment}".encode(), editor=editor, extension=".md", require_save=False
        )
    except click.ClickException:
        raise EditorError(
            f"the editor ({editor}) failed or exited with an error; nothing was written"
        ) from None
    try:
        text = decode(edited or b"").replace(comment, "", 1)
    except UnicodeDecodeError as exc:
        raise EditorError(
            f"the text is not UTF-8 (byte {exc.start}); nothing was written"
        ) from None
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise EditorError("the post is empty; nothing was written")
    return "\n".join(lines) + "\n"
