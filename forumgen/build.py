"""The build pipeline: load -> model -> plan pages -> render -> write.

Nothing is written until the whole site has loaded without a problem, so a broken file
leaves `output/` exactly as it was. With the build cache (`.forumgen/cache.sqlite`),
unchanged files are not re-read, Markdown is rendered once per distinct body, and only
pages whose fingerprint changed are rendered again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
import markdown
import nh3
import pygments

from . import __version__, markup, pages, theme
from .cache import BuildCache
from .config import Config, load_config
from .errors import Problem, Problems, SiteError
from .loader import load_site, post_body, scan
from .locks import build_lock, file_lock, state_dir
from .model import Post, Site, Topic
from .output import Written, remove_stale, write_if_changed

Progress = Callable[[int, int], None]
"""Called with (pages done, pages to render) as rendering advances."""


@dataclass(frozen=True)
class BuildReport:
    written: int
    unchanged: int
    removed: int
    seconds: float
    output: Path
    rendered: int
    """Pages rendered: those whose inputs changed (all of them on a clean build)."""

    @property
    def total(self) -> int:
        return self.written + self.unchanged


def load(site_dir: Path, base_url: str | None = None) -> tuple[Config, Site]:
    """Config and content of a site, or SiteError listing every problem found."""
    config = _config(site_dir, base_url)
    problems = Problems(site_dir)
    site = load_site(config, problems)
    problems.raise_if_any()
    return config, site


def _config(site_dir: Path, base_url: str | None) -> Config:
    problems = Problems(site_dir)
    config = load_config(site_dir, problems)
    problems.raise_if_any()
    assert config is not None
    if base_url is not None:
        config = dataclasses.replace(config, base_url=base_url.rstrip("/") + "/")
    return config


def check(site_dir: Path) -> Site:
    """Validate a site without writing anything: the command for pull requests."""
    return load(site_dir)[1]


def build(site_dir: Path, output: Path | None = None, base_url: str | None = None,
          clean: bool = False, jobs: int = 1, progress: Progress | None = None) -> BuildReport:
    """Build the site; builds of one site never overlap, whichever process starts them."""
    site_dir = site_dir.resolve()
    with file_lock(build_lock(site_dir)):
        return _build(site_dir, output, base_url, clean, jobs, progress)


def cache_key() -> str:
    """What makes cached parses and rendered Markdown stale: forumgen's own version and
    rendering code, the shape of the pickled model, and the versions and settings of the
    Markdown toolchain."""
    return hashlib.blake2b(repr((
        __version__, Path(markup.__file__).read_bytes(), [f.name for f in dataclasses.fields(Post)],
        [f.name for f in dataclasses.fields(Topic)],
        markdown.__version__, pygments.__version__, nh3.__name__,
        markup.EXTENSIONS, markup.EXTENSION_CONFIG, sorted(markup.ALLOWED_TAGS),
        sorted(markup.URL_SCHEMES), markup.LINK_REL)).encode(), digest_size=16).hexdigest()


class RenderedHtml:
    """Post bodies as HTML: from the build cache, else rendered and remembered."""

    def __init__(self, cache: BuildCache, config: Config) -> None:
        self.cache = cache
        self.config = config
        self.fresh: dict[str, str] = {}

    def __call__(self, post: Post) -> str:
        html = self.fresh.get(post.digest) or self.cache.html(post.digest)
        if html is None:
            html = self.fresh[post.digest] = markup.render(post_body(self.config, post))
        return html

    def flush(self) -> None:
        if self.fresh:
            self.cache.store_html(self.fresh.items())
            self.fresh = {}


def _build(site_dir: Path, output: Path | None, base_url: str | None, clean: bool, jobs: int,
           progress: Progress | None) -> BuildReport:
    started = time.monotonic()
    config = _config(site_dir, base_url)
    out = (output or site_dir / "output").resolve()
    _refuse_dangerous_output(out, config)
    cache = BuildCache(site_dir, cache_key())
    try:
        # Inputs every page shares: a change to any of them changes every fingerprint.
        site_wide = pages.fingerprint(__version__, config, theme.signature(config),
                                      *(_bytes(config.content_dir / name)
                                        for name in ("categories.yaml", "authors.yaml")))
        scanned = scan(config)
        whole = pages.fingerprint(site_wide, scanned.signature)
        previous = {} if clean else cache.fingerprints(out)
        marker = state_dir(site_dir) / "build-running"
        interrupted = marker.exists()  # the last build was killed: check every file
        if previous and not interrupted and cache.meta("inputs") == whole and \
                all((out / file).is_file() for file in previous):
            # Nothing a page is made from changed since the last build: no need to even
            # read the cached model.
            return BuildReport(0, len(previous), 0, time.monotonic() - started, out, 0)
        problems = Problems(site_dir)
        site = load_site(config, problems, cache, scanned)
        problems.raise_if_any()
        html = RenderedHtml(cache, config)
        env = theme.environment(config, html)
        planned = pages.plan(site, config)
        current = {p.file: pages.fingerprint(site_wide, p.fingerprint) for p in planned}
        todo = [p for p in planned if clean or interrupted or previous.get(p.file) !=
                current[p.file] or not (out / p.file).is_file()]
        _try_templates(env, todo)
        marker.touch()
        if clean and out.exists():
            remove_stale(out, keep=set())
        out.mkdir(parents=True, exist_ok=True)
        counts = _render_all(env, html, todo, out, jobs, progress)
        counts[Written.UNCHANGED] += len(planned) - len(todo)
        for name, source in theme.static_files(config):
            target = f"static/{name}"
            data = source.read_bytes()
            current[target] = hashlib.blake2b(data, digest_size=16).hexdigest()
            if previous.get(target) == current[target] and (out / target).is_file():
                counts[Written.UNCHANGED] += 1
            else:
                counts[write_if_changed(out / target, data)] += 1
        if previous and not interrupted:
            removed = _remove_gone(out, previous, current)
        else:  # no record of what an earlier build wrote: compare with the folder itself
            removed = remove_stale(out, set(current))
        cache.store_fingerprints(out, current, previous)
        cache.set_meta("inputs", whole)
        marker.unlink()
    finally:
        cache.close()
    return BuildReport(counts[Written.WRITTEN], counts[Written.UNCHANGED], removed,
                       time.monotonic() - started, out, len(todo))


def _bytes(path: Path) -> bytes:
    return path.read_bytes() if path.is_file() else b""


def _remove_gone(out: Path, previous: dict[str, str], current: dict[str, str]) -> int:
    """Delete the files an earlier build wrote that this one did not, and empty folders."""
    removed = 0
    for file in sorted(set(previous) - set(current)):
        path = out / file
        if path.is_file():
            path.unlink()
            removed += 1
        for folder in path.parents:
            if folder == out or not folder.is_dir() or any(folder.iterdir()):
                break
            folder.rmdir()
    return removed


def _refuse_dangerous_output(out: Path, config: Config) -> None:
    """Stale-file removal deletes what the build did not produce, so the output folder
    must never be, or contain, the site's own sources."""
    site = config.site_dir.resolve()
    sources = [site / name for name in ("content", "themes", "pending", ".forumgen")]
    if out == site or out in site.parents or any(out == s or s in out.parents for s in sources):
        raise SiteError([Problem("forumgen.yaml", 1, f"refusing to build into {out}: it holds "
                                 "the site's own files (choose an empty folder for --output)")])


def render_page(env: jinja2.Environment, page: pages.Page) -> bytes:
    try:
        template = env.get_template(page.template)
        return template.render(page.context, page=page).encode("utf-8")
    except jinja2.TemplateError as exc:
        raise SiteError([_template_problem(exc, page)]) from None


def _try_templates(env: jinja2.Environment, planned: Sequence[pages.Page]) -> None:
    """Render one page of each template before writing anything, so a broken theme
    override fails the build with `output/` untouched."""
    first: dict[str, pages.Page] = {}
    for page in planned:
        first.setdefault(page.template, page)
    problems = []
    for page in first.values():
        try:
            render_page(env, page)
        except SiteError as error:
            problems += error.problems
    if problems:
        raise SiteError(problems)


def _template_problem(exc: jinja2.TemplateError, page: pages.Page) -> Problem:
    """Locate a template error: syntax errors know their file and line; for errors while
    rendering, the line is in the traceback frames Jinja maps back to the template."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return Problem(exc.filename or page.template, exc.lineno, f"template error: {exc}")
    if isinstance(exc, jinja2.TemplateNotFound):
        return Problem(page.template, 1, f"template not found: {exc.name}")
    where = (page.template, 1)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith((".html", ".xml", ".txt")):
            where = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return Problem(where[0], where[1], f"template error while rendering /{page.path}: {exc}")


def _render_slice(env: jinja2.Environment, html: RenderedHtml, planned: Sequence[pages.Page],
                  out: Path) -> dict[Written, int]:
    counts = dict.fromkeys(Written, 0)
    for page in planned:
        counts[write_if_changed(out / page.file, render_page(env, page))] += 1
    html.flush()
    return counts


# The pages of a parallel build, set just before the worker processes fork so they inherit
# the planned site instead of receiving it pickled; cleared when the pool is done.
_FORKED: tuple[jinja2.Environment, RenderedHtml, Sequence[pages.Page], Path] | None = None


def _forked_start() -> None:
    assert _FORKED is not None
    _FORKED[1].cache.reopen()  # a SQLite connection must not cross a fork


def _forked_worker(bounds: tuple[int, int]) -> tuple[int, dict[Written, int]]:
    assert _FORKED is not None
    env, html, planned, out = _FORKED
    start, stop = bounds
    return stop - start, _render_slice(env, html, planned[start:stop], out)


def _render_all(env: jinja2.Environment, html: RenderedHtml, planned: Sequence[pages.Page],
                out: Path, jobs: int, progress: Progress | None) -> dict[Written, int]:
    global _FORKED
    total = len(planned)
    step = max(1, min(500, total // (jobs * 8) or 1))
    bounds = [(i, min(i + step, total)) for i in range(0, total, step)]
    counts = dict.fromkeys(Written, 0)
    done = 0
    if jobs > 1 and "fork" in multiprocessing.get_all_start_methods() and len(bounds) > 1:
        _FORKED = (env, html, planned, out)
        try:
            with multiprocessing.get_context("fork").Pool(jobs, _forked_start) as pool:
                for size, part in pool.imap_unordered(_forked_worker, bounds):
                    done += size
                    _add(counts, part)
                    if progress:
                        progress(done, total)
        finally:
            _FORKED = None
        return counts
    for start, stop in bounds:
        _add(counts, _render_slice(env, html, planned[start:stop], out))
        done = stop
        if progress:
            progress(done, total)
    return counts


def _add(counts: dict[Written, int], part: dict[Written, int]) -> None:
    for key, value in part.items():
        counts[key] += value


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
