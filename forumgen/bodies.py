"""A post's body as HTML, whatever its format: the one place that tells a Markdown post
from a mail, for the build (its cache and its workers) and the theme's default."""

from __future__ import annotations

from collections.abc import Callable

from . import mailbody
from .i18n import STRINGS
from .model import MAIL, PostFormat


def render_body(
    body_format: PostFormat, body: str, markdown: Callable[[str], str], language: str
) -> str:
    """Safe HTML of a body: `markdown` renders Markdown; a mail's folded parts are
    labelled in the site's `language`."""
    if body_format == MAIL:
        return mailbody.render(body, mail_labels(language))
    return markdown(body)


def mail_labels(language: str) -> mailbody.Labels:
    """What a mail's folded quoted tail and signature are labelled in `language`."""
    return STRINGS[language]["quoted_text"], STRINGS[language]["signature"]
