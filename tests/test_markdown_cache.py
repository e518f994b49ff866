"""Markdown is rendered once per distinct body and kept in the build cache as soon as it
is rendered: incremental builds, and builds after one that died, render only what is new."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import SiteFactory
from forumgen import build, markup
from forumgen.cache import BuildCache
from forumgen.config import builtin_themes

TOPICS = ("alpha", "beta", "gamma", "delta")
REPLIES = 2


class Renders:
    """Counts the bodies the Markdown renderer is asked for; can die on the nth one."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.real: Callable[[str, markup.Engine], str] = markup.render
        self.sources: list[str] = []
        self.die_at: int | None = None
        monkeypatch.setattr(markup, "render", self)

    def __call__(self, source: str, engine: markup.Engine) -> str:
        if self.die_at is not None and len(self.sources) + 1 == self.die_at:
            raise RuntimeError("the build died here")
        self.sources.append(source)
        return self.real(source, engine)

    def take(self) -> list[str]:
        """What was rendered since the last call, sorted."""
        taken, self.sources = sorted(s.strip() for s in self.sources), []
        return taken


def forum(site: SiteFactory) -> set[str]:
    """Topics whose posts all have bodies of their own, but for one body two replies
    share; returns every distinct body."""
    for slug in TOPICS:
        site.topic(slug, body=f"Opening post of *{slug}*.")
        for n in range(REPLIES):
            site.reply(
                slug, f"r{n}", body=f"Reply {n} in *{slug}*.", date=f"2024-01-0{n + 2}T10:00:00Z"
            )
    site.reply("alpha", "same", body="Reply 0 in *beta*.", date="2024-01-05T10:00:00Z")
    return {f"Opening post of *{slug}*." for slug in TOPICS} | {
        f"Reply {n} in *{slug}*." for slug in TOPICS for n in range(REPLIES)
    }


def test_builds_render_each_new_body_once(
    site: SiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    renders = Renders(monkeypatch)
    bodies = forum(site)
    site.build()
    assert renders.take() == sorted(bodies)
    site.build()
    assert renders.take() == []
    site.reply("beta", "late", body="A *late* reply.", date="2024-03-01T10:00:00Z")
    site.build()
    assert renders.take() == ["A *late* reply."]  # not the opening post of its topic
    site.reply("gamma", "r1", body="Reply 1 in *gamma*, edited.", date="2024-01-03T10:00:00Z")
    site.build()
    assert renders.take() == ["Reply 1 in *gamma*, edited."]
    assert "Reply 1 in <em>gamma</em>, edited." in (site.output / "t/gamma/index.html").read_text(
        encoding="utf-8"
    )


def test_a_build_killed_while_rendering_pages_renders_nothing_again(
    site: SiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build that stops midway leaves every topic to be read again by the next one:
    their Markdown comes from the cache all the same."""
    renders = Renders(monkeypatch)
    forum(site)
    site.build()
    renders.take()
    base = builtin_themes() / "default/templates/base.html"
    override = site.write(
        "themes/default/templates/base.html",
        base.read_text("utf-8").replace(
            "</head>",
            '{% if page.path.startswith("t/gamma/") %}{{ page.nothing.here }}{% endif %}</head>',
            1,
        ),
    )
    result = site.cli("build", "--jobs", "1")
    assert result.exit_code == 1 and "t/gamma/" in result.output, result.output
    override.write_text(base.read_text("utf-8") + "\n", encoding="utf-8")
    site.build()
    assert renders.take() == []


def test_markdown_rendered_before_a_build_died_is_kept(
    site: SiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    renders = Renders(monkeypatch)
    bodies = forum(site)
    per_topic = {slug: {b for b in bodies if f"*{slug}*" in b} for slug in TOPICS}
    renders.die_at = 2 * len(per_topic["gamma"]) + 2  # in the third topic the build reads
    # A renderer failing is the problem of the posts it failed on; the build stops
    # before writing pages, as for any problem.
    result = site.cli("build", "--jobs", "1")
    assert result.exit_code == 1 and "the build died here" in result.output, result.output
    before = set(renders.take())
    finished = {slug for slug, theirs in per_topic.items() if theirs <= before}
    assert len(finished) == 2 and before - {b for s in finished for b in per_topic[s]}, (
        before,
        per_topic,
    )
    renders.die_at = None
    site.build()
    assert renders.take() == sorted(bodies - before)


def test_the_html_store_knows_which_digests_it_holds(tmp_path: Path) -> None:
    """What decides whether a post is rendered again, asked of the real cache file (in
    batches when there are many digests): a digest whose HTML is stored is never missing."""
    cache = BuildCache(tmp_path, "key")
    stored = [f"digest-{n}" for n in range(0, 1200, 2)]
    cache.html.store((digest, f"<p>{digest}</p>") for digest in stored)
    cache.close()
    cache = BuildCache(tmp_path, "key")
    try:
        asked = [f"digest-{n}" for n in range(1200)]
        assert cache.html.cached(asked) == set(stored)
        assert cache.html.missing(asked) == set(asked) - set(stored)
        assert cache.html.missing(stored) == set()
        assert cache.html.of(["digest-2", "digest-3"]) == {"digest-2": "<p>digest-2</p>"}
    finally:
        cache.close()


def test_another_version_of_the_sanitizer_renders_every_body_again(
    site: SiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cached HTML is the sanitizer's output, and another nh3 may clean it otherwise: an
    upgrade of nh3 alone must not leave pages that a clean build would not make."""
    renders = Renders(monkeypatch)
    bodies = forum(site)
    site.build()
    renders.take()
    installed = build.version
    monkeypatch.setattr(
        build, "version", lambda name: "0.0.1" if name == "nh3" else installed(name)
    )
    site.build()
    assert renders.take() == sorted(bodies)
