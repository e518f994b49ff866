"""How counts read in messages to people ("1 problem", "2 problems"): one helper, so
every command words them alike."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` and the noun, plural unless there is exactly one; `plural` for nouns
    that do not just take an 's' ("reply", "replies")."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {plural or noun + 's'}"
