"""Links inside imported posts that point at the old forum -> the new permalinks.

`/t/<slug>/<id>`, `/t/<id>` and their `/<n>` post forms, relative or on the old host,
become the new topic's address or the post's permalink (`t/<slug>/page/K/#p-<id>`,
under the site's base path), for topics of this import and of earlier ones. Other
relative links (uploads, user pages) are made absolute on the old host, where they
still lead somewhere; links to topics nobody imported are left as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from ..config import Config
from ..pages import permalink, topic_address

Numbered = dict[int, tuple[str, dict[int, str]]]
"""Discourse topic id -> (slug, post number -> post id)."""

_URL_CHARS = r"[^\s()<>\[\]\"'`]*"
# Other relative links in Markdown or HTML link targets (not /t/, not //host).
_RELATIVE = re.compile(r"(\]\(<?|href=[\"'])(/(?!/)(?!t/)" + _URL_CHARS + ")")


class Resolver:
    def __init__(
        self,
        config: Config,
        planned: Numbered,
        earlier: Numbered,
        order: Callable[[str], list[str]],
    ) -> None:
        self.base_path = config.base_path
        self.per_page = config.posts_per_page
        self.topics = {**earlier, **planned}
        self.order = lru_cache(maxsize=1024)(order)

    def target(self, segments: list[str]) -> str | None:
        """The new address for the segments after /t/, or None if not imported."""
        digits = [s.isdigit() for s in segments]
        for at in (0, 1):  # /t/<id>[/<n>] or /t/<slug>/<id>[/<n>]
            if len(segments) > at and digits[at] and int(segments[at]) in self.topics:
                number = None
                if len(segments) > at + 1 and digits[at + 1]:
                    number = int(segments[at + 1])
                return self.address(int(segments[at]), number)
        return None

    def post(self, topic_id: int, number: int | None) -> str | None:
        """The address of post `number` of a Discourse topic (the topic's when that post
        is not published), or None for a topic nobody imported."""
        if topic_id in self.topics:
            return self.address(topic_id, number)
        return None

    def address(self, topic_id: int, number: int | None) -> str:
        slug, numbers = self.topics[topic_id]
        if number and number > 1:
            post = numbers.get(number)
        else:
            post = None
        if post is None:
            return self.base_path + topic_address(slug)
        order = self.order(slug)
        if post not in order:  # hidden: the topic is the nearest thing
            return self.base_path + topic_address(slug)
        page = order.index(post) // self.per_page + 1
        return self.base_path + permalink(slug, page, post)


def rewrite(text: str, resolver: Resolver, old_url: str) -> str:
    """The post's text with links to the old forum pointing at the new site."""
    old = old_url.rstrip("/")
    if old:
        text = _RELATIVE.sub(lambda m: m.group(1) + old + m.group(2), text)
    if old:
        on_host = rf"{re.escape(old)}(?P<absolute>/{_URL_CHARS})|"
    else:
        on_host = ""
    # A relative /t/ link starts where no URL could be going on (not after a host).
    links = re.compile(on_host + rf"(?<![\w/.:%-])(?P<relative>/t/{_URL_CHARS})")

    def replace(match: re.Match[str]) -> str:
        path = match.group("relative") or match.group("absolute") or ""
        # Punctuation ending a sentence is not part of the link.
        trailing = re.search(r"[.,;:!?]*$", path).group(0)  # type: ignore[union-attr]
        path = path[: len(path) - len(trailing)]
        if path.startswith("/t/"):
            segments = [s for s in re.split(r"[?#]", path)[0].split("/")[2:] if s]
            found = resolver.target(segments[:3])
            if found is not None:
                return found + trailing
        return match.group(0)

    return links.sub(replace, text)
