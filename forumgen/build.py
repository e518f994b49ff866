"""The build pipeline: load -> model -> plan pages -> render -> write.

Nothing is written until the whole site has loaded without a problem, so a broken file
leaves `output/` exactly as it was.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

from . import content, pages, theme
from .config import Config, load_config
from .errors import Problem, Problems, SiteError
from .locks import build_lock, file_lock
from .model import Site
from .output import Written, remove_stale, write_if_changed

Progress = Callable[[int, int], None]
"""Called with (pages done, pages in all) as rendering advances."""


@dataclass(frozen=True)
class BuildReport:
    written: int
    unchanged: int
    removed: int
    seconds: float
    output: Path

    @property
    def total(self) -> int:
        return self.written + self.unchanged


def load(site_dir: Path, base_url: str | None = None) -> tuple[Config, Site]:
    """Config and content of a site, or SiteError listing every problem found."""
    problems = Problems(site_dir)
    config = load_config(site_dir, problems)
    problems.raise_if_any()
    assert config is not None
    if base_url is not None:
        config = dataclasses.replace(config, base_url=base_url.rstrip("/") + "/")
    site = content.load_site(config, problems)
    problems.raise_if_any()
    return config, site


def check(site_dir: Path) -> Site:
    """Validate a site without writing anything: the command for pull requests."""
    return load(site_dir)[1]


def build(site_dir: Path, output: Path | None = None, base_url: str | None = None,
          clean: bool = False, jobs: int = 1, progress: Progress | None = None) -> BuildReport:
    """Build the site; builds of one site never overlap, whichever process starts them."""
    with file_lock(build_lock(site_dir)):
        return _build(site_dir, output, base_url, clean, jobs, progress)


def _build(site_dir: Path, output: Path | None, base_url: str | None, clean: bool, jobs: int,
           progress: Progress | None) -> BuildReport:
    started = time.monotonic()
    config, site = load(site_dir, base_url)
    out = (output or site_dir / "output").resolve()
    _refuse_dangerous_output(out, config)
    env = theme.environment(config)
    planned = pages.plan(site, config)
    _try_templates(env, planned, config)
    if clean and out.exists():
        remove_stale(out, keep=set())
    out.mkdir(parents=True, exist_ok=True)
    counts = _render_all(env, planned, out, jobs, progress)
    keep = {p.file for p in planned}
    for name, source in theme.static_files(config):
        target = f"static/{name}"
        keep.add(target)
        counts[write_if_changed(out / target, source.read_bytes())] += 1
    removed = remove_stale(out, keep)
    return BuildReport(counts[Written.WRITTEN], counts[Written.UNCHANGED], removed,
                       time.monotonic() - started, out)


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


def _try_templates(env: jinja2.Environment, planned: Sequence[pages.Page],
                   config: Config) -> None:
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


def _render_slice(env: jinja2.Environment, planned: Sequence[pages.Page],
                  out: Path) -> dict[Written, int]:
    counts = dict.fromkeys(Written, 0)
    for page in planned:
        counts[write_if_changed(out / page.file, render_page(env, page))] += 1
    return counts


# The pages of a parallel build, set just before the worker processes fork so they inherit
# the planned site instead of receiving it pickled; cleared when the pool is done.
_FORKED: tuple[jinja2.Environment, Sequence[pages.Page], Path] | None = None


def _forked_worker(bounds: tuple[int, int]) -> tuple[int, dict[Written, int]]:
    assert _FORKED is not None
    env, planned, out = _FORKED
    start, stop = bounds
    return stop - start, _render_slice(env, planned[start:stop], out)


def _render_all(env: jinja2.Environment, planned: Sequence[pages.Page], out: Path, jobs: int,
                progress: Progress | None) -> dict[Written, int]:
    global _FORKED
    total = len(planned)
    step = max(1, min(500, total // (jobs * 8) or 1))
    bounds = [(i, min(i + step, total)) for i in range(0, total, step)]
    counts = dict.fromkeys(Written, 0)
    done = 0
    if jobs > 1 and "fork" in multiprocessing.get_all_start_methods() and len(bounds) > 1:
        _FORKED = (env, planned, out)
        try:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                for size, part in pool.imap_unordered(_forked_worker, bounds):
                    done += size
                    _add(counts, part)
                    if progress:
                        progress(done, total)
        finally:
            _FORKED = None
        return counts
    for start, stop in bounds:
        _add(counts, _render_slice(env, planned[start:stop], out))
        done = stop
        if progress:
            progress(done, total)
    return counts


def _add(counts: dict[Written, int], part: dict[Written, int]) -> None:
    for key, value in part.items():
        counts[key] += value


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
