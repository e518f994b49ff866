"""forumgen.yaml -> Config: every key declared with its type and default, every
problem reported with its line, unknown keys refused (a typo must not pass silently)."""

from __future__ import annotations

import difflib
import importlib.resources
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from .errors import Problems
from .markup import COMMONMARK, ENGINES, Engine, check_extension
from .yamlfile import Mapping, YamlError, parse_mapping

CONFIG_FILE = "forumgen.yaml"
LANGUAGES = ("en", "zh-CN")


@dataclass(frozen=True)
class IntakeConfig:
    url: str = "/intake/"
    moderation: str = "queue"
    max_body_chars: int = 20000
    rate_limit: str = "5/minute"
    total_rate_limit: str = "off"
    read_timeout: int = 10
    rebuild_timeout: int = 600
    allowed_origins: tuple[str, ...] = ()
    git: str = "off"
    git_branch: str = ""
    git_push: str = ""


@dataclass(frozen=True)
class Config:
    """The validated configuration; `site_dir` is the folder holding forumgen.yaml."""

    site_dir: Path
    title: str
    description: str = ""
    base_url: str = "http://127.0.0.1:8000/"
    language: str = "en"
    timezone: str = "UTC"
    theme: str = "default"
    topics_per_page: int = 30
    posts_per_page: int = 50
    listing_pages: int = 10
    """Pages of "latest activity first" per listing; older topics are in the archive."""
    search: bool = True
    """Whether the build writes a search index, the search page and the header's search
    form (benchmarks/run.py looks for a field of this name)."""
    intake: IntakeConfig = IntakeConfig()
    drafts: bool = False
    """Build drafts too, marked as such (`build --drafts`, serve's preview): a choice of
    the build, never a key of forumgen.yaml."""
    markdown: Engine = COMMONMARK
    """How post bodies are read: pass it to markup.render."""

    @property
    def base_path(self) -> str:
        """The path part of base_url, always ending in '/': the prefix of internal links."""
        return urlsplit(self.base_url).path or "/"

    @property
    def intake_url(self) -> str:
        """Where the forms post: absolute URLs as given, others relative to base_url."""
        url = self.intake.url
        if urlsplit(url).scheme:
            return url
        return self.base_path + url.lstrip("/")

    @property
    def origins(self) -> tuple[str, ...]:
        if self.intake.allowed_origins:
            return self.intake.allowed_origins
        parts = urlsplit(self.base_url)
        return (f"{parts.scheme}://{parts.netloc}",)

    @property
    def content_dir(self) -> Path:
        return self.site_dir / "content"

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


# Each validator returns the cleaned value or raises ValueError with a message for people.
Validator = Callable[[Any], Any]


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be text")
    return value


def _nonempty_text(value: Any) -> str:
    if not _text(value).strip():
        raise ValueError("must not be empty")
    return str(value)


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("must be a whole number of at least 1")
    return value


def _boolean(value: Any) -> bool:
    # YAML 1.1 reads yes/no and on/off as booleans too: what users write for a switch.
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def check_base_url(value: Any) -> str:
    """base_url made to end in '/', or ValueError; `build --base-url` checks with it too."""
    text = _text(value)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL such as https://forum.example.org/")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or fragment")
    return text if text.endswith("/") else text + "/"


def _language(value: Any) -> str:
    if value not in LANGUAGES:
        raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
    return str(value)


def _timezone(value: Any) -> str:
    try:
        zoneinfo.ZoneInfo(_text(value))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use a name like Europe/Berlin)") from None
    return str(value)


def _theme(value: Any) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", _text(value)):
        raise ValueError("must be a theme folder name")
    return str(value)


def _choice(*choices: str) -> Validator:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"must be one of: {', '.join(choices)}")
        return str(value)

    return check


def _rate(value: Any) -> str:
    if not re.fullmatch(r"\d+/(second|minute|hour|day)", _text(value)):
        raise ValueError("must look like 5/minute (per second, minute, hour or day)")
    return str(value)


def _rate_or_off(value: Any) -> str:
    if value in ("off", False):
        return "off"
    return _rate(value)


def _git(value: Any) -> str:
    # YAML 1.1 reads a bare `off` as false: take it as the word the user wrote.
    return str(_choice("off", "commit")("off" if value is False else value))


def _origins(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [value]
    else:
        items = value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise ValueError("must be an origin or a list of origins")
    origins = []
    for item in items:
        parts = urlsplit(item)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ValueError(f"{item!r} is not an origin such as https://forum.example.org")
        origins.append(f"{parts.scheme}://{parts.netloc}")
    return tuple(origins)


def _extensions(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [value]
    else:
        items = value
    if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
        raise ValueError("must be a list of Python-Markdown extension names")
    for name in items:
        try:
            check_extension(name)
        except ValueError as exc:
            known = sorted(e.name for e in entry_points(group="markdown.extensions"))
            raise ValueError(
                f"names {name!r}, which Python-Markdown cannot load ({exc}){suggest(name, known)}"
            ) from None
    return tuple(items)


def _intake_url(value: Any) -> str:
    text = _nonempty_text(value)
    return text if text.endswith("/") else text + "/"


TOP_LEVEL: dict[str, Validator] = {
    "title": _nonempty_text,
    "description": _text,
    "base_url": check_base_url,
    "language": _language,
    "timezone": _timezone,
    "theme": _theme,
    "topics_per_page": _positive_int,
    "posts_per_page": _positive_int,
    "listing_pages": _positive_int,
    "search": _boolean,
}
REQUIRED = ("title",)
INTAKE: dict[str, Validator] = {
    "url": _intake_url,
    "moderation": _choice("queue", "publish"),
    "max_body_chars": _positive_int,
    "rate_limit": _rate,
    "total_rate_limit": _rate_or_off,
    "read_timeout": _positive_int,
    "rebuild_timeout": _positive_int,
    "allowed_origins": _origins,
    "git": _git,
    "git_branch": _text,
    "git_push": _text,
}
MARKDOWN: dict[str, Validator] = {
    "engine": _choice(*ENGINES),
    "extensions": _extensions,
}
SECTIONS = {"intake": INTAKE, "markdown": MARKDOWN}
"""Keys whose value is a mapping of keys of its own."""


def builtin_themes() -> Path:
    """Where the built-in themes are: the `forumgen.themes` package of an install, else the
    `themes/` folder next to the `forumgen` package. The latter is for forumgen imported
    from a source tree (gunicorn started in the repository, which is itself a site, puts it
    first on the path): a source tree has no forumgen/themes, an install maps `themes/`
    into the package."""
    try:
        return Path(str(importlib.resources.files("forumgen.themes")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "themes"


def find_site(start: Path) -> Path | None:
    """The nearest folder at or above `start` that holds a forumgen.yaml."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    return None


def load_config(site_dir: Path, problems: Problems) -> Config | None:
    """Read and validate forumgen.yaml; problems are added, None returned if unusable."""
    path = site_dir / CONFIG_FILE
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        problems.add(path, 1, "no forumgen.yaml here (run `forumgen init` to create a site)")
        return None
    except UnicodeDecodeError as exc:
        problems.add(path, 1, f"not UTF-8 text (byte {exc.start})")
        return None
    before = len(problems.items)
    duplicates: list[YamlError] = []  # reported with the other problems, not instead
    try:
        mapping = parse_mapping(text, duplicates=duplicates) or Mapping({})
    except YamlError as exc:
        problems.add(path, exc.line, exc.message)
        return None
    for duplicate in duplicates:
        problems.add(path, duplicate.line, duplicate.message)
    values = _validate(mapping, TOP_LEVEL, path, problems, prefix="")
    for key in REQUIRED:
        if key not in mapping.values:
            problems.add(path, 1, f"missing required key '{key}'")
    sections = {name: _section(mapping, name, path, problems) for name in SECTIONS}
    intake = IntakeConfig(**sections["intake"])
    markdown = _markdown(mapping, sections["markdown"], path, problems)
    theme = values.get("theme", "default")
    if not any((root / theme).is_dir() for root in (site_dir / "themes", builtin_themes())):
        problems.add(
            path,
            mapping.line_of("theme"),
            f"theme '{theme}' not found in {site_dir / 'themes'} or among the built-in themes",
        )
    if len(problems.items) > before:
        return None
    return Config(site_dir=site_dir, intake=intake, markdown=markdown, **values)


def read_config(site_dir: Path) -> Config:
    """The site's config, or SiteError listing every problem of forumgen.yaml: the one
    way the build, the commands and the intake load it (each decides how to report)."""
    problems = Problems(site_dir)
    config = load_config(site_dir, problems)
    problems.raise_if_any()
    assert config is not None  # load_config returns None only with problems
    return config


def _section(mapping: Mapping, name: str, path: Path, problems: Problems) -> dict[str, Any]:
    """The valid keys of a section (`intake:`, `markdown:`), if the config has it."""
    if name not in mapping.values:
        return {}
    if not isinstance(mapping.values[name], dict):
        problems.add(path, mapping.line_of(name), f"'{name}' must be a mapping of keys")
        return {}
    return _validate(mapping.children[name], SECTIONS[name], path, problems, prefix=f"{name}.")


def _markdown(mapping: Mapping, values: dict[str, Any], path: Path, problems: Problems) -> Engine:
    written = mapping.values.get("markdown")
    if isinstance(written, dict) and "engine" in written and "engine" not in values:
        return COMMONMARK  # the engine is wrong: reported already
    engine = values.get("engine", COMMONMARK.name)
    extensions = values.get("extensions", ())
    if extensions and engine != "python-markdown":
        problems.add(
            path,
            mapping.children["markdown"].line_of("extensions"),
            "'markdown.extensions' are Python-Markdown extensions: they need "
            f"'engine: python-markdown' (engine {engine} has tables, "
            "strikethrough, autolinks and task lists built in)",
        )
        return COMMONMARK
    return Engine(engine, extensions)


def _validate(
    mapping: Mapping, options: dict[str, Validator], path: Path, problems: Problems, prefix: str
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, raw in mapping.values.items():
        line = mapping.line_of(key)
        if key in SECTIONS and not prefix:
            continue
        validator = options.get(key)
        if validator is None:
            known = [*options, *([] if prefix else SECTIONS)]
            problems.add(path, line, f"unknown config key '{prefix}{key}'{suggest(key, known)}")
            continue
        try:
            values[key] = validator(raw)
        except ValueError as exc:
            problems.add(path, line, f"'{prefix}{key}' {exc}")
    return values


def suggest(word: str, choices: list[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or nothing."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return ""


def resolve_url(config: Config, url: str) -> str:
    """An absolute URL for a site-relative path (feeds, sitemap, canonical links)."""
    return urljoin(config.base_url, url)
