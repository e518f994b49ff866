"""The Jinja2 environment of a site: the theme lookup chain, URL and date filters, and
the UI strings of the site's language.

Lookup order, first match wins: the site's `themes/<name>/`, the built-in theme of that
name, the built-in `default`. So a site overrides one template without copying the rest.

Compiled templates are kept between builds (in `.forumgen/`), so they must not hold
anything of one site's settings: Jinja2 computes a filter applied to a constant
(`{{ 'feed.xml' | url }}`) when it compiles the template, unless the filter takes the
render context. Every filter whose result depends on the config takes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import lru_cache, partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from . import __version__, markup
from .bodies import render_body
from .config import Config, builtin_themes
from .i18n import STRINGS, Translator
from .model import Post, slugify

BUILTIN = "default"


def theme_dirs(config: Config) -> list[Path]:
    """The theme folders to search, most specific first."""
    candidates = [
        config.site_dir / "themes" / config.theme,
        builtin_themes() / config.theme,
        builtin_themes() / BUILTIN,
    ]
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
        # Pages repeat the same links (authors, categories, pagers): quote each once. Not
        # every link: each post's permalink is quoted once or twice, and 65,536 of them
        # held 19 MB in each process rendering a forum of 10,000 topics.
        self.url = lru_cache(maxsize=4096)(self.url)  # type: ignore[method-assign]
        self.absolute = lru_cache(maxsize=4096)(self.absolute)  # type: ignore[method-assign]

    def url(self, path: str) -> str:
        return self.base_path + quote(path, safe="/#")

    def absolute(self, path: str) -> str:
        return self.base_url + quote(path, safe="/#")


def _at_render(function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter Jinja2 never runs at compile time (it takes the render context, which
    does not exist then), so its result is never frozen into a compiled template."""

    def filter_(_context: jinja2.runtime.Context, *args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    return jinja2.pass_context(filter_)


class _CompiledTemplates(jinja2.FileSystemBytecodeCache):
    """Compiled templates, each valid for its source as compiled by this forumgen: the
    filters a template was compiled against are part of the key. Templates compiled by
    a forumgen that let Jinja2 fold site settings into them are never loaded again."""

    COMPILER = hashlib.sha1(repr((__version__, Path(__file__).read_bytes())).encode()).hexdigest()

    def get_source_checksum(self, source: str) -> str:
        return hashlib.sha1(f"{self.COMPILER}\0{source}".encode()).hexdigest()


def environment(
    config: Config, html: Callable[[Post], str] | None = None, compiled: Path | None = None
) -> jinja2.Environment:
    """A Jinja2 environment for the site, with its filters and globals. `html` gives a
    post's rendered body (the build passes one backed by its cache); `compiled` is a
    folder to keep compiled templates in, so a small rebuild does not compile them all."""
    loader = jinja2.FileSystemLoader([str(d / "templates") for d in theme_dirs(config)])
    if compiled is not None:
        compiled.mkdir(parents=True, exist_ok=True)
    env = jinja2.Environment(
        loader=loader,
        bytecode_cache=_CompiledTemplates(str(compiled)) if compiled else None,
        autoescape=jinja2.select_autoescape(("html", "xml"), default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    links = Links(config)
    t = Translator(config.language)
    tz = config.tz
    body_html = html or (
        lambda post: render_body(
            post.format, post.body, partial(markup.render, engine=config.markdown), config.language
        )
    )

    def local(when: datetime) -> datetime:
        return when.astimezone(tz)

    # Each depends on the site's address, language or time zone.
    of_the_site: dict[str, Callable[..., Any]] = {
        "url": links.url,
        "absurl": links.absolute,
        "body_html": lambda post: Markup(body_html(post)),
        "excerpt": lambda post, n=200: markup.excerpt(body_html(post), n),
        "isodate": lambda when: local(when).isoformat(timespec="seconds"),
        "date": lambda when: t.date(local(when)),
        "short_date": lambda when: t.short_date(local(when)),
    }
    env.filters.update(
        {name: _at_render(f) for name, f in of_the_site.items()}, slug=slugify
    )  # the same for every site: may run when compiling
    env.globals.update(config=config, t=t, lang=config.language, intake_url=config.intake_url)
    return env


def signature(config: Config) -> str:
    """A hash of every template and asset the site's theme chain provides, and of the UI
    strings: when it changes, every page may look different."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr(sorted(STRINGS.items())).encode())
    for folder in theme_dirs(config):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(folder)).encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()
