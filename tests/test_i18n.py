"""Every UI string the theme uses exists in every language."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from forumgen.config import builtin_themes
from forumgen.i18n import STRINGS, Translator


def test_languages_have_the_same_strings() -> None:
    assert set(STRINGS["en"]) == set(STRINGS["zh-CN"])


def test_every_string_the_templates_use_is_translated() -> None:
    used = set()
    for template in (builtin_themes() / "default/templates").glob("*"):
        used |= set(re.findall(r"\bt\('([a-z_]+)'\s*[,)]", template.read_text()))
    plural = {key for key in used if f"{key}_one" in STRINGS["en"]}
    assert used - plural <= set(STRINGS["en"]), used - plural - set(STRINGS["en"])
    assert len(used) > 30


def test_dates_and_plurals() -> None:
    when = datetime(2024, 2, 9, 7, 5, tzinfo=timezone.utc)
    assert Translator("en").date(when) == "9 Feb 2024, 07:05"
    assert Translator("zh-CN").date(when) == "2024年2月9日 07:05"
    assert Translator("en")("n_replies", count=1) == "1 reply"
    assert Translator("en")("n_replies", count=3) == "3 replies"
    assert Translator("zh-CN")("n_replies", count=3) == "3 条回复"
