"""Drafts: `draft: true` keeps a topic or a reply out of `forumgen build` as if its file
did not exist; `build --drafts` shows them, marked; `check` validates them; the intake
takes no reply to a draft topic; incremental builds stay exact across every switch."""

from __future__ import annotations

import shutil
from pathlib import Path

import lxml.html
import pytest
from test_accessibility import FAILING, axe_violations, report
from test_html_valid import errors_in
from test_links import static_server
from tools import npm_file

from browser import chromium
from conftest import SiteFactory, clean_build_of_a_copy, files_of
from forumgen.i18n import STRINGS
from servers import bottle_server, free_port

SECRET_WORDS = (
    b"Quokka",
    b"Zebra",
    b"Wombat",
    b"Secret plan",
    b"old/secret",
    b"old/draft",
    b"hush",
    b"Dana Drafter",
    b"Zed Writer",
)


def with_drafts(site: SiteFactory) -> None:
    """A published topic with a draft reply in its middle, and a draft topic with a
    published reply; two posts a page, so the draft reply would move the last one."""
    site.save_config(posts_per_page=2)
    site.topic("public", title="Public topic", date="2024-01-01T10:00:00Z")
    site.reply("public", "r1", author="Bob", date="2024-01-02T10:00:00Z", body="First answer.")
    site.reply(
        "public",
        "r2",
        author="Dana Drafter",
        date="2024-01-03T10:00:00Z",
        body="Zebra crossing ahead.",
        draft=True,
        redirect_from=["/old/draft-reply"],
    )
    site.reply(
        "public",
        "r3",
        author="Bob",
        date="2024-01-04T10:00:00Z",
        body="Last answer.",
        reply_to="r1",
    )
    site.topic(
        "secret",
        title="Secret plan",
        category="help",
        author="Zed Writer",
        date="2024-03-01T10:00:00Z",
        body="Quokka sightings.",
        tags=["hush"],
        redirect_from=["/old/secret"],
        draft=True,
    )
    site.reply("secret", "s1", author="Bob", date="2024-03-02T10:00:00Z", body="Wombat reply.")


def having(element: lxml.html.HtmlElement, *classes: str) -> list[lxml.html.HtmlElement]:
    """The elements under `element` (itself included) with all of `classes`."""
    test = " and ".join(
        f"contains(concat(' ', normalize-space(@class), ' '), ' {c} ')" for c in classes
    )
    return list(element.xpath(f"descendant-or-self::*[{test}]"))


def badges(element: lxml.html.HtmlElement) -> list[str]:
    return [b.text_content() for b in having(element, "badge", "draft")]


def post(page: lxml.html.HtmlElement, post_id: str) -> lxml.html.HtmlElement:
    found: lxml.html.HtmlElement = page.get_element_by_id(f"p-{post_id}")
    return found


def number(page: lxml.html.HtmlElement, post_id: str) -> str:
    return str(having(post(page, post_id), "post-number")[0].text_content())


def test_a_build_leaves_drafts_out_as_if_their_files_did_not_exist(
    site: SiteFactory, tmp_path: Path
) -> None:
    with_drafts(site)
    site.build()
    built = files_of(site.output)
    assert "t/public/index.html" in built and "t/secret/index.html" not in built
    # Nothing of them anywhere: pages, listings, feeds, sitemap, search index, redirects.
    found = {
        (name, word)
        for name, data in built.items()
        for word in SECRET_WORDS
        if word in data or word.decode().lower().replace(" ", "-") in name
    }
    assert found == set()
    for name in ("index.html", "c/help/index.html", "feed.xml", "sitemap.xml", "_redirects"):
        assert name in built
    assert any(name.startswith("search/d/") for name in built)
    # Numbers and pages as if the draft reply did not exist: the last reply is #3, on page 2.
    page = site.page("t/public/page/2/")
    assert number(page, "r3") == "#3"
    assert badges(page) == [] and badges(site.page("")) == []

    gone = tmp_path / "without"
    shutil.copytree(site.root, gone, ignore=shutil.ignore_patterns("output", ".forumgen"))
    shutil.rmtree(gone / "content/topics/secret")
    (gone / "content/topics/public/r2.md").unlink()
    copy = SiteFactory.__new__(SiteFactory)
    copy.root = gone
    copy.build()
    assert files_of(copy.output) == built

    # An answer to a draft reply is published, as an answer to a post not shown.
    site.reply("public", "r4", author="Bob", date="2024-01-05T10:00:00Z", reply_to="r2")
    site.build()
    reply = having(post(site.page("t/public/page/2/"), "r4"), "in-reply-to")[0]
    assert STRINGS["en"]["hidden_post"] in reply.text_content()


def test_build_with_drafts_shows_them_marked(site: SiteFactory) -> None:
    with_drafts(site)
    site.build("--drafts")
    out = files_of(site.output)
    listing = site.page("")
    rows = {
        having(row, "topic-title")[0].text_content(): badges(row)
        for row in having(listing, "topic-row")
    }
    assert rows == {"Secret plan": ["Draft"], "Public topic": []}
    topic = site.page("t/secret/")
    assert badges(topic) == ["Draft"]
    # Nobody can answer a topic that is not published: no form, a notice instead.
    assert topic.xpath("//form[@method='post']") == []
    assert STRINGS["en"]["draft_notice"] in topic.text_content()
    assert badges(site.page("c/help/")) == ["Draft"] and badges(site.page("tag/hush/"))
    assert b"Secret plan" in out["feed.xml"] and b"/t/secret/" in out["sitemap.xml"]
    assert b"/old/secret" in out["_redirects"] and "old/draft-reply/index.html" in out
    assert any(b"Quokka" in data for name, data in out.items() if name.startswith("search/"))
    # The draft reply takes its place in the thread, marked; the last one is #4 now.
    second = site.page("t/public/page/2/")
    assert badges(post(second, "r2")) == ["Draft"]
    assert number(second, "r3") == "#4"
    assert badges(site.page("u/dana-drafter/")) == ["Draft"]
    assert (
        errors_in(
            [
                site.output / name
                for name in (
                    "index.html",
                    "t/secret/index.html",
                    "t/public/page/2/index.html",
                    "u/dana-drafter/index.html",
                    "u/zed-writer/index.html",
                )
            ]
        )
        == []
    )

    site.save_config(language="zh-CN")
    site.build("--drafts")
    assert badges(site.page("t/secret/")) == [STRINGS["zh-CN"]["draft"]]
    assert STRINGS["zh-CN"]["draft_notice"] in site.page("t/secret/").text_content()


def test_draft_pages_are_accessible(site: SiteFactory) -> None:
    with_drafts(site)
    port = free_port()
    site.save_config(base_url=f"http://127.0.0.1:{port}/")
    site.build("--drafts")
    axe = npm_file("axe-core", "axe.min.js").read_text(encoding="utf-8")
    found = {}
    with static_server(site.output, port), chromium() as driver:
        driver.set_script_timeout(60)
        for path in ("/", "/t/secret/", "/t/public/page/2/", "/u/dana-drafter/"):
            driver.get(f"http://127.0.0.1:{port}{path}")
            found[path] = [v for v in axe_violations(driver, axe) if v["impact"] in FAILING]
    failing = {path: violations for path, violations in found.items() if violations}
    assert not failing, report(failing)


def line_of(path: Path, key: str) -> int:
    return next(
        n for n, text in enumerate(path.read_text().splitlines(), 1) if text.startswith(f"{key}:")
    )


def test_check_validates_drafts_and_reports_their_problems(site: SiteFactory) -> None:
    with_drafts(site)
    result = site.cli("check")
    assert result.exit_code == 0, result.output
    assert "ok: 2 categories, 1 topic, 3 posts" in result.output

    topic = site.topic("secret", title="Secret plan", category="no-such", draft="yes")
    reply = site.reply("public", "r2", draft=1)
    for command in ("check", "build"):
        result = site.cli(command)
        assert result.exit_code == 1
        assert (
            f"content/topics/secret/topic.md:{line_of(topic, 'draft')}: 'draft' must be "
            "true or false" in result.output
        )
        assert (
            f"content/topics/public/r2.md:{line_of(reply, 'draft')}: 'draft' must be true "
            "or false" in result.output
        )
    # A problem in a draft counts though the draft is not published.
    site.topic("secret", title="Secret plan", category="no-such", draft=True)
    site.reply("public", "r2", draft=True, date="last week")
    for command in ("check", "build"):
        result = site.cli(command)
        assert result.exit_code == 1
        assert (
            f"content/topics/secret/topic.md:{line_of(topic, 'category')}: unknown "
            "category 'no-such'" in result.output
        )
        assert (
            f"content/topics/public/r2.md:{line_of(reply, 'date')}: unparsable date"
            in result.output
        )


def test_the_intake_takes_no_reply_to_a_draft_topic(site: SiteFactory) -> None:
    with_drafts(site)
    site.save_config(intake={"rate_limit": "1000/second"})
    site.build()
    origin = {"Origin": "http://forum.test"}
    with bottle_server(site.root) as server:
        refused = server.post(
            "/topics/secret/replies", {"author": "Eve", "body": "Hi"}, json_api=True, headers=origin
        )
        taken = server.post(
            "/topics/public/replies", {"author": "Eve", "body": "Hi"}, json_api=True, headers=origin
        )
    assert refused.status == 404 and "secret" in refused.text
    assert taken.status == 201
    assert not (site.root / "pending/topics/secret").exists()


def set_draft(site: SiteFactory, path: str, draft: bool) -> None:
    file = site.root / path
    lines = [line for line in file.read_text().splitlines() if not line.startswith("draft:")]
    if draft:
        lines.insert(1, "draft: true")
    file.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_switching_drafts_gives_a_clean_builds_output(
    site: SiteFactory, tmp_path: Path, jobs: str
) -> None:
    site.save_config(posts_per_page=2, topics_per_page=3)
    for n in range(7):
        site.topic(
            f"topic-{n}",
            date=f"2024-01-{n + 1:02d}T00:00:00Z",
            replies=n % 4,
            tags=[f"tag-{n % 2}"],
            category=("general", "help")[n % 2],
            body=f"Body {n} with words to find.",
        )
    site.build("--jobs", jobs)
    steps: list[tuple[str, bool, tuple[str, ...]]] = [
        ("content/topics/topic-3/topic.md", True, ()),
        ("content/topics/topic-3/topic.md", True, ("--drafts",)),
        ("content/topics/topic-2/r0000.md", True, ("--drafts",)),
        ("content/topics/topic-2/r0000.md", True, ()),
        ("content/topics/topic-3/topic.md", False, ()),
        ("content/topics/topic-2/r0000.md", False, ("--drafts",)),
        ("content/topics/topic-5/topic.md", True, ("--drafts",)),
        ("content/topics/topic-5/topic.md", True, ()),
    ]
    for number, (path, draft, args) in enumerate(steps):
        set_draft(site, path, draft)
        site.build("--jobs", jobs, *args)
        assert files_of(site.output) == clean_build_of_a_copy(
            site, tmp_path / f"clean-{number}", *args
        ), (number, path)
        if number == 0:
            assert not (site.output / "t/topic-3").exists()
