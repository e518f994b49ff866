"""Reading the topic folders that changed: each is parsed, its posts' Markdown rendered
and its pages planned in a worker process, and staged in the build cache; only what the
rest of the build needs (listing entries, what each author wrote, problems) comes back.
A post the renderer fails on is that post's problem, never the build's crash.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial

from . import markup, pages
from .bodies import render_body
from .cache import BuildCache, StagedAuthored, StagedTopic
from .config import Config
from .errors import Problem, Problems
from .loader import Folder, cacheable, check_category, prefetch, published, read_folder
from .model import MAIL, Category, Post, Topic
from .parallel import fork_map, slices


@dataclass(frozen=True)
class Fresh:
    """A topic read and planned in this build (the worker that read it staged it in the
    build cache)."""

    name: str
    entry: pages.Entry
    authored: dict[str, str]
    """Author -> digest of what they wrote in the topic."""
    posts: int


@dataclass
class Read:
    """Topic folders read by one worker, and the problems found in them."""

    topics: list[Fresh] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    drafts: list[tuple[str, str, int]] = field(default_factory=list)
    """Draft topics left out of this build: (name, category, line naming it)."""


def read_topics(
    config: Config, cache: BuildCache, folders: list[Folder], *, jobs: int, keep_going: bool
) -> Read:
    """Read and plan changed topic folders and render the Markdown of their posts, in
    parallel when there are many."""
    result = Read()
    parts = slices(folders, jobs, most=200) if len(folders) >= 64 else [folders]
    for part in fork_map(
        lambda part: _read_part(config, cache, part, keep_going=keep_going),
        parts,
        jobs,
        cache.reopen,
    ):
        result.topics += part.topics
        result.problems += part.problems
        result.drafts += part.drafts
    result.topics.sort(key=lambda t: t.name)
    return result


def _read_part(
    config: Config, cache: BuildCache, folders: Sequence[Folder], *, keep_going: bool
) -> Read:
    """Read, render and plan some topic folders (in a worker), and stage them in the build
    cache: only what the rest of the build needs comes back."""
    result = Read()
    problems = Problems(config.site_dir)
    staged: list[StagedTopic] = []
    authored_rows: list[StagedAuthored] = []
    html: dict[str, str] = {}
    # Only folders read whole: of the others, only the files that changed are read.
    topics = config.content_dir / "topics"
    prefetch(str(topics / name) for name, _ in folders if not cache.topics.has(name))
    for name, signature in folders:
        found = len(problems.items)
        previous = cache.topics.data(name)
        topic, stats = read_folder(config, problems, name, previous, keep_going=keep_going)
        if topic is None:
            continue
        if not published(config, topic):  # read, so its problems are found, and left out
            result.drafts.append((name, topic.category, topic.category_line))
            continue
        rendered = _render_topic(config, cache, topic, problems, html, keep_going=keep_going)
        if rendered is None:
            continue
        if len(problems.items) > found:  # built without what is broken: read it again
            signature = ""  # next time, so that it is reported again
        cached = cacheable(rendered, stats)
        plan, authored = pages.topic_plan(cached[0], config.posts_per_page, config.tz)
        staged.append(StagedTopic(name, signature, cached, plan))
        authored_rows += [StagedAuthored(name, a, item) for a, item in authored.items()]
        digests = {a: i.digest for a, i in authored.items()}
        result.topics.append(Fresh(name, plan.entry, digests, len(rendered.posts)))
    # Rendered Markdown is keyed by its source, so storing it is right even if the build
    # stops on a problem elsewhere. Stored once per part, not per topic: the workers
    # write to one database, and a transaction per topic had them waiting on each other's
    # locks for a quarter of their time.
    if html:
        cache.html.store(html.items())
    cache.topics.stage(staged, authored_rows)
    result.problems = problems.items
    return result


def _render_topic(
    config: Config,
    cache: BuildCache,
    topic: Topic,
    problems: Problems,
    html: dict[str, str],
    *,
    keep_going: bool,
) -> Topic | None:
    """Render into `html` the Markdown of the topic's posts neither cached nor in it yet;
    returns the topic without the posts that could not be rendered (with keep_going), or
    None if it must go."""
    # Posts reused from the cache come without bodies: their HTML is cached already.
    unseen = {p.digest: p for p in topic.posts if p.body}
    failing = _render(config, unseen, cache.html.missing(unseen.keys() - html.keys()), html)
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


def misplaced(
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
