"""Rendering planned pages into bytes: a page through its theme template, the HTML of
post bodies from the build cache (else rendered and remembered), and the pages of topics
and authors planned one owner at a time in the worker that renders them, each rendered
only when it is due.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache, partial

import jinja2

from . import authors, chars, indexes, markup, pages
from .bodies import render_body
from .cache import BuildCache, HtmlStore
from .config import Config
from .errors import Problem, SiteError
from .loader import post_body
from .model import Author, Category, Post, Topic, TopicSummary
from .output import OutputDir, PageRecord, Tally
from .owner import Kind, Owner


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


class PageSource:
    """What planning and rendering the pages of topics and authors needs: built before
    the worker processes fork, so they share it. Topics, plans and what authors wrote
    come from the build cache, one at a time, so no process holds the whole forum."""

    def __init__(
        self,
        config: Config,
        cache: BuildCache,
        html: RenderedHtml,
        *,
        categories: Sequence[Category],
        profiles: dict[str, Author],
        out: OutputDir,
        previous: Mapping[str, PageRecord],
        render_all: bool,
    ) -> None:
        """`previous`: what the last build into this output wrote; `render_all`: every
        page renders, whatever its fingerprint."""
        self.config, self.cache, self.html = config, cache, html
        self.category_of = {c.slug: c for c in categories}
        self.profiles = profiles
        self.out = out
        self.previous = previous
        self.render_all = render_all
        self.load: pages.TopicLoader = lru_cache(maxsize=16)(self._load)
        self.plan: Callable[[str], pages.TopicPlan] = self.cache.topics.plan
        # Listings of the same topics (latest, category, tags) render in the same worker:
        # their summaries are kept, not whole plans (their pages weigh three times more).
        self.summary: Callable[[str], TopicSummary] = lru_cache(maxsize=4096)(self._summary)
        # An author's feed shows posts their page shows too, and renders right after it:
        # what the last page loaded of its author is kept for the next.
        self.last_authored: tuple[str, Mapping[str, pages.Authored]] = ("", {})

    def _load(self, slug: str) -> Topic:
        topic = self.cache.topics.topic(slug)[0]
        self.html.prefetch(topic.posts)
        return topic

    def _summary(self, slug: str) -> TopicSummary:
        return self.plan(slug).summary

    def summaries(self, slugs: Sequence[str]) -> list[TopicSummary]:
        return [self.summary(slug) for slug in slugs]

    def authored(
        self, author: str, shown: Sequence[authors.Listed]
    ) -> Mapping[str, pages.Authored]:
        """What an author wrote in the topics of the posts a page shows, with the HTML of
        those posts prefetched: never all they wrote."""
        topics = {topic for topic, _ in shown}
        kept = self.last_authored[1] if self.last_authored[0] == author else {}
        their = {topic: kept[topic] for topic in topics & kept.keys()}
        their.update(self.cache.authored.of(author, topics - their.keys()))
        self.last_authored = (author, their)
        wanted = {(topic, wrote.post) for topic, wrote in shown}
        self.html.prefetch(
            p
            for a in their.values()
            for p in [*([a.started] if a.started else []), *(v.post for v in a.replies)]
            if (a.topic, p.id) in wanted
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
        return authors.author_pages(
            slug, rows, self.profiles, self.config, partial(self.authored, slug)
        )

    def people(self) -> list[pages.Person]:
        """Every author, as the index of authors lists them."""
        return indexes.people(self.cache.authored.people(), self.profiles)

    def with_archive(self) -> Owner | None:
        """An author whose posts overflow their page, if any (see authors.py)."""
        slug = self.cache.authored.prolific(authors.shown_on_page(self.config))
        return None if slug is None else Owner(Kind.AUTHOR, slug)

    def due(self, page: pages.Page) -> tuple[PageRecord, bool]:
        """The page's record, and whether it must be rendered: its inputs changed, or its
        file is gone, or every page renders."""
        record = PageRecord(page.path, page.fingerprint, _stamp(page.lastmod), page.owner)
        due = (
            self.render_all or self.previous.get(page.file) != record or not self.out.has(page.file)
        )
        return record, due


def render_part(
    env: jinja2.Environment, source: PageSource, items: Sequence[pages.Page | Owner]
) -> Tally:
    """Render the pages among `items` that are due, and the due pages of the topics and
    authors among them."""
    done = Tally()
    for item in items:
        for page in source.pages_of(item) if isinstance(item, Owner) else [item]:
            record, due = source.due(page)
            if due:
                done.write(source.out, page.file, render_page(env, page), record)
                done.rendered += 1
            else:
                done.keep(page.file, record)
        source.html.flush()  # kept by a build that dies later
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


def try_templates(env: jinja2.Environment, planned: Sequence[pages.Page]) -> None:
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


def _stamp(when: datetime | None) -> float | None:
    return None if when is None else when.timestamp()
