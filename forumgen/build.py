"""The build pipeline: load -> model -> plan pages -> render -> write.

Nothing is written until the whole site has loaded without a problem, so a broken file
leaves `output/` exactly as it was. With the build cache (`.forumgen/cache.sqlite`),
unchanged files are not re-read, Markdown is rendered once per distinct body, and only
pages whose fingerprint changed are rendered again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache, partial
from pathlib import Path

import jinja2
import markdown
import nh3
import pygments

from . import (
    __version__,
    bodies,
    chars,
    cmark,
    leftout,
    mailbody,
    markup,
    model,
    pages,
    search,
    searchindex,
    sitestatic,
    theme,
)
from .bodies import mail_labels, render_body
from .cache import SCHEMA, BuildCache, PageRecord, dump
from .config import Config, read_config
from .errors import Problem, Problems, SiteError
from .loader import (
    Folder,
    Scan,
    cacheable,
    check_category,
    check_redirects,
    distinct_folders,
    load_site,
    post_body,
    published,
    read_authors,
    read_categories,
    read_folder,
    scan,
)
from .locks import build_lock, file_lock, output_state_dir, preview_output, state_dir
from .model import MAIL, Author, Category, Post, Site, Topic, TopicSummary, listing_order
from .output import Written, remove_stale, scratch_for, write_if_changed
from .parallel import fork_map, slices

Progress = Callable[[int, int], None]
"""Called with (pages done, pages to render) as rendering advances."""
ROOT_FAVICON = "favicon.ico"


@dataclass(frozen=True)
class BuildReport:
    written: int
    unchanged: int
    removed: int
    seconds: float
    output: Path
    rendered: int
    """Pages rendered: those whose inputs changed (all of them on a clean build)."""
    left_out: tuple[Problem, ...] = ()
    """With keep_going: the problems found in what the build left out."""
    strays: tuple[str, ...] = ()
    """Files removed from the output that the build had not made (counted in `removed`):
    someone put them there by hand, and a file to keep belongs in static/."""

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


def _config(site_dir: Path, base_url: str | None, drafts: bool = False) -> Config:
    config = read_config(site_dir)
    if base_url is not None:
        config = dataclasses.replace(config, base_url=base_url.rstrip("/") + "/")
    return dataclasses.replace(config, drafts=drafts)


def check(site_dir: Path) -> Site:
    """Validate a site without writing anything: the command for pull requests."""
    return load(site_dir)[1]


def build(
    site_dir: Path,
    output: Path | None = None,
    base_url: str | None = None,
    clean: bool = False,
    jobs: int = 1,
    progress: Progress | None = None,
    keep_going: bool = False,
    drafts: bool = False,
) -> BuildReport:
    """Build the site; builds of one site never overlap, whichever process starts them.
    A problem in the content stops the build before anything is written, unless
    `keep_going`: then broken topics and replies are left out, the rest is built, and the
    report lists what was left out (so does leftout.last). A problem in a file every page
    depends on (config, theme, categories.yaml, authors.yaml) stops it anyway. Drafts
    are left out (their problems still count), unless `drafts`: then they are built,
    marked as drafts (a preview)."""
    site_dir = site_dir.resolve()
    with file_lock(build_lock(site_dir)):
        return _build(
            site_dir, output, _config(site_dir, base_url, drafts), clean, jobs, progress, keep_going
        )


def cache_key(config: Config) -> str:
    """What makes cached parses and rendered posts stale: forumgen's own version and
    rendering code (what XML pages are cleaned of included), the shape of the pickled
    model, the site's Markdown engine and the versions and settings of the Markdown
    toolchain, and the labels of mail posts' folded parts in the site's language."""
    return hashlib.blake2b(
        repr(
            (
                __version__,
                SCHEMA,
                mail_labels(config.language),
                Path(markup.__file__).read_bytes(),
                Path(mailbody.__file__).read_bytes(),
                Path(bodies.__file__).read_bytes(),
                Path(chars.__file__).read_bytes(),
                Path(pages.__file__).read_bytes(),
                Path(search.__file__).read_bytes(),
                Path(model.__file__).read_bytes(),  # slugs: author and tag pages
                [f.name for f in dataclasses.fields(Post)],
                [f.name for f in dataclasses.fields(Topic)],
                [f.name for f in dataclasses.fields(TopicSummary)],
                config.markdown,
                markdown.__version__,
                cmark.VERSION,
                pygments.__version__,
                nh3.__name__,
                markup.EXTENSIONS,
                markup.EXTENSION_CONFIG,
                sorted(markup.ALLOWED_TAGS),
                sorted(markup.URL_SCHEMES),
                markup.LINK_REL,
            )
        ).encode(),
        digest_size=16,
    ).hexdigest()


class RenderedHtml:
    """Post bodies as HTML: from the build cache, else rendered and remembered."""

    KEEP = 2_000

    def __init__(self, cache: BuildCache, config: Config) -> None:
        self.cache = cache
        self.config = config
        self.fresh: dict[str, str] = {}
        self.fetched: dict[str, str] = {}

    def prefetch(self, posts: Iterable[Post]) -> None:
        """Fetch the HTML of posts about to be shown in one query instead of one each."""
        if len(self.fetched) > self.KEEP:
            self.fetched = {}
        self.fetched.update(
            self.cache.html_of(p.digest for p in posts if p.digest not in self.fetched)
        )

    def __call__(self, post: Post) -> str:
        html = (
            self.fresh.get(post.digest)
            or self.fetched.get(post.digest)
            or self.cache.html(post.digest)
        )
        if html is None:
            html = self.fresh[post.digest] = render_body(
                post.format,
                post_body(self.config, post),
                partial(markup.render, engine=self.config.markdown),
                self.config.language,
            )
        return html

    def flush(self) -> None:
        if self.fresh:
            self.cache.store_html(self.fresh.items())
            self.fresh = {}


class _Site:
    """What planning and rendering the pages of topics and authors needs: built before
    the worker processes fork, so they share it. Topics, plans and what authors wrote
    come from the build cache, one at a time, so no process holds the whole forum."""

    def __init__(
        self,
        config: Config,
        cache: BuildCache,
        html: RenderedHtml,
        categories: list[Category],
        profiles: dict[str, Author],
        out: Path,
        previous: dict[str, PageRecord],
        render_all: bool,
    ) -> None:
        self.config, self.cache, self.html = config, cache, html
        self.category_of = {c.slug: c for c in categories}
        self.profiles = profiles
        self.folder = f"{out}{os.sep}"
        self.scratch = scratch_for(out, state_dir(config.site_dir))
        self.previous = previous
        self.render_all = render_all
        self.load: pages.TopicLoader = lru_cache(maxsize=16)(self._load)
        # Listings of the same topics (latest, category, tags) render in the same worker.
        self.plan: Callable[[str], pages.TopicPlan] = lru_cache(maxsize=4096)(self.cache.plan)

    def _load(self, slug: str) -> Topic:
        topic = self.cache.topic(slug)[0]
        self.html.prefetch(topic.posts)
        return topic

    def summaries(self, slugs: Sequence[str]) -> list[TopicSummary]:
        return [self.plan(slug).summary for slug in slugs]

    def authored(self, author: str) -> list[pages.Authored]:
        """What an author wrote, by topic, with the HTML of their posts prefetched."""
        their = self.cache.authored(author)
        self.html.prefetch(
            p
            for a in their
            for p in [*([a.started] if a.started else []), *(v.post for v in a.replies)]
        )
        return their

    def pages_of(self, owner: str) -> list[pages.Page]:
        """The pages of a topic ('t/<slug>') or an author ('u/<slug>')."""
        slug = owner[2:]
        if owner.startswith("t/"):
            return pages.topic_pages(
                self.plan(slug), self.load, self.category_of, self.config.posts_per_page
            )
        rows = self.cache.authored_rows(slug)
        return (
            [pages.author_page(slug, rows, self.profiles, partial(self.authored, slug))]
            if rows
            else []
        )

    def due(self, page: pages.Page) -> tuple[PageRecord, bool]:
        """The page's record, and whether it must be rendered: its inputs changed, or its
        file is gone, or every page renders."""
        record = PageRecord(page.path, page.fingerprint, _stamp(page.lastmod), page.owner)
        return record, self.render_all or self.previous.get(
            page.file
        ) != record or not os.path.isfile(self.folder + page.file)


@dataclass(frozen=True)
class _Fresh:
    """A topic read and planned in this build (the worker that read it staged it in the
    build cache)."""

    name: str
    entry: pages.Entry
    authored: dict[str, str]
    """Author -> digest of what they wrote in the topic."""


@dataclass
class _Read:
    """Topic folders read by one worker, and the problems found in them."""

    topics: list[_Fresh] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    drafts: list[tuple[str, str, int]] = field(default_factory=list)
    """Draft topics left out of this build: (name, category, line naming it)."""


def _build(
    site_dir: Path,
    output: Path | None,
    config: Config,
    clean: bool,
    jobs: int,
    progress: Progress | None,
    keep_going: bool,
) -> BuildReport:
    started = time.monotonic()
    out = (output or site_dir / "output").resolve()
    _refuse_dangerous_output(out, config)
    state = output_state_dir(site_dir, out)
    cache = BuildCache(state, cache_key(config))
    try:
        # Inputs every page shares: a change to any of them changes every fingerprint.
        site_wide = pages.fingerprint(
            __version__,
            config,
            theme.signature(config),
            *(_bytes(config.content_dir / name) for name in ("categories.yaml", "authors.yaml")),
        )
        scanned = scan(config, jobs)
        statics = sitestatic.site_files(config)
        # The site's own static files are copied, not rendered: only this changes for them.
        whole = pages.fingerprint(site_wide, scanned.signature, sitestatic.signature(statics))
        recorded = cache.page_files(out)
        files = [] if clean else recorded
        marker = state / "build-running"
        interrupted = marker.exists()  # the last build was killed: check every file
        if (
            files
            and not interrupted
            and cache.meta("inputs") == whole
            and all(os.path.isfile(f"{out}{os.sep}{file}") for file in files)
        ):
            # Nothing a page is made from changed since the last build: no need to even
            # read the cached model.
            return BuildReport(0, len(files), 0, time.monotonic() - started, out, 0)
        previous = {} if clean else cache.pages(out)
        render_all = clean or interrupted or not previous or cache.meta("site_wide") != site_wide
        html = RenderedHtml(cache, config)
        plan = _plan(
            config,
            cache,
            html,
            scanned,
            marker,
            out,
            previous,
            clean or interrupted,
            render_all,
            jobs,
            keep_going,
        )
        statics = _without_clashes(config, plan, statics, keep_going)
        env = theme.environment(config, html, compiled=state_dir(site_dir) / "templates")
        if render_all:  # else the templates are those the last build rendered without fault
            _try_templates(env, plan.samples())
        wiped = remove_stale(out, keep=set()) if clean and out.exists() else []
        out.mkdir(parents=True, exist_ok=True)
        done = _render_all(env, plan, out, jobs, progress)
        current = plan.carried | done.records
        index = searchindex.update(
            config,
            cache,
            out,
            plan.site.scratch,
            plan.slugs,
            plan.changed,
            plan.replanned_all,
            previous,
            jobs,
        )
        current |= index.records
        for key, value in index.counts.items():
            done.counts[key] += value
        # Sitemaps list every page with its lastmod, so they come last.
        last = pages.sitemaps(
            [
                pages.Listed(r.path, _instant(r.lastmod))
                for r in current.values()
                if r.lastmod is not None
            ]
        )
        done.add(_render_part(env, plan.site, last, out))
        current |= done.records
        done.counts[Written.UNCHANGED] += len(plan.carried)
        copied = [*_assets(config), *((f.name, f.source) for f in statics)]
        for target, source in copied:
            data = source.read_bytes()
            current[target] = PageRecord(target, sitestatic.digest(data), None, "")
            if previous.get(target) == current[target] and (out / target).is_file():
                done.counts[Written.UNCHANGED] += 1
            else:
                done.counts[write_if_changed(out / target, data, plan.site.scratch)] += 1
        if previous and not interrupted:
            removed = _remove_gone(out, previous, current)
        else:  # no record of what an earlier build wrote: compare with the folder itself
            removed = remove_stale(out, set(current))
        removed = sorted({*removed, *(f for f in wiped if f not in current)})
        made = set(recorded)
        cache.store_pages(out, current, previous)
        # After leaving something out, the next build must look again, however unchanged.
        cache.set_meta("inputs", "" if plan.left_out else whole)
        cache.set_meta("site_wide", site_wide)
        marker.unlink()
        leftout.record(state, plan.left_out)
    finally:
        cache.close()
    return BuildReport(
        done.counts[Written.WRITTEN],
        done.counts[Written.UNCHANGED],
        len(removed),
        time.monotonic() - started,
        out,
        done.rendered,
        tuple(sorted(plan.left_out)),
        tuple(f for f in removed if f not in made),
    )


def _without_clashes(
    config: Config, plan: _Plan, statics: list[sitestatic.SiteFile], keep_going: bool
) -> list[sitestatic.SiteFile]:
    """The files of static/, once none would take the place of a file the build makes
    (with keep_going, those that would are left out)."""
    if not statics:
        return statics
    problems = sitestatic.clashes(statics, _claimed(config, plan))
    if problems and not keep_going:
        raise SiteError(problems)
    plan.left_out += problems
    clashing = {p.path for p in problems}
    return [f for f in statics if f"{sitestatic.FOLDER}/{f.name}" not in clashing]


def _claimed(config: Config, plan: _Plan) -> sitestatic.Claimed:
    """What the build writes into output/, known before anything is written: exactly,
    but for the pages of topics (their folders) and the search index (its folder)."""
    theme_folder = f"themes/{config.theme}"
    # The redirect maps are plain.txt too, but are not changed through it.
    hints = {
        p.file: f"to change it, override the template in {theme_folder}/templates/{p.template}"
        for p in plan.site_pages
        if p.template != "plain.txt"
    } | {
        target: "to replace a theme asset, put it in "
        f"{theme_folder}/static/{target.removeprefix('static/')} instead"
        for target, _ in _assets(config)
    }
    authors = [f"u/{author}/index.html" for author in plan.site.cache.authors()]
    return sitestatic.Claimed(
        files=frozenset(
            {
                *(p.file for p in plan.site_pages),
                *hints,
                *authors,
                "sitemap.xml",
                *map(pages.file_of, plan.redirects),
            }
        ),
        folders=frozenset({*(f"t/{slug}/" for slug in plan.slugs), searchindex.FOLDER}),
        patterns=("sitemap-*.xml",),
        hints=hints,
    )


def _assets(config: Config) -> Iterator[tuple[str, Path]]:
    """(output path, file) for the theme's static files. The favicon is also written at
    the top of the site, where browsers look for it when a page names none (a feed or
    a file opened directly)."""
    for name, source in theme.static_files(config):
        yield f"static/{name}", source
        if name == ROOT_FAVICON:
            yield name, source


@dataclass
class _Plan:
    site: _Site
    site_pages: list[pages.Page]
    """Listings, feeds and the other pages drawn from the whole site."""
    owners: list[str]
    """Topics and authors whose pages are planned and rendered when their turn comes
    ('t/<slug>', 'u/<slug>'): planning them all at once would hold the whole forum."""
    carried: dict[str, PageRecord]
    """Pages of topics and authors that did not change, as the last build wrote them."""
    redirecting: str | None
    """A topic with redirect pages, if any."""
    redirects: list[str]
    """The paths of every topic's redirect pages."""
    left_out: list[Problem]
    slugs: list[str] = field(default_factory=list)
    """Every topic published, by slug."""
    changed: set[str] = field(default_factory=set)
    """Topics read again by this build."""
    replanned_all: bool = False

    def samples(self) -> list[pages.Page]:
        """A page of every kind, to try the templates on before writing anything."""
        owners = (
            [o for o in self.owners if o.startswith("t/")][:1]
            + [o for o in self.owners if o.startswith("u/")][:1]
            + ([self.redirecting] if self.redirecting else [])
        )
        return [*self.site_pages, *(p for owner in owners for p in self.site.pages_of(owner))]


def _plan(
    config: Config,
    cache: BuildCache,
    html: RenderedHtml,
    scanned: Scan,
    marker: Path,
    out: Path,
    previous: dict[str, PageRecord],
    replan_all: bool,
    render_all: bool,
    jobs: int,
    keep_going: bool,
) -> _Plan:
    """What to render. Only topics whose files changed are read and planned again (all
    of them after a killed build or when the shape of threads changed: posts per page,
    time zone), and only their pages and those of the authors who wrote in them are
    planned; listings and feeds are planned from every topic's cached entry."""
    problems = Problems(config.site_dir)
    categories = read_categories(config, problems)
    profiles = read_authors(config, problems)
    # Every page depends on these files: a problem in them is never left out.
    site_wide = bool(problems.items)
    folders = distinct_folders(config, scanned, problems)
    # What a topic's cached parse and plan depend on besides its files.
    shape = f"{config.posts_per_page} {config.timezone} {config.drafts}"
    replan_all = replan_all or cache.meta("shape") != shape
    known = cache.topic_signatures()
    changed = [(name, sig) for name, sig in folders if replan_all or known.get(name) != sig]
    gone = set(known) - {name for name, _ in folders}
    cache.drop_staged()  # what a build that stopped on a problem had staged
    fresh = _read(config, cache, changed, jobs, keep_going)
    problems.items += fresh.problems
    # A topic that became a draft goes as if deleted. Drafts are never cached, so they
    # are read again by each build that reads anything: there are few.
    drafts = {name for name, _, _ in fresh.drafts}
    gone |= drafts & set(known)
    entries = {} if replan_all else {e.slug: e for e in cache.entries(skip=gone)}
    entries.update((f.name, f.entry) for f in fresh.topics)
    known_categories = {c.slug for c in categories}
    failed = {name for name, _ in changed} - {f.name for f in fresh.topics} - drafts
    for name, category, line in fresh.drafts:
        if not check_category(config, name, category, line, known_categories, problems):
            failed.add(name)
    for entry in entries.values():
        if not check_category(
            config, entry.slug, entry.category, entry.category_line, known_categories, problems
        ):
            failed.add(entry.slug)
    failed |= check_redirects(
        config, [(e.slug, [path for path, _ in e.redirects]) for e in entries.values()], problems
    )
    if not keep_going or site_wide:
        problems.raise_if_any()
    elif failed:  # left out: their cached versions go too, so the next build reads them
        cache.unstage(failed)
        gone |= failed & set(known)
        fresh.topics = [f for f in fresh.topics if f.name not in failed]
        for slug in failed:
            entries.pop(slug, None)
    # From here on the cache changes: a build killed before the end must be redone whole.
    marker.touch()
    replanned = {f.name for f in fresh.topics} | gone
    before = cache.authored_digests(replanned)
    cache.commit_staged(gone)
    after = {
        (f.name, author): digest for f in fresh.topics for author, digest in f.authored.items()
    }
    dirty = {key[1] for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    cache.set_meta("shape", shape)

    site = _Site(config, cache, html, categories, profiles, out, previous, render_all)
    planned = pages.site_pages(listing_order(entries.values()), site.summaries, categories, config)
    # Pages of unchanged topics and authors are carried over as the last build wrote them,
    # unless every page renders anyway or someone deleted their file.
    again = {f"t/{slug}" for slug in replanned} | {f"u/{slug}" for slug in dirty}
    carried = (
        {}
        if render_all
        else {
            file: record
            for file, record in previous.items()
            if record.owner.startswith(("t/", "u/")) and record.owner not in again
        }
    )
    missing = {r.owner for file, r in carried.items() if not os.path.isfile(site.folder + file)}
    carried = {file: r for file, r in carried.items() if r.owner not in missing}
    owners = (
        [f"t/{slug}" for slug in sorted(entries)]
        + [f"u/{slug}" for slug in sorted(cache.authors())]
        if render_all
        else sorted(
            {f"t/{f.name}" for f in fresh.topics} | {f"u/{slug}" for slug in dirty} | missing
        )
    )
    redirecting = next((f"t/{e.slug}" for e in entries.values() if e.redirects), None)
    redirects = [path for e in entries.values() for path, _ in e.redirects]
    return _Plan(
        site,
        planned,
        owners,
        carried,
        redirecting,
        redirects,
        problems.items,
        sorted(entries),
        {f.name for f in fresh.topics},
        replan_all,
    )


def _read(
    config: Config, cache: BuildCache, folders: list[Folder], jobs: int, keep_going: bool
) -> _Read:
    """Read and plan changed topic folders and render the Markdown of their posts, in
    parallel when there are many."""
    result = _Read()
    parts = slices(folders, jobs, most=200) if len(folders) >= 64 else [folders]
    for part in fork_map(
        lambda part: _read_part(config, cache, part, keep_going), parts, jobs, cache.reopen
    ):
        result.topics += part.topics
        result.problems += part.problems
        result.drafts += part.drafts
    result.topics.sort(key=lambda t: t.name)
    return result


def _read_part(
    config: Config, cache: BuildCache, folders: Sequence[Folder], keep_going: bool
) -> _Read:
    result = _Read()
    problems = Problems(config.site_dir)
    staged: list[tuple[str, str, bytes, bytes, bytes]] = []
    authored_rows: list[tuple[str, str, str, float, str, bytes]] = []
    for name, signature in folders:
        found = len(problems.items)
        topic, stats = read_folder(config, problems, name, cache.topic_data(name), keep_going)
        if topic is None:
            continue
        if not published(config, topic):  # read, so its problems are found, and left out
            result.drafts.append((name, topic.category, topic.category_line))
            continue
        if len(problems.items) > found:  # built without its broken replies: read it again
            signature = ""  # next time, so they are reported again

        # Posts reused from the cache come without bodies: their HTML is cached already.
        unseen = {p.digest: p for p in topic.posts if p.body}
        html: dict[str, str] = {}
        failing = _render(config, unseen, cache.missing_html(unseen), html)
        # Rendered Markdown is keyed by its source, so storing it is right even if the
        # build stops on a problem elsewhere; stored topic by topic, so a build that dies
        # keeps what it rendered.
        if html:
            cache.store_html(html.items())
        for digest, reason in _as_text(config, unseen).items():
            # Rendered all the same (as plain text), but named, and named again next time.
            problems.add(
                config.site_dir / unseen[digest].path,
                1,
                f"the text is too complex for Markdown ({reason}): it is shown as plain text",
            )
            signature = ""
        if failing:
            for post in topic.posts:
                if post.digest in failing:
                    problems.add(
                        config.site_dir / post.path,
                        1,
                        f"the text cannot be rendered: {failing[post.digest]}",
                    )
            if not keep_going or topic.posts[0].digest in failing:
                continue
            topic = dataclasses.replace(
                topic, posts=[p for p in topic.posts if p.digest not in failing]
            )
            signature = ""
        cached = cacheable(topic, stats)
        plan, authored = pages.topic_plan(cached[0], config.posts_per_page)
        staged.append((name, signature, dump(cached), dump(plan), dump(tuple(plan.entry))))
        authored_rows += [
            (name, author, item.digest, item.row.lastmod, item.row.name, dump(item))
            for author, item in authored.items()
        ]
        result.topics.append(_Fresh(name, plan.entry, {a: i.digest for a, i in authored.items()}))
    cache.stage(staged, authored_rows)
    result.problems = problems.items
    return result


def _render(
    config: Config, posts: dict[str, Post], due: Iterable[str], html: dict[str, str]
) -> dict[str, str]:
    """Render the bodies of the posts whose digests are `due` into `html`; returns why each
    body that could not be rendered failed. The renderer is not trusted with any input: a
    visitor's post that breaks it (a list nested thousands deep exhausts its recursion) is
    that post's problem, not the build's."""
    failing = {}
    for digest in sorted(due):
        post = posts[digest]
        try:
            html[digest] = render_body(
                post.format,
                post.body,
                partial(markup.render, engine=config.markdown),
                config.language,
            )
        except Exception as exc:  # noqa: BLE001 - whatever the text does to the renderer
            failing[digest] = f"{type(exc).__name__}: {exc}"
    return failing


def _as_text(config: Config, posts: dict[str, Post]) -> dict[str, str]:
    """Why the Markdown of each of `posts` that the renderer shows as plain text (see
    markup.hostile) is, by digest. Checked whether or not its HTML is cached, so that the
    problem is reported by every build that reads the post."""
    return {
        digest: reason
        for digest, post in sorted(posts.items())
        if post.format != MAIL
        and (reason := markup.hostile(post.body, config.markdown)) is not None
    }


def _stamp(when: datetime | None) -> float | None:
    return None if when is None else when.timestamp()


def _instant(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, timezone.utc)


def _bytes(path: Path) -> bytes:
    return path.read_bytes() if path.is_file() else b""


def _remove_gone(
    out: Path, previous: dict[str, PageRecord], current: dict[str, PageRecord]
) -> list[str]:
    """Delete the files an earlier build wrote that this one did not, and empty folders."""
    removed = []
    for file in sorted(set(previous) - set(current)):
        path = out / file
        if path.is_file():
            path.unlink()
            removed.append(file)
        for folder in path.parents:
            if folder == out or not folder.is_dir() or any(folder.iterdir()):
                break
            folder.rmdir()
    return removed


def _refuse_dangerous_output(out: Path, config: Config) -> None:
    """Stale-file removal deletes what the build did not produce, so the output folder
    must never be, or contain, the site's own sources (the preview of `forumgen serve`,
    inside `.forumgen/`, is the one exception)."""
    site = config.site_dir.resolve()
    if out == preview_output(site).resolve():
        return
    sources = [
        site / name for name in ("content", "themes", sitestatic.FOLDER, "pending", ".forumgen")
    ]
    if out == site or out in site.parents or any(out == s or s in out.parents for s in sources):
        raise SiteError(
            [
                Problem(
                    "forumgen.yaml",
                    1,
                    f"refusing to build into {out}: it holds "
                    "the site's own files (choose an empty folder for --output)",
                )
            ]
        )


def render_page(env: jinja2.Environment, page: pages.Page) -> bytes:
    """The page's bytes. An XML page (feeds, sitemaps) is written without the characters
    XML forbids (U+FFFE, most C0 controls), wherever they came from: one of them in a
    title or a post written by hand would make the whole feed unreadable."""
    try:
        template = env.get_template(page.template)
        text = template.render(page.context(), page=page)
    except jinja2.TemplateError as exc:
        raise SiteError([_template_problem(exc, page)]) from None
    return (chars.xml_text(text) if page.template.endswith(".xml") else text).encode("utf-8")


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


@dataclass
class _Rendered:
    """What rendering some pages did: their records, what happened to their files and
    how many were rendered."""

    records: dict[str, PageRecord] = field(default_factory=dict)
    counts: dict[Written, int] = field(default_factory=lambda: dict.fromkeys(Written, 0))
    rendered: int = 0

    def add(self, other: _Rendered) -> None:
        self.records.update(other.records)
        for key, value in other.counts.items():
            self.counts[key] += value
        self.rendered += other.rendered


def _render_part(
    env: jinja2.Environment, site: _Site, items: Sequence[pages.Page | str], out: Path
) -> _Rendered:
    """Render the pages among `items` that are due, and the due pages of the topics and
    authors among them."""
    done = _Rendered()
    for item in items:
        for page in site.pages_of(item) if isinstance(item, str) else [item]:
            record, due = site.due(page)
            done.records[page.file] = record
            if due:
                done.counts[
                    write_if_changed(out / page.file, render_page(env, page), site.scratch)
                ] += 1
                done.rendered += 1
            else:
                done.counts[Written.UNCHANGED] += 1
        site.html.flush()  # kept by a build that dies later
    return done


def _render_all(
    env: jinja2.Environment, plan: _Plan, out: Path, jobs: int, progress: Progress | None
) -> _Rendered:
    """Render what is due, in forked workers when there is enough of it."""
    done = _Rendered()
    items: list[pages.Page | str] = []
    for page in plan.site_pages:  # cheap to check here; most are not due on a small change
        record, due = plan.site.due(page)
        done.records[page.file] = record
        if due:
            items.append(page)
        else:
            done.counts[Written.UNCHANGED] += 1
    items += plan.owners
    # Forking workers costs more than rendering a handful of pages.
    jobs = jobs if len(items) >= 64 else 1
    parts = slices(items, jobs)
    finished = 0
    for size, result in fork_map(
        lambda part: (len(part), _render_part(env, plan.site, part, out)),
        parts,
        jobs,
        plan.site.cache.reopen,
    ):
        done.add(result)
        finished += size
        if progress:
            progress(finished, len(items))
    return done
