"""The build pipeline: load -> model -> plan pages -> render -> write.

A `Build` holds what every phase needs (config, build cache, output folder, what the last
build wrote, options), and `Build.run` is the list of its phases: scan, up_to_date, load,
plan, statics, templates, wipe, indexing, render_and_tokenize, index, sitemaps, assets,
sweep, remember, report.
Nothing is written until the whole site has loaded without a problem, so a broken file
leaves `output/` exactly as it was. With the build cache (`.forumgen/cache.sqlite`),
unchanged files are not re-read, Markdown is rendered once per distinct body, and only
pages whose fingerprint changed are rendered again. Reading topic folders is
readtopics.py's job, rendering pages render.py's, and what output/ may hold claims.py's.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import os
import posixpath
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import version
from pathlib import Path

import jinja2
import markdown
import pygments

from . import (
    __version__,
    archive,
    authors,
    bodies,
    changes,
    chars,
    cmark,
    indexes,
    leftout,
    mailbody,
    markup,
    model,
    pages,
    readtopics,
    render,
    search,
    sitestatic,
    theme,
)
from .bodies import mail_labels
from .cache import SCHEMA, BuildCache
from .claims import claimed, refuse_dangerous_output, theme_assets
from .config import Config, read_config
from .errors import Problem, Problems, SiteError
from .loader import (
    Scan,
    check_redirects,
    distinct_folders,
    load_site,
    read_authors,
    read_categories,
    rescan,
    scan,
)
from .locks import build_lock, file_lock, output_state_dir, state_dir
from .model import Author, Category, Post, Site, Topic, TopicSummary
from .output import (
    OutputDir,
    PageRecord,
    Tally,
    Written,
    clock_of,
    folder_mtimes,
    remove_stale,
    scratch_for,
    vouched,
)
from .owner import SITE, Kind, Owner
from .parallel import default_jobs, fork_map, slices
from .readtopics import Fresh, misplaced, read_topics
from .render import PageSource, RenderedHtml, render_part, try_templates
from .searchindex import Change, Indexer, Pass

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
    left_out: tuple[Problem, ...] = ()
    """With keep_going: the problems found in what the build left out."""
    strays: tuple[str, ...] = ()
    """Files removed from the output that the build had not made (counted in `removed`):
    someone put them there by hand, and a file to keep belongs in static/."""
    phases: tuple[tuple[str, float], ...] = ()
    """Each phase the build went through, in order, with the seconds it took."""

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
    # Its cache started empty: every topic published was read.
    posts = sum(f.posts for f in loaded.fresh)
    return Checked(len(loaded.categories), len(loaded.fresh), posts)


@dataclass(frozen=True)
class Options:
    """How to build, as the command line asks."""

    clean: bool = False
    """Render every page and write the output folder afresh."""
    jobs: int = 1
    progress: Progress | None = None
    keep_going: bool = False
    """Leave out broken topics and replies instead of stopping (see `build`)."""
    changed: frozenset[str] | None = None
    """The only topic folders whose files changed since the last build, as the writer of
    the changes says; None: every folder is scanned."""
    topics_written: Callable[[], None] | None = None
    """Called once the pages of the topics read again, and of their authors, are on disk,
    before the listings, feeds, sitemaps and search index: the page a writer waits for
    (the intake answers a browser's post then) is on its topic's page."""


def build(
    site_dir: Path,
    output: Path | None = None,
    base_url: str | None = None,
    clean: bool = False,
    jobs: int = 1,
    progress: Progress | None = None,
    keep_going: bool = False,
    drafts: bool = False,
    changed: Iterable[Path | str] | None = None,
    topics_written: Callable[[], None] | None = None,
) -> BuildReport:
    """Build the site; builds of one site never overlap, whichever process starts them.
    A problem in the content stops the build before anything is written, unless
    `keep_going`: then broken topics and replies are left out, the rest is built, and the
    report lists what was left out (so does leftout.last). A problem in a file every page
    depends on (config, theme, categories.yaml, authors.yaml) stops it anyway. Drafts
    are left out (their problems still count), unless `drafts`: then they are built,
    marked as drafts (a preview).

    `changed`: the files changed since the last build (relative to the site's folder, or
    absolute; deleted ones too), when whoever changed them knows: then only their topic
    folders are scanned, the others are taken as the last build saw them, and the output
    is what a full build would make of the same files. Without a usable scan of the last
    build (none, another output folder, a build stopped or left something out), or for a
    file outside the topic folders, everything is scanned. Raises changes.OutsideSite
    for a path outside the site's folder. `topics_written`: see Options."""
    site_dir = site_dir.resolve()
    folders = None if changed is None else changes.folders_of(site_dir, changed)
    options = Options(
        clean=clean,
        jobs=jobs,
        progress=progress,
        keep_going=keep_going,
        changed=folders,
        topics_written=topics_written,
    )
    with file_lock(build_lock(site_dir)):
        config = _config(site_dir, base_url, drafts=drafts)
        out = (output or site_dir / "output").resolve()
        refuse_dangerous_output(out, config)
        state = output_state_dir(site_dir, out)
        cache = BuildCache(state, cache_key(config))
        try:
            with _collecting_less():
                return Build(config, out, cache, options, state).run()
        finally:
            cache.close()


@contextmanager
def _collecting_less() -> Iterator[None]:
    """Let Python's cycle collector run less often during a build. A build holds objects
    by the hundred thousand until it ends (a record of every output file, every topic's
    listing entry) and makes few cycles; at the default thresholds the collector walks
    them again and again: a tenth of a one-reply build's CPU at 10,000 topics (3.4 ->
    3.1 CPU s)."""
    before = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


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
                Path(archive.__file__).read_bytes(),
                Path(authors.__file__).read_bytes(),
                Path(indexes.__file__).read_bytes(),
                Path(search.__file__).read_bytes(),
                Path(model.__file__).read_bytes(),  # slugs: author and tag pages
                Path(readtopics.__file__).read_bytes(),  # which posts are rendered, and how
                Path(render.__file__).read_bytes(),
                [f.name for f in dataclasses.fields(Post)],
                [f.name for f in dataclasses.fields(Topic)],
                [f.name for f in dataclasses.fields(TopicSummary)],
                config.markdown,
                markdown.__version__,
                cmark.VERSION,
                pygments.__version__,
                version("nh3"),  # the sanitizer: its output is cached
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
    rescanned: frozenset[str] | None
    """The topic folders that may differ from the last build's scan (those the writer
    named, or those a full scan found changed, added or gone); None: any of them."""


@dataclass
class _Loaded:
    """The site as loaded by this build: topics read again are staged in the build
    cache, the others are known by their cached listing entries."""

    categories: list[Category]
    profiles: dict[str, Author]
    fresh: list[Fresh]
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
        self.phases: list[tuple[str, float]] = []
        """Each phase so far, with its seconds (`lap`)."""
        self.config = config
        self.out = out
        self.cache = cache
        self.options = options
        self.state = state
        self.marker = state / "build-running"
        self.interrupted = self.marker.exists()
        """The last build was killed: every file is checked."""
        self.html = RenderedHtml(cache.html, config)
        self.previous: dict[str, PageRecord] = {}
        """What the last build into this output wrote of what this one makes again: all
        of it (nothing for a clean build), or, for a build told what changed, only the
        files of the topics and authors planned again and of the whole site (see
        `partial`)."""
        self.partial = False
        """Only what changed is planned again: the pages of the other topics and authors
        are left as they are, without reading their records."""
        self.made: Collection[str] = ()
        """The files the last build wrote, as far as this one looks (for strays)."""
        self.counts: dict[str, int] = {}
        """The pages the sitemap lists of each kind, after this build."""
        self.left_alone = 0
        """Files left as they were without even reading their records."""
        self.looked_at: dict[str, int | None] = {}
        """Output folders whose files `output_whole` looked at and found whole, with the
        mtimes they had before it looked."""

    def run(self) -> BuildReport:
        """The phases of a build, in order; an up-to-date output stops it after the scan.
        Each is timed as it ends (`lap`, for `forumgen build --timings`)."""
        inputs = self.scan()
        self.lap("scan")
        if self.up_to_date(inputs):
            # The scan is the last build's (the fingerprints say so): trust it again.
            self.cache.scanned.trust(self.out)
            self.vouch_for_looked_at()
            self.lap("check the output is up to date")
            return self.report(self.untouched(), [], left_out=[])
        loaded = self.load(inputs)
        self.lap("read topics")
        plan = self.plan(loaded, inputs)
        self.lap("plan topics and authors")
        statics = self.statics(plan, inputs.statics)
        env = self.templates(plan)
        wiped, empty = self.wipe()
        indexing = self.indexing(plan)
        self.lap("prepare templates, static files and search")
        done = self.render_and_tokenize(env, plan, indexing)
        done.add(self.index(plan, indexing))
        self.lap("write the search index")
        done.add(self.sitemaps(env, plan, done.records))
        self.lap("sitemaps")
        done.add(self.assets(plan, statics))
        removed = self.sweep(done.records, wiped, empty)
        self.remember(inputs, plan, done.records)
        self.lap("assets, removals and the build cache")
        return self.report(done, removed, left_out=plan.left_out)

    def lap(self, phase: str) -> None:
        """Record that `phase` ended now: it took the time since the last one ended."""
        before = sum(seconds for _, seconds in self.phases)
        self.phases.append((phase, time.monotonic() - self.started - before))

    @cached_property
    def recorded(self) -> list[str]:
        """The files the last build into this output wrote."""
        return self.cache.pages.files(self.out)

    def renders_all(self, inputs: _Inputs) -> bool:
        """Whether every page renders, whatever its fingerprint."""
        return (
            self.options.clean
            or self.interrupted
            or not self.cache.pages.known(self.out)
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
        scanned, rescanned = self.scan_topics()
        statics = sitestatic.site_files(config)
        # The site's own static files are copied, not rendered: only this changes for them.
        whole = pages.fingerprint(site_wide, scanned.signature, sitestatic.signature(statics))
        return _Inputs(scanned, statics, site_wide, whole, rescanned)

    def scan_topics(self) -> tuple[Scan, frozenset[str] | None]:
        """Stat the topic folders that changed, when the writer said which and the last
        build's scan is there to take the others from; else stat them all. Returns the
        scan and the folders that may differ from the last build's scan (None: any, there
        is none to compare with); a plain build finds those itself."""
        names = self.options.changed
        previous = None
        # A build that left something out must look at everything again.
        if not (self.options.clean or self.interrupted) and self.cache.meta("inputs"):
            previous = self.cache.scanned.signature(self.out)
        # Until this build ends, whatever changed is in no stored scan: a build that
        # stops before its end leaves the next one to scan everything.
        self.cache.scanned.forget()
        # A folder named like another but for case is a problem a full scan reports.
        if previous is None or (names is not None and self.cache.scanned.clashing(names)):
            return scan(self.config, self.options.jobs), None
        if names is None:
            found = scan(self.config, self.options.jobs)
            before = self.cache.scanned.folders().items()
            return found, frozenset(name for name, _ in set(before) ^ set(found.folders))
        return rescan(self.config, previous, self.cache.scanned.folders(names), names), names

    def up_to_date(self, inputs: _Inputs) -> bool:
        """Nothing a page is made from changed since the last build, which left every
        file in place: no need to even read the cached model."""
        if self.options.clean or self.interrupted or self.cache.meta("inputs") != inputs.whole:
            return False
        return bool(self.recorded) and self.output_whole

    @cached_property
    def output_whole(self) -> bool:
        """Whether every file the last build wrote is still in the output (a plain build
        is how a user repairs an output someone deleted files from). Looked at once: a
        build that finds nothing changed but a file missing asks again when it plans."""
        out = OutputDir(self.out, None)
        stored = self.cache.pages.folders(self.out)
        # Only the files of folders whose mtime changed since the last build are looked
        # at: a deletion changes its folder's mtime (a third of the cost at 75,000 files).
        mtimes = folder_mtimes(self.out, stored)
        trusted = {
            folder
            for folder, mtime in mtimes.items()
            if mtime is not None and mtime == stored[folder] >= 0
        }
        whole = all(
            out.has(file) for file in self.recorded if posixpath.dirname(file) not in trusted
        )
        if whole:
            self.looked_at = {
                folder: mtime
                for folder, mtime in mtimes.items()
                if folder not in trusted and mtime is not None
            }
        return whole

    def vouch_for_looked_at(self) -> None:
        """Record the mtimes of the folders an up-to-date build found whole without
        trusting them (changed, or written by a build told what changed, which looked at
        no other file there): the next plain build trusts them instead of looking at each
        of their files again (at M, after the intake's builds, the check took 0.24 s of
        each plain build that changed nothing, and takes 0.13 s once they are vouched
        for). Their mtimes were read before their files were looked at, so a deletion
        since shows."""
        if self.looked_at:
            clock = clock_of(scratch_for(self.out, state_dir(self.config.site_dir)))
            self.cache.pages.store_folders(vouched(self.looked_at, clock), whole=False)

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
        told = None if inputs.scan.whole else {name for name, _ in inputs.scan.folders}
        if replan_all and told is not None:  # every folder, as the last scan saw the others
            stored = cache.scanned.folders().items()
            folders = sorted(
                ({n: sig for n, sig in stored if n not in told} | dict(folders)).items()
            )
            told = None
        known = cache.topics.signatures(None if told is None else inputs.rescanned)
        changed = [(name, sig) for name, sig in folders if replan_all or known.get(name) != sig]
        gone = set(known) - {name for name, _ in folders}
        cache.topics.drop_staged()  # what a build that stopped on a problem had staged
        fresh = read_topics(
            config, cache, changed, jobs=self.options.jobs, keep_going=self.options.keep_going
        )
        problems.items += fresh.problems
        # A topic that became a draft goes as if deleted. Drafts are never cached, so
        # they are read again by each build that reads anything: there are few.
        drafts = {name for name, _, _ in fresh.drafts}
        gone |= drafts & set(known)
        read = {f.name: f.entry for f in fresh.topics}
        failed = {name for name, _ in changed} - read.keys() - drafts
        # The other topics published are the cached ones (not read again) but those gone.
        others = _Cached(cache, gone | read.keys())
        checked = [*self._unknown_category(categories, others), *read.values()]
        failed |= misplaced(config, categories, fresh.drafts, checked, problems)
        published = _Published(read.keys(), others)
        failed |= check_redirects(config, self._claims(read, others), published, problems)
        if not self.options.keep_going or site_wide:
            problems.raise_if_any()
        elif failed:  # left out: their cached versions go too, so the next build reads them
            cache.topics.unstage(failed)
            gone |= failed & set(known)
            fresh.topics = [f for f in fresh.topics if f.name not in failed]
        return _Loaded(categories, profiles, fresh.topics, gone, problems.items, shape, replan_all)

    def _unknown_category(self, categories: list[Category], others: _Cached) -> list[pages.Entry]:
        """The entries of the `others` (taken as the last build read them) whose category
        is not in categories.yaml: none, unless the file changed since."""
        known = {f"c/{c.slug}/" for c in categories}
        listings = self.cache.listings
        suspects = {
            slug
            for base in listings.counts("c/").keys() - known
            for slug in listings.slugs(base)
            if slug in others
        }
        return list(self.cache.topics.entries_of(suspects).values())

    def _claims(self, read: dict[str, pages.Entry], others: _Cached) -> list[tuple[str, list[str]]]:
        """(slug, old paths) of every topic with redirect pages: those `read` by this
        build as they are now, the `others` as the last build read them."""
        cached = [e for e in self.cache.listings.redirecting() if e.slug in others]
        return [
            (e.slug, [path for path, _ in e.redirects])
            for e in [*cached, *read.values()]
            if e.redirects
        ]

    def plan(self, loaded: _Loaded, inputs: _Inputs) -> _Plan:
        """Take the topics read into the cache, and plan what to render: the pages of the
        topics read again and of the authors who wrote in them, then (when first needed)
        listings and feeds from the cache's listings. The pages of the others are
        carried over."""
        cache = self.cache
        # From here on the cache changes: a build killed before the end must be redone whole.
        self.marker.touch()
        replanned = {f.name for f in loaded.fresh} | loaded.gone
        was = cache.topics.entries_of(replanned)
        named = self._tag_names([*was.values(), *(f.entry for f in loaded.fresh)])
        dirty = self._commit(loaded, replanned)
        out = OutputDir(self.out, scratch_for(self.out, state_dir(self.config.site_dir)))
        render_all = self.renders_all(inputs)
        again_authors = {Owner(Kind.AUTHOR, slug) for slug in dirty}
        again = {Owner(Kind.TOPIC, slug) for slug in replanned} | again_authors
        self.read_previous(again, render_all=render_all or loaded.replan_all, told=inputs)
        site = PageSource(
            self.config,
            cache,
            self.html,
            categories=loaded.categories,
            profiles=loaded.profiles,
            out=out,
            previous=self.previous,
            render_all=render_all,
        )
        listings = cache.listings
        now = cache.topics.entries_of(replanned)

        def plan_site() -> tuple[list[pages.Page], dict[str, PageRecord]]:
            scope = None
            if self.partial:  # after the topics' pages render: the records take 0.04 s at L
                self.previous.update(cache.pages.owned([SITE]))
                scope = self._scope(replanned, was, now, named)
            planned = pages.site_pages(
                listings, site.summaries, loaded.categories, self.config, site.people(), scope
            )
            if scope is None:
                return planned, {}
            return planned, _carried_listings(self.previous, scope, {p.file for p in planned})

        carried: dict[str, PageRecord] = {}
        if render_all:
            owners = [Owner(Kind.TOPIC, slug) for slug in cache.topics.slugs()]
            owners += [Owner(Kind.AUTHOR, slug) for slug in sorted(cache.authored.authors())]
        elif self.partial:
            fresh = {Owner(Kind.TOPIC, f.name) for f in loaded.fresh}
            owners = sorted(fresh | again_authors, key=lambda o: o.text)
        else:
            carried, missing = self._carried(again, out)
            fresh = {Owner(Kind.TOPIC, f.name) for f in loaded.fresh}
            owners = sorted(fresh | again_authors | missing, key=lambda o: o.text)
        redirecting = listings.redirecting()
        return _Plan(
            site=site,
            plan_site=plan_site,
            owners=owners,
            carried=carried,
            redirecting=Owner(Kind.TOPIC, redirecting[0].slug) if redirecting else None,
            redirects=[path for e in redirecting for path, _ in e.redirects],
            left_out=loaded.left_out,
            published=cache.topics.slugs,
            changed={f.name for f in loaded.fresh},
            same=self.partial and was.keys() == now.keys(),
            replanned_all=loaded.replan_all,
            render_all=render_all,
        )

    def _commit(self, loaded: _Loaded, replanned: set[str]) -> set[str]:
        """Make the topics read the cached ones; returns the authors of whom what they
        wrote in the topics read or gone changed."""
        before = self.cache.authored.digests(replanned)
        self.cache.topics.commit_staged(loaded.gone)
        after = {
            (f.name, author): digest for f in loaded.fresh for author, digest in f.authored.items()
        }
        self.cache.set_meta("shape", loaded.shape)
        return {key[1] for key in before.keys() | after.keys() if before.get(key) != after.get(key)}

    def read_previous(self, again: set[Owner], *, render_all: bool, told: _Inputs) -> None:
        """Read what the last build wrote: for a build that knows what changed (told by
        the writer, or found by its scan in an output that lacks none of the last
        build's files), only the records of the topics and authors `again` (those of the
        whole site's pages once it plans them, and the search index those of its files
        it may write or keep, once it knows which: see searchindex.Pass.previous); else
        all of them, so that a full scan also finds the files someone deleted from the
        output."""
        self.partial = (
            told.rescanned is not None
            and not render_all
            and (self.options.changed is not None or self.output_whole)
        )
        if self.partial:
            self.previous = self.cache.pages.owned(again)
            self.made = self.previous.keys()
        elif self.options.clean:
            self.made = self.recorded
        else:
            self.previous = self.cache.pages.records(self.out)
            self.made = self.previous.keys()

    def _tag_names(self, entries: list[pages.Entry]) -> dict[str, str]:
        """The name of each tag of `entries`, by base, as the cache's listings give it."""
        bases = {b for e in entries for b in pages.listed_in(e) if b.startswith("tag/")}
        return {base: self.cache.listings.tag_name(base) for base in sorted(bases)}

    def _scope(
        self,
        touched: set[str],
        was: dict[str, pages.Entry],
        now: dict[str, pages.Entry],
        named: dict[str, str],
    ) -> pages.Scope:
        """The listings and archive months that the topics read again or gone were in
        (`was`: their entries before this build) or are in `now`; an archive is planned
        whole where it came or went, and where its tag's name changed (`named`: the
        names before this build)."""
        listings = {""}  # latest, whatever changed: its pages are not all listings
        months: set[pages.Month] = set()
        gained: dict[str, int] = {}  # listing -> topics it gained
        for slug in touched:
            for entry, sign in ((was.get(slug), -1), (now.get(slug), 1)):
                if entry is not None:
                    months.add(entry.month)
                    for base in pages.listed_in(entry):
                        listings.add(base)
                        gained[base] = gained.get(base, 0) + sign
        kept = self.config.listing_pages * self.config.topics_per_page
        whole = set()
        for base, n in gained.items():
            size = self.cache.listings.size(base)
            if n and (size > kept) != (size - n > kept):
                whole.add(base)
        whole |= {b for b, name in named.items() if self.cache.listings.tag_name(b) != name}
        return pages.Scope(frozenset(listings), frozenset(months), frozenset(whole))

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
        claims = claimed(
            self.config,
            plan.site_pages,
            self.cache.authored.authors(),
            plan.redirects,
            plan.slugs,
        )
        problems = sitestatic.clashes(statics, claims)
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
        # A build reads its templates once: not a stat of the template per page rendered.
        env.auto_reload = False
        if plan.render_all:
            try_templates(env, plan.samples())
        return env

    def wipe(self) -> tuple[list[str], bool]:
        """For a clean build, empty the output folder first; returns what was there, and
        whether the folder is empty now (nothing is written before this phase)."""
        wiped = []
        if self.options.clean and self.out.exists():
            wiped = remove_stale(self.out, keep=set())
        self.out.mkdir(parents=True, exist_ok=True)
        with os.scandir(self.out) as entries:
            empty = next(entries, None) is None
        return wiped, empty

    def indexing(self, plan: _Plan) -> Pass | None:
        """What the search index needs redone: the topics that changed (all of them when
        it is written whole), and which of them render, to be tokenized as they do.

        With `search: false` there is no index: the sweep removes the files the last
        build wrote, and the cache of the index goes, so that turning search on again
        writes it whole, as a clean build would."""
        if not self.config.search:
            if self.cache.meta("search_bits"):
                self.cache.search.clear()
                self.cache.set_meta("search_bits", "")
            return None
        change = Change(
            lambda: plan.slugs,
            plan.changed,
            plan.same,
            full=plan.replanned_all,
            previous=self.previous,
            partial=self.partial,
        )
        rendered = {o.key for o in plan.owners if o.kind is Kind.TOPIC}
        return self._indexer(plan).start(change, rendered)

    def _indexer(self, plan: _Plan) -> Indexer:
        return Indexer(self.config, self.cache, plan.site.out, self.options.jobs)

    def render_and_tokenize(
        self, env: jinja2.Environment, plan: _Plan, indexing: Pass | None
    ) -> Tally:
        """Render what is due, in forked workers when there is enough of it, and tokenize
        for the search index the topics it redoes as their pages render; the pages
        carried over are counted as unchanged. Topics' and authors' pages come first:
        after a post, its topic's page is the one its writer waits for."""
        done = Tally()
        for file, record in plan.carried.items():
            done.keep(file, record)
        # Planned pages are counted from the start when planned already (every page renders).
        owners = len(plan.owners)
        expected = len(plan.site_pages) if plan.render_all else 0
        self._render_items(env, plan, indexing, plan.owners, done, (0, owners + expected))
        self.lap("render topics and authors")
        if self.options.topics_written:
            self.options.topics_written()
        site_pages, carried = plan.site_part
        for file, record in carried.items():
            done.keep(file, record)
        items: list[pages.Page | Owner] = []
        for page in site_pages:  # cheap to check here; most are not due on a small change
            record, due = plan.site.due(page)
            if due:
                done.records[page.file] = record
                items.append(page)
            else:
                done.keep(page.file, record)
        self.lap("plan site pages")
        self._render_items(env, plan, indexing, items, done, (owners, owners + len(items)))
        self.lap("render site pages")
        return done

    def _render_items(
        self,
        env: jinja2.Environment,
        plan: _Plan,
        indexing: Pass | None,
        items: Sequence[pages.Page | Owner],
        done: Tally,
        progress: tuple[int, int],
    ) -> None:
        """Render `items` into `done`; `progress`: the items rendered before these, and
        of all items to render, as far as known."""
        # Forking workers costs more than rendering a handful of pages.
        jobs = self.options.jobs if len(items) >= 64 else 1
        finished, total = progress
        for size, result in fork_map(
            lambda part: (len(part), self._render_part(env, plan, indexing, part)),
            slices(items, jobs),
            jobs,
            self.cache.reopen,
        ):
            done.add(result)
            finished += size
            if self.options.progress:
                self.options.progress(finished, total)

    def _render_part(
        self,
        env: jinja2.Environment,
        plan: _Plan,
        indexing: Pass | None,
        items: Sequence[pages.Page | Owner],
    ) -> Tally:
        """Render some items; a topic the search index redoes is tokenized right after
        its pages, from the topic and HTML loaded for them, instead of being loaded again
        by the index phase."""
        indexer = self._indexer(plan)
        done = Tally()
        rows = []
        streamed = indexing.streamed if indexing else frozenset()
        for item in items:
            done.add(render_part(env, plan.site, [item]))
            if isinstance(item, Owner) and item.kind is Kind.TOPIC and item.key in streamed:
                assert indexing is not None
                topic = plan.site.load(item.key)
                rows.append(indexer.tokenize(indexing, item.key, topic, plan.site.html, done))
                if len(rows) == 50:  # the postings of a few topics held, not of a whole part
                    indexer.store(rows)
                    rows = []
        indexer.store(rows)
        return done

    def index(self, plan: _Plan, indexing: Pass | None) -> Tally:
        """Bring the search index up to date: the topics to redo that did not render,
        then the terms, shards and `index.json`."""
        if indexing is None:
            return Tally()
        return self._indexer(plan).finish(indexing)

    def sitemaps(
        self, env: jinja2.Environment, plan: _Plan, current: dict[str, PageRecord]
    ) -> Tally:
        """Sitemaps list every page with its lastmod, so they come last. A build that
        planned only what changed writes only the sitemap parts listing pages that
        changed, from what the build cache keeps of each part, and when a kind of page
        gets a part more or less, the parts that split or join (all of them when the
        sitemap goes to or from one sitemap.xml, or the cache's parts are unknown)."""
        if not self.partial:
            listed = [
                pages.Listed(r.path, r.lastmod) for r in current.values() if r.lastmod is not None
            ]
            self.counts = pages.sitemap_counts(item.path for item in listed)
            return render_part(env, plan.site, pages.sitemaps(listed))
        self._adopt(current)
        before = self.cache.pages.counts()
        counts, touched = self._listing_changes(current, before or {})
        self.counts = counts
        layout = pages.sitemap_layout(counts)
        moved = (
            None if before is None else pages.sitemap_moved(pages.sitemap_layout(before), layout)
        )
        if moved is None:
            everything = self._listed_now(current)
            return render_part(env, plan.site, pages.sitemaps(list(everything.values())))
        parts = moved | {pages.sitemap_part(path, layout) for path in touched}
        grouped: dict[str, list[pages.Listed]] = {}
        for item in self._listed_now(current, parts).values():
            name = pages.sitemap_part(item.path, layout)
            if name in parts:
                grouped.setdefault(name, []).append(item)
        planned = self._sitemap_files(layout, parts, grouped)
        done = render_part(env, plan.site, planned)
        for name in _part_names(layout):
            record = self.previous.get(name)
            if name not in parts and record is not None and name not in done.records:
                done.keep(name, record)
        return done

    def _sitemap_files(
        self, layout: pages.Layout, parts: set[str], grouped: dict[str, list[pages.Listed]]
    ) -> list[pages.Page]:
        """The sitemap files to write again: the one sitemap.xml, or those of `parts`
        that list pages (`grouped`) and the index, with the newest lastmod the cache
        keeps of each other part."""
        if not layout:  # one sitemap.xml lists every page, written even if empty
            listed = grouped.get("sitemap.xml", [])
            return [pages.sitemap_file("sitemap.xml", listed)] if parts else []
        planned = [pages.sitemap_file(name, grouped[name]) for name in sorted(grouped)]
        newest = {name: max(item.stamp for item in listed) for name, listed in grouped.items()}
        for name in _part_names(layout):
            stamp = None if name in parts else self.cache.pages.newest(name)
            if stamp is not None:
                newest[name] = stamp
        return [*planned, pages.sitemap_index(newest)]

    def _adopt(self, current: dict[str, PageRecord]) -> None:
        """Read the records of the files this build made that the last one wrote for
        an owner not planned again (a file that changed hands), as if planned again."""
        fresh = [file for file in current if file not in self.previous]
        self.previous.update(self.cache.pages.of_files(fresh))

    def _listing_changes(
        self, current: dict[str, PageRecord], before: dict[str, int]
    ) -> tuple[dict[str, int], list[str]]:
        """The pages the sitemap lists of each kind after this build, from those before
        it, and the paths of the pages whose listing changed (listed or not, lastmod)."""
        counts = dict(before)
        touched = []
        for file, record in self.previous.items():
            if record.lastmod is not None:
                kind = pages.sitemap_kind(record.path)
                counts[kind] = counts.get(kind, 0) - 1
                now = current.get(file)
                if now is None or (now.path, now.lastmod) != (record.path, record.lastmod):
                    touched.append(record.path)
        for file, record in current.items():
            if record.lastmod is not None:
                kind = pages.sitemap_kind(record.path)
                counts[kind] = counts.get(kind, 0) + 1
                was = self.previous.get(file)
                if was is None or (was.path, was.lastmod) != (record.path, record.lastmod):
                    touched.append(record.path)
        return {kind: n for kind, n in sorted(counts.items()) if n}, touched

    def _listed_now(
        self, current: dict[str, PageRecord], parts: Collection[str] | None = None
    ) -> dict[str, pages.Listed]:
        """File -> path and lastmod of the pages the sitemap lists now (all, or at least
        those of some parts of it): the last build's, with what this build planned in
        their place. A page in one of `parts` now was in one of them in the last build
        too, or is planned by this one (see pages.sitemap_moved)."""
        listed = self.cache.pages.listed(parts)
        for file in [f for f in listed if f in self.previous]:
            del listed[file]
        for file, record in current.items():
            if record.lastmod is not None:
                listed[file] = pages.Listed(record.path, record.lastmod)
        return listed

    def assets(self, plan: _Plan, statics: list[sitestatic.SiteFile]) -> Tally:
        """Copy the theme's static files and the site's own."""
        done = Tally()
        copied = [*theme_assets(self.config), *((f.name, f.source) for f in statics)]
        for target, source in copied:
            data = source.read_bytes()
            record = PageRecord(target, sitestatic.digest(data), None, SITE)
            if self.previous.get(target) == record and (self.out / target).is_file():
                done.keep(target, record)
            else:
                done.write(plan.site.out, target, data, record)
        return done

    def sweep(self, current: dict[str, PageRecord], wiped: list[str], empty: bool) -> list[str]:
        """Remove the files the build no longer makes: those the last build wrote, when
        known; none, when the output folder was empty before this build wrote into it;
        else every file of the output folder not made now. Returns them, with those a
        clean build removed and did not write again."""
        written: Collection[str] | None = None
        if empty:
            written = ()  # a first build need not walk the tens of thousands of files it wrote
        elif self.previous and not self.interrupted:
            written = self.previous.keys()
        removed = remove_stale(self.out, current, written)
        return sorted({*removed, *(f for f in wiped if f not in current)})

    def remember(self, inputs: _Inputs, plan: _Plan, current: dict[str, PageRecord]) -> None:
        """Record what this build wrote and from what, for the next one."""
        if self.partial:
            self.left_alone = self.cache.pages.count() - len(self.previous)
        self.cache.pages.store(
            self.out, current, self.previous, self.counts, whole=not self.partial
        )
        if self.partial:  # the folders it wrote or removed files in, and the unvouched
            touched = {f for f, r in current.items() if self.previous.get(f) != r}
            touched |= self.previous.keys() - current.keys()
            folders = {posixpath.dirname(f) for f in touched} | {*self.cache.pages.unvouched()}
        else:
            folders = {posixpath.dirname(f) for f in current}
        mtimes = folder_mtimes(self.out, folders)
        if self.partial and self.options.changed is not None:
            # Told what changed, it looked at no other file of these folders: one deleted
            # by hand since the last build would go unseen. The next plain build looks.
            recorded = {folder: None if m is None else -1 for folder, m in mtimes.items()}
        else:
            clock = clock_of(plan.site.out.scratch)  # read after the mtimes (output.vouched)
            recorded = vouched(mtimes, clock)
        self.cache.pages.store_folders(recorded, whole=not self.partial)
        # After leaving something out, the next build must look again, however unchanged.
        self.cache.set_meta("inputs", "" if plan.left_out else inputs.whole)
        self.cache.set_meta("site_wide", inputs.site_wide)
        self.cache.scanned.store(self.out, inputs.scan, inputs.rescanned)
        self.marker.unlink()
        leftout.record(self.state, plan.left_out)

    def report(self, done: Tally, removed: list[str], *, left_out: list[Problem]) -> BuildReport:
        """What the build did; files it removed that no build had made are strays."""
        made = self.made
        return BuildReport(
            written=done.counts[Written.WRITTEN],
            unchanged=done.counts[Written.UNCHANGED] + self.left_alone,
            removed=len(removed),
            seconds=time.monotonic() - self.started,
            output=self.out,
            rendered=done.rendered,
            left_out=tuple(sorted(left_out)),
            strays=tuple(f for f in removed if f not in made),
            phases=tuple(self.phases),
        )


@dataclass
class _Plan:
    site: PageSource
    plan_site: Callable[[], tuple[list[pages.Page], dict[str, PageRecord]]]
    """Plans the listings, feeds and other pages drawn from the whole site, and returns
    them with the records of the listings' pages carried over as the last build made
    them. Called when first needed: after the topics' pages, unless static files or
    trying the templates need them sooner."""
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
    published: Callable[[], list[str]]
    """Every topic published, by slug (asked for only when needed: see `slugs`)."""
    changed: set[str]
    """Topics read again by this build."""
    same: bool
    """The topics published are those of the last build: this one read again only
    topics published then and still (a partial build's reply or edit)."""
    replanned_all: bool
    render_all: bool
    """Every page renders, whatever its fingerprint."""

    @cached_property
    def slugs(self) -> list[str]:
        """Every topic published, by slug."""
        return self.published()

    @cached_property
    def site_part(self) -> tuple[list[pages.Page], dict[str, PageRecord]]:
        return self.plan_site()

    @property
    def site_pages(self) -> list[pages.Page]:
        """Listings, feeds and the other pages drawn from the whole site."""
        return self.site_part[0]

    def samples(self) -> list[pages.Page]:
        """A page of every kind, to try the templates on before writing anything."""
        owners = [o for o in self.owners if o.kind is Kind.TOPIC][:1]
        owners += [o for o in self.owners if o.kind is Kind.AUTHOR][:1]
        for owner in (self.redirecting, self.site.with_archive()):
            if owner:
                owners.append(owner)
        return [*self.site_pages, *(p for owner in owners for p in self.site.pages_of(owner))]


class _Cached:
    """The topics in the build cache but those `left` (gone, or read again by this
    build), asked one at a time: a build told of one reply does not load every slug."""

    def __init__(self, cache: BuildCache, left: set[str]) -> None:
        self.cache = cache
        self.left = left

    def __contains__(self, slug: object) -> bool:
        return isinstance(slug, str) and slug not in self.left and self.cache.topics.has(slug)


class _Published:
    """Every topic published by this build: those `read` and the cached `others`."""

    def __init__(self, read: Collection[str], others: _Cached) -> None:
        self.read = read
        self.others = others

    def __contains__(self, slug: object) -> bool:
        return slug in self.read or slug in self.others


def _carried_listings(
    previous: dict[str, PageRecord], scope: pages.Scope, planned: set[str]
) -> dict[str, PageRecord]:
    """The records of the listing pages (and their feeds and archives) out of `scope`,
    left as the last build made them."""
    carried = {}
    for file, record in previous.items():
        if record.owner == SITE and file not in planned and not _in_scope(record.path, scope):
            carried[file] = record
    return carried


def _in_scope(path: str, scope: pages.Scope) -> bool:
    """Whether a site-wide page is planned again when it is still made: any but those
    of the listings out of the scope, and of the archive months out of it."""
    parts = path.split("/")
    base = ""
    if parts[0] in ("c", "tag") and len(parts) > 2:
        base, parts = f"{parts[0]}/{parts[1]}/", parts[2:]
    if base not in scope.listings:
        return False
    months = scope.months_of(base)
    if months is None or len(parts) < 4 or parts[0] != "archive":
        return True
    if not (parts[1].isdigit() and parts[2].isdigit()):
        return True
    return (int(parts[1]), int(parts[2])) in months


def _part_names(layout: pages.Layout) -> list[str]:
    """The files of the sitemap for this split: its parts, by name (or sitemap.xml)."""
    if not layout:
        return ["sitemap.xml"]
    return sorted(pages.part_name(kind, b) for kind, count in layout for b in range(count))


def _bytes(path: Path) -> bytes:
    return path.read_bytes() if path.is_file() else b""
