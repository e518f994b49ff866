"""The Jinja2 environment of a site: the theme lookup chain, URL and date filters, and
the UI strings of the site's language.

Lookup order, first match wins: the site's `themes/<name>/`, the built-in theme of that
name, the built-in `default`. So a site overrides one template without copying the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from . import markup
from .config import Config, builtin_themes
from .i18n import Translator
from .model import Post, slugify

BUILTIN = "default"


def theme_dirs(config: Config) -> list[Path]:
    """The theme folders to search, most specific first."""
    candidates = [config.site_dir / "themes" / config.theme, builtin_themes() / config.theme,
                  builtin_themes() / BUILTIN]
    found: list[Path] = []
    for folder in candidates:
        if folder.is_dir() and all(folder.resolve() != f.resolve() for f in found):
            found.append(folder)
    return found


def static_files(config: Config) -> Iterator[tuple[str, Path]]:
    """(path under static/, file) for every asset; a more specific theme's file wins."""
    seen: set[str] = set()
    for folder in theme_dirs(config):
        root = folder / "static"
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            name = path.relative_to(root).as_posix()
            if path.is_file() and name not in seen and not path.name.startswith("."):
                seen.add(name)
                yield name, path


class Links:
    """Site-relative and absolute URLs for the page paths planned by pages.py."""

    def __init__(self, config: Config) -> None:
        self.base_path = config.base_path
        self.base_url = config.base_url

    def url(self, path: str) -> str:
        return self.base_path + quote(path, safe="/#")

    def absolute(self, path: str) -> str:
        return self.base_url + quote(path, safe="/#")


def environment(config: Config) -> jinja2.Environment:
    """A Jinja2 environment for the site, with its filters and globals."""
    loader = jinja2.FileSystemLoader([str(d / "templates") for d in theme_dirs(config)])
    env = jinja2.Environment(
        loader=loader,
        autoescape=jinja2.select_autoescape(("html", "xml"), default_for_string=True),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined)
    links = Links(config)
    t = Translator(config.language)
    tz = config.tz
    cache: dict[tuple[str, str], str] = {}

    def body_html(post: Post) -> str:
        # One post appears on its page, in feeds and on its author's page: render it once.
        key = (post.path, post.body)
        if key not in cache:
            cache[key] = markup.render(post.body)
        return cache[key]

    def local(when: datetime) -> datetime:
        return when.astimezone(tz)

    env.filters.update(
        url=links.url,
        slug=slugify,
        absurl=links.absolute,
        body_html=lambda post: Markup(body_html(post)),
        excerpt=lambda post, n=200: markup.excerpt(body_html(post), n),
        isodate=lambda when: local(when).isoformat(timespec="seconds"),
        date=lambda when: t.date(local(when)),
        short_date=lambda when: t.short_date(local(when)),
    )
    env.globals.update(config=config, t=t, lang=config.language,
                       intake_url=config.intake_url)
    return env
