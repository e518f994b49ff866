"""The build pipeline: load -> model -> plan pages -> render -> write.

A `Build` holds what every phase needs (config, build cache, output folder, what the last
build wrote, options), and `Build.run` is the list of its phases: scan, load, plan,
render, index, assets, sweep. Nothing is written until the whole site has loaded without
a problem, so a broken file leaves `output/` exactly as it was. With the build cache
(`.forumgen/cache.sqlite`), unchanged files are not re-read, Markdown is rendered once per
distinct body, and only pages whose fingerprint changed are rendered again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache, partial
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
    sitestatic,
    theme,
)
from .bodies import mail_labels, render_body
from .cache import SCHEMA, BuildCache, HtmlStore, StagedAuthored, StagedTopic
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
from .output import OutputDir, PageRecord, Tally, Written, remove_stale, scratch_for
from .owner import SITE, Kind, Owner
from .parallel import default_jobs, fork_map, slices
from .searchindex import FOLDER as SEARCH_FOLDER
from .searchindex import Change, Indexer

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
    """Config and content of a site as one model in memory (for tools and tests: the
    build never holds the whole forum), or SiteError listing every problem found."""
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


@dataclass(frozen=True)
class Checked:
    """What `check` found in a site without a problem."""

    categories: int
    topics: int
    posts: int


def check(site_dir: Path, jobs: int | None = None) -> Checked:
    """Validate a site without writing anything: the command for pull requests. It runs
    the build's own scan and load phases, so it stops on whatever would stop a build
    there (Markdown a renderer fails on included), but with a build cache of its own,
    thrown away after: every topic is read, and nothing of the site's changes."""
    config = _config(site_dir, None)
    with tempfile.TemporaryDirectory(prefix="forumgen-check-") as folder:
        cache = BuildCache(Path(folder), cache_key(config))
        try:
            run = Build(
                config,
                site_dir / "output",
                cache,
                Options(jobs=jobs or default_jobs()),
                Path(folder),
            )
            loaded = run.load(run.scan())
        finally:
            cache.close()
    posts = sum(f.posts for f in loaded.fresh)
    return Checked(len(loaded.categories), len(loaded.entries), posts)


@dataclass(frozen=True)
class Options:
    """How to build, as the command line asks."""

    clean: bool = False
    """Render every page and write the output folder afresh."""
    jobs: int = 1
    progress: Progress | None = None
    keep_going: bool = False
    """Leave out broken topics and replies instead of stopping (see `build`)."""


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
    options = Options(clean=clean, jobs=jobs, progress=progress, keep_going=keep_going)
    with file_lock(build_lock(site_dir)):
        config = _config(site_dir, base_url, drafts=drafts)
        out = (output or site_dir / "output").resolve()
        _refuse_dangerous_output(out, config)
        state = output_state_dir(site_dir, out)
        cache = BuildCache(state, cache_key(config))
        try:
            return Build(config, out, cache, options, state).run()
        finally:
            cache.close()


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


@dataclass(frozen=True)
class _Inputs:
    """The scan of a site's inputs: enough to know whether anything changed."""

    scan: Scan
    statics: list[sitestatic.SiteFile]
    site_wide: str
    """Fingerprint of the inputs every page shares: a change to any of them changes every
    page's fingerprint."""
    whole: str
    """Fingerprint of every input, by name, size and mtime."""


@dataclass
class _Loaded:
    """The site as loaded by this build: topics read again are staged in the build
    cache, the others are known by their cached listing entries."""

    categories: list[Category]
    profiles: dict[str, Author]
    entries: dict[str, pages.Entry]
    """Every topic published, by slug."""
    fresh: list[_Fresh]
    """The topics read again."""
    gone: set[str]
    """Cached topics that are no more (deleted, now drafts, or left out)."""
    left_out: list[Problem]
    """With keep_going: the problems of what is left out."""
    shape: str
    replan_all: bool
    """Every topic was read again."""


class Build:
    """One build of a site into an output folder: what every phase needs, and a method
    for each phase. `run` calls them in order."""

    def __init__(
        self, config: Config, out: Path, cache: BuildCache, options: Options, state: Path
    ) -> None:
        """`state`: the folder of the output's build state (see locks.output_state_dir)."""
        self.started = time.monotonic()
        self.config = config
        self.out = out
        self.cache = cache
        self.options = options
        self.state = state
        self.marker = state / "build-running"
        self.interrupted = self.marker.exists()
        """The last build was killed: every file is checked."""
        self.html = RenderedHtml(cache.html, config)

    def run(self) -> BuildReport:
        """The phases of a build, in order; an up-to-date output stops it after the scan."""
        inputs = self.scan()
        if self.up_to_date(inputs):
            return self.report(self.untouched(), [], left_out=[])
        plan = self.plan(self.load(inputs), inputs)
        statics = self.statics(plan, inputs.statics)
        env = self.templates(plan)
        wiped = self.wipe()
        done = self.render(env, plan)
        done.add(self.index(plan))
        done.add(self.sitemaps(env, plan, done.records))
        done.add(self.assets(plan, statics))
        removed = self.sweep(done.records, wiped)
        self.remember(inputs, plan, done.records)
        return self.report(done, removed, left_out=plan.left_out)

    @cached_property
    def recorded(self) -> list[str]:
        """The files the last build into this output wrote."""
        return self.cache.pages.files(self.out)

    @cached_property
    def previous(self) -> dict[str, PageRecord]:
        """What the last build into this output wrote (nothing for a clean build): read
        only when something changed, as a forum has tens of thousands of files."""
        return {} if self.options.clean else self.cache.pages.records(self.out)

    def renders_all(self, inputs: _Inputs) -> bool:
        """Whether every page renders, whatever its fingerprint."""
        return (
            self.options.clean
            or self.interrupted
            or not self.previous
            or self.cache.meta("site_wide") != inputs.site_wide
        )

    def scan(self) -> _Inputs:
        """Stat every input."""
        config = self.config
        site_wide = pages.fingerprint(
            __version__,
            config,
            theme.signature(config),
            *(_bytes(config.content_dir / name) for name in ("categories.yaml", "authors.yaml")),
        )
        scanned = scan(config, self.options.jobs)
        statics = sitestatic.site_files(config)
        # The site's own static files are copied, not rendered: only this changes for them.
        whole = pages.fingerprint(site_wide, scanned.signature, sitestatic.signature(statics))
        return _Inputs(scanned, statics, site_wide, whole)

    def up_to_date(self, inputs: _Inputs) -> bool:
        """Nothing a page is made from changed since the last build, which left every
        file in place: no need to even read the cached model."""
        recorded = self.recorded  # known before this build records what it writes
        files = [] if self.options.clean else recorded
        return bool(
            files
            and not self.interrupted
            and self.cache.meta("inputs") == inputs.whole
            and all(OutputDir(self.out, None).has(file) for file in files)
        )

    def untouched(self) -> Tally:
        """What an up-to-date build did: every file left as it was."""
        done = Tally()
        done.counts[Written.UNCHANGED] = len(self.recorded)
        return done

    def load(self, inputs: _Inputs) -> _Loaded:
        """Read the topics whose files changed (all of them after a killed build or when
        the shape of threads changed: posts per page, time zone) and check the whole
        site; raises SiteError on a problem, unless keep_going leaves it out."""
        config, cache = self.config, self.cache
        problems = Problems(config.site_dir)
        categories = read_categories(config, problems)
        profiles = read_authors(config, problems)
        # Every page depends on these files: a problem in them is never left out.
        site_wide = bool(problems.items)
        folders = distinct_folders(config, inputs.scan, problems)
        # What a topic's cached parse and plan depend on besides its files.
        shape = f"{config.posts_per_page} {config.timezone} {config.drafts}"
        replan_all = self.options.clean or self.interrupted or cache.meta("shape") != shape
        known = cache.topics.signatures()
        changed = [(name, sig) for name, sig in folders if replan_all or known.get(name) != sig]
        gone = set(known) - {name for name, _ in folders}
        cache.topics.drop_staged()  # what a build that stopped on a problem had staged
        fresh = _read(config, cache, changed, self.options)
        problems.items += fresh.problems
        # A topic that became a draft goes as if deleted. Drafts are never cached, so
        # they are read again by each build that reads anything: there are few.
        drafts = {name for name, _, _ in fresh.drafts}
        gone |= drafts & set(known)
        entries = {}
        if not replan_all:
            entries = {e.slug: e for e in cache.topics.entries(skip=gone)}
        entries.update((f.name, f.entry) for f in fresh.topics)
        failed = {name for name, _ in changed} - {f.name for f in fresh.topics} - drafts
        failed |= _misplaced(config, categories, fresh.drafts, entries.values(), problems)
        claims = [(e.slug, [path for path, _ in e.redirects]) for e in entries.values()]
        failed |= check_redirects(config, claims, problems)
        if not self.options.keep_going or site_wide:
            problems.raise_if_any()
        elif failed:  # left out: their cached versions go too, so the next build reads them
            cache.topics.unstage(failed)
            gone |= failed & set(known)
            fresh.topics = [f for f in fresh.topics if f.name not in failed]
            for slug in failed:
                entries.pop(slug, None)
        return _Loaded(
            categories, profiles, entries, fresh.topics, gone, problems.items, shape, replan_all
        )

    def plan(self, loaded: _Loaded, inputs: _Inputs) -> _Plan:
        """Take the topics read into the cache, and plan what to render: listings and
        feeds from every topic's cached entry, the pages of the topics read again and of
        the authors who wrote in them. The pages of the others are carried over."""
        cache = self.cache
        # From here on the cache changes: a build killed before the end must be redone whole.
        self.marker.touch()
        replanned = {f.name for f in loaded.fresh} | loaded.gone
        before = cache.authored.digests(replanned)
        cache.topics.commit_staged(loaded.gone)
        after = {
            (f.name, author): digest for f in loaded.fresh for author, digest in f.authored.items()
        }
        dirty = {
            key[1] for key in before.keys() | after.keys() if before.get(key) != after.get(key)
        }
        cache.set_meta("shape", loaded.shape)

        out = OutputDir(self.out, scratch_for(self.out, state_dir(self.config.site_dir)))
        render_all = self.renders_all(inputs)
        site = _Site(self, loaded, out, render_all=render_all)
        entries = loaded.entries
        planned = pages.site_pages(
            listing_order(entries.values()), site.summaries, loaded.categories, self.config
        )
        again_authors = {Owner(Kind.AUTHOR, slug) for slug in dirty}
        again = {Owner(Kind.TOPIC, slug) for slug in replanned} | again_authors
        carried: dict[str, PageRecord] = {}
        if render_all:
            owners = [Owner(Kind.TOPIC, slug) for slug in sorted(entries)]
            owners += [Owner(Kind.AUTHOR, slug) for slug in sorted(cache.authored.authors())]
        else:
            carried, missing = self._carried(again, out)
            fresh = {Owner(Kind.TOPIC, f.name) for f in loaded.fresh}
            owners = sorted(fresh | again_authors | missing, key=lambda o: o.text)
        redirecting = next(
            (Owner(Kind.TOPIC, e.slug) for e in entries.values() if e.redirects), None
        )
        return _Plan(
            site=site,
            site_pages=planned,
            owners=owners,
            carried=carried,
            redirecting=redirecting,
            redirects=[path for e in entries.values() for path, _ in e.redirects],
            left_out=loaded.left_out,
            slugs=sorted(entries),
            changed={f.name for f in loaded.fresh},
            replanned_all=loaded.replan_all,
            render_all=render_all,
        )

    def _carried(
        self, again: set[Owner], out: OutputDir
    ) -> tuple[dict[str, PageRecord], set[Owner]]:
        """The pages of unchanged topics and authors, carried over as the last build
        wrote them, and the topics and authors some of whose files someone deleted (their
        pages are rendered again)."""
        carried = {
            file: record
            for file, record in self.previous.items()
            if record.owner.kind in (Kind.TOPIC, Kind.AUTHOR) and record.owner not in again
        }
        missing = {r.owner for file, r in carried.items() if not out.has(file)}
        return {file: r for file, r in carried.items() if r.owner not in missing}, missing

    def statics(self, plan: _Plan, statics: list[sitestatic.SiteFile]) -> list[sitestatic.SiteFile]:
        """The files of static/, once none would take the place of a file the build
        makes (with keep_going, those that would are left out)."""
        if not statics:
            return statics
        problems = sitestatic.clashes(statics, _claimed(self.config, plan))
        if problems and not self.options.keep_going:
            raise SiteError(problems)
        plan.left_out += problems
        clashing = {p.path for p in problems}
        return [f for f in statics if f"{sitestatic.FOLDER}/{f.name}" not in clashing]

    def templates(self, plan: _Plan) -> jinja2.Environment:
        """The theme's templates, tried on a page of each kind before anything is written
        when every page renders (else they are those the last build rendered without
        fault)."""
        compiled = state_dir(self.config.site_dir) / "templates"
        env = theme.environment(self.config, self.html, compiled=compiled)
        if plan.render_all:
            _try_templates(env, plan.samples())
        return env

    def wipe(self) -> list[str]:
        """For a clean build, empty the output folder first; returns what was there."""
        wiped = []
        if self.options.clean and self.out.exists():
            wiped = remove_stale(self.out, keep=set())
        self.out.mkdir(parents=True, exist_ok=True)
        return wiped

    def render(self, env: jinja2.Environment, plan: _Plan) -> Tally:
        """Render what is due, in forked workers when there is enough of it; the pages
        carried over are counted as unchanged."""
        done = Tally()
        for file, record in plan.carried.items():
            done.keep(file, record)
        items: list[pages.Page | Owner] = []
        for page in plan.site_pages:  # cheap to check here; most are not due on a small change
            record, due = plan.site.due(page)
            if due:
                done.records[page.file] = record
                items.append(page)
            else:
                done.keep(page.file, record)
        items += plan.owners
        # Forking workers costs more than rendering a handful of pages.
        jobs = self.options.jobs if len(items) >= 64 else 1
        finished = 0
        for size, result in fork_map(
            lambda part: (len(part), _render_part(env, plan.site, part)),
            slices(items, jobs),
            jobs,
            self.cache.reopen,
        ):
            done.add(result)
            finished += size
            if self.options.progress:
                self.options.progress(finished, len(items))
        return done

    def index(self, plan: _Plan) -> Tally:
        """Bring the search index up to date."""
        indexer = Indexer(self.config, self.cache, plan.site.out, self.options.jobs)
        change = Change(plan.slugs, plan.changed, full=plan.replanned_all, previous=self.previous)
        return indexer.update(change)

    def sitemaps(
        self, env: jinja2.Environment, plan: _Plan, current: dict[str, PageRecord]
    ) -> Tally:
        """Sitemaps list every page with its lastmod, so they come last."""
        listed = [
            pages.Listed(r.path, pages.instant(r.lastmod))
            for r in current.values()
            if r.lastmod is not None
        ]
        return _render_part(env, plan.site, pages.sitemaps(listed))

    def assets(self, plan: _Plan, statics: list[sitestatic.SiteFile]) -> Tally:
        """Copy the theme's static files and the site's own."""
        done = Tally()
        copied = [*_assets(self.config), *((f.name, f.source) for f in statics)]
        for target, source in copied:
            data = source.read_bytes()
            record = PageRecord(target, sitestatic.digest(data), None, SITE)
            if self.previous.get(target) == record and (self.out / target).is_file():
                done.keep(target, record)
            else:
                done.write(plan.site.out, target, data, record)
        return done

    def sweep(self, current: dict[str, PageRecord], wiped: list[str]) -> list[str]:
        """Remove the files the build no longer makes: those the last build wrote, when
        known; else every file of the output folder not made now. Returns them, with those
        a clean build removed and did not write again."""
        written = None
        if self.previous and not self.interrupted:
            written = self.previous.keys()
        removed = remove_stale(self.out, current, written)
        return sorted({*removed, *(f for f in wiped if f not in current)})

    def remember(self, inputs: _Inputs, plan: _Plan, current: dict[str, PageRecord]) -> None:
        """Record what this build wrote and from what, for the next one."""
        self.cache.pages.store(self.out, current, self.previous)
        # After leaving something out, the next build must look again, however unchanged.
        self.cache.set_meta("inputs", "" if plan.left_out else inputs.whole)
        self.cache.set_meta("site_wide", inputs.site_wide)
        self.marker.unlink()
        leftout.record(self.state, plan.left_out)

    def report(self, done: Tally, removed: list[str], *, left_out: list[Problem]) -> BuildReport:
        """What the build did; files it removed that no build had made are strays."""
        made = set(self.recorded)
        return BuildReport(
            written=done.counts[Written.WRITTEN],
            unchanged=done.counts[Written.UNCHANGED],
            removed=len(removed),
            seconds=time.monotonic() - self.started,
            output=self.out,
            rendered=done.rendered,
            left_out=tuple(sorted(left_out)),
            strays=tuple(f for f in removed if f not in made),
        )


@dataclass
class _Plan:
    site: _Site
    site_pages: list[pages.Page]
    """Listings, feeds and the other pages drawn from the whole site."""
    owners: list[Owner]
    """Topics and authors whose pages are planned and rendered when their turn comes:
    planning them all at once would hold the whole forum."""
    carried: dict[str, PageRecord]
    """Pages of topics and authors that did not change, as the last build wrote them."""
    redirecting: Owner | None
    """A topic with redirect pages, if any."""
    redirects: list[str]
    """The paths of every topic's redirect pages."""
    left_out: list[Problem]
    slugs: list[str]
    """Every topic published, by slug."""
    changed: set[str]
    """Topics read again by this build."""
    replanned_all: bool
    render_all: bool
    """Every page renders, whatever its fingerprint."""

    def samples(self) -> list[pages.Page]:
        """A page of every kind, to try the templates on before writing anything."""
        owners = [o for o in self.owners if o.kind is Kind.TOPIC][:1]
        owners += [o for o in self.owners if o.kind is Kind.AUTHOR][:1]
        if self.redirecting:
            owners.append(self.redirecting)
        return [*self.site_pages, *(p for owner in owners for p in self.site.pages_of(owner))]


class RenderedHtml:
    """Post bodies as HTML: from the build cache, else rendered and remembered."""

    KEEP = 2_000

    def __init__(self, store: HtmlStore, config: Config) -> None:
        self.store = store
        self.config = config
        self.fresh: dict[str, str] = {}
        self.fetched: dict[str, str] = {}

    def prefetch(self, posts: Iterable[Post]) -> None:
        """Fetch the HTML of posts about to be shown in one query instead of one each."""
        if len(self.fetched) > self.KEEP:
            self.fetched = {}
        self.fetched.update(self.store.of(p.digest for p in posts if p.digest not in self.fetched))

    def __call__(self, post: Post) -> str:
        html = (
            self.fresh.get(post.digest)
            or self.fetched.get(post.digest)
            or self.store.get(post.digest)
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
            self.store.store(self.fresh.items())
            self.fresh = {}


class _Site:
    """What planning and rendering the pages of topics and authors needs: built before
    the worker processes fork, so they share it. Topics, plans and what authors wrote
    come from the build cache, one at a time, so no process holds the whole forum."""

    def __init__(self, build: Build, loaded: _Loaded, out: OutputDir, *, render_all: bool) -> None:
        self.config, self.cache, self.html = build.config, build.cache, build.html
        self.category_of = {c.slug: c for c in loaded.categories}
        self.profiles = loaded.profiles
        self.out = out
        self.previous = build.previous
        self.render_all = render_all
        self.load: pages.TopicLoader = lru_cache(maxsize=16)(self._load)
        # Listings of the same topics (latest, category, tags) render in the same worker.
        self.plan: Callable[[str], pages.TopicPlan] = lru_cache(maxsize=4096)(
            self.cache.topics.plan
        )

    def _load(self, slug: str) -> Topic:
        topic = self.cache.topics.topic(slug)[0]
        self.html.prefetch(topic.posts)
        return topic

    def summaries(self, slugs: Sequence[str]) -> list[TopicSummary]:
        return [self.plan(slug).summary for slug in slugs]

    def authored(self, author: str) -> list[pages.Authored]:
        """What an author wrote, by topic, with the HTML of their posts prefetched."""
        their = self.cache.authored.of(author)
        self.html.prefetch(
            p
            for a in their
            for p in [*([a.started] if a.started else []), *(v.post for v in a.replies)]
        )
        return their

    def pages_of(self, owner: Owner) -> list[pages.Page]:
        """The pages of a topic or an author."""
        slug = owner.key
        if owner.kind is Kind.TOPIC:
            return pages.topic_pages(
                self.plan(slug), self.load, self.category_of, self.config.posts_per_page
            )
        rows = self.cache.authored.rows(slug)
        if not rows:
            return []
        return [pages.author_page(slug, rows, self.profiles, partial(self.authored, slug))]

    def due(self, page: pages.Page) -> tuple[PageRecord, bool]:
        """The page's record, and whether it must be rendered: its inputs changed, or its
        file is gone, or every page renders."""
        record = PageRecord(page.path, page.fingerprint, _stamp(page.lastmod), page.owner)
        due = (
            self.render_all or self.previous.get(page.file) != record or not self.out.has(page.file)
        )
        return record, due


def _render_part(
    env: jinja2.Environment, site: _Site, items: Sequence[pages.Page | Owner]
) -> Tally:
    """Render the pages among `items` that are due, and the due pages of the topics and
    authors among them."""
    done = Tally()
    for item in items:
        for page in site.pages_of(item) if isinstance(item, Owner) else [item]:
            record, due = site.due(page)
            if due:
                done.write(site.out, page.file, render_page(env, page), record)
                done.rendered += 1
            else:
                done.keep(page.file, record)
        site.html.flush()  # kept by a build that dies later
    return done


def render_page(env: jinja2.Environment, page: pages.Page) -> bytes:
    """The page's bytes. An XML page (feeds, sitemaps) is written without the characters
    XML forbids (U+FFFE, most C0 controls), wherever they came from: one of them in a
    title or a post written by hand would make the whole feed unreadable."""
    try:
        template = env.get_template(page.template)
        text = template.render(page.context(), page=page)
    except jinja2.TemplateError as exc:
        raise SiteError([_template_problem(exc, page)]) from None
    if page.template.endswith(".xml"):
        text = chars.xml_text(text)
    return text.encode("utf-8")


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


# Reading topics ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fresh:
    """A topic read and planned in this build (the worker that read it staged it in the
    build cache)."""

    name: str
    entry: pages.Entry
    authored: dict[str, str]
    """Author -> digest of what they wrote in the topic."""
    posts: int


@dataclass
class _Read:
    """Topic folders read by one worker, and the problems found in them."""

    topics: list[_Fresh] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    drafts: list[tuple[str, str, int]] = field(default_factory=list)
    """Draft topics left out of this build: (name, category, line naming it)."""


def _read(config: Config, cache: BuildCache, folders: list[Folder], options: Options) -> _Read:
    """Read and plan changed topic folders and render the Markdown of their posts, in
    parallel when there are many."""
    result = _Read()
    parts = slices(folders, options.jobs, most=200) if len(folders) >= 64 else [folders]
    for part in fork_map(
        lambda part: _read_part(config, cache, part, keep_going=options.keep_going),
        parts,
        options.jobs,
        cache.reopen,
    ):
        result.topics += part.topics
        result.problems += part.problems
        result.drafts += part.drafts
    result.topics.sort(key=lambda t: t.name)
    return result


def _read_part(
    config: Config, cache: BuildCache, folders: Sequence[Folder], *, keep_going: bool
) -> _Read:
    """Read, render and plan some topic folders (in a worker), and stage them in the build
    cache: only what the rest of the build needs comes back."""
    result = _Read()
    problems = Problems(config.site_dir)
    staged: list[StagedTopic] = []
    authored_rows: list[StagedAuthored] = []
    for name, signature in folders:
        found = len(problems.items)
        previous = cache.topics.data(name)
        topic, stats = read_folder(config, problems, name, previous, keep_going=keep_going)
        if topic is None:
            continue
        if not published(config, topic):  # read, so its problems are found, and left out
            result.drafts.append((name, topic.category, topic.category_line))
            continue
        rendered = _render_topic(config, cache, topic, problems, keep_going=keep_going)
        if rendered is None:
            continue
        if len(problems.items) > found:  # built without what is broken: read it again
            signature = ""  # next time, so that it is reported again
        cached = cacheable(rendered, stats)
        plan, authored = pages.topic_plan(cached[0], config.posts_per_page)
        staged.append(StagedTopic(name, signature, cached, plan))
        authored_rows += [StagedAuthored(name, a, item) for a, item in authored.items()]
        digests = {a: i.digest for a, i in authored.items()}
        result.topics.append(_Fresh(name, plan.entry, digests, len(rendered.posts)))
    cache.topics.stage(staged, authored_rows)
    result.problems = problems.items
    return result


def _render_topic(
    config: Config, cache: BuildCache, topic: Topic, problems: Problems, *, keep_going: bool
) -> Topic | None:
    """Render the Markdown of the topic's posts not cached yet; returns the topic without
    the posts that could not be rendered (with keep_going), or None if it must go."""
    # Posts reused from the cache come without bodies: their HTML is cached already.
    unseen = {p.digest: p for p in topic.posts if p.body}
    html: dict[str, str] = {}
    failing = _render(config, unseen, cache.html.missing(unseen), html)
    # Rendered Markdown is keyed by its source, so storing it is right even if the build
    # stops on a problem elsewhere; stored topic by topic, so a build that dies keeps
    # what it rendered.
    if html:
        cache.html.store(html.items())
    for digest, reason in _as_text(config, unseen).items():
        # Rendered all the same (as plain text), but named, and named again next time.
        problems.add(
            config.site_dir / unseen[digest].path,
            1,
            f"the text is too complex for Markdown ({reason}): it is shown as plain text",
        )
    if not failing:
        return topic
    for post in topic.posts:
        if post.digest in failing:
            problems.add(
                config.site_dir / post.path,
                1,
                f"the text cannot be rendered: {failing[post.digest]}",
            )
    if not keep_going or topic.posts[0].digest in failing:
        return None
    return dataclasses.replace(topic, posts=[p for p in topic.posts if p.digest not in failing])


def _misplaced(
    config: Config,
    categories: list[Category],
    drafts: list[tuple[str, str, int]],
    entries: Iterable[pages.Entry],
    problems: Problems,
) -> set[str]:
    """Topics (drafts included) that name no known category, each with a problem."""
    known = {c.slug for c in categories}
    failed = set()
    for name, category, line in drafts:
        if not check_category(config, name, category, line, known, problems):
            failed.add(name)
    for entry in entries:
        if not check_category(
            config, entry.slug, entry.category, entry.category_line, known, problems
        ):
            failed.add(entry.slug)
    return failed


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


def _bytes(path: Path) -> bytes:
    return path.read_bytes() if path.is_file() else b""


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
    authors = [f"u/{author}/index.html" for author in plan.site.cache.authored.authors()]
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
        folders=frozenset({*(f"t/{slug}/" for slug in plan.slugs), SEARCH_FOLDER}),
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
