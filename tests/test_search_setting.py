"""`search: false` in forumgen.yaml: no index, no search page, no search form or script,
nothing pointing at /search/; switching it off and on again through incremental builds
ends where a clean build ends; a value that is not a boolean is a config error."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import lxml.html
import pytest

from conftest import SiteFactory, clean_build_of_a_copy, files_of, html_files, snapshot
from forumgen.locks import preview_output
from servers import forumgen_serve


def small_forum(site: SiteFactory) -> SiteFactory:
    site.topic("lanterns", title="Zephyr lanterns", body="Lanterns that glow.", replies=2)
    site.topic("deploy", title="部署问题", category="help", body="用gunicorn部署了。", tags=["ops"])
    site.topic("quiet", title="A quiet topic", body="Nothing much.")
    return site


def search_traces(output: Path) -> list[str]:
    """Everything in a built site that belongs to search or points at it: the index,
    the search page and script, a search form or link in a page, a sitemap entry."""
    found = [f"{p.relative_to(output)}" for p in (output / "search").rglob("*")]
    if (output / "static/search.js").exists():
        found.append("static/search.js")
    pages = list(html_files(output))
    assert len(pages) > 10  # the site was built: listings, topics, authors, 404
    for page in pages:
        doc = lxml.html.fromstring(page.read_bytes())
        traces = doc.xpath(
            "//form[@role='search'] | //input[@type='search'] | //*[contains(@href, 'search')]"
            " | //form[contains(@action, 'search')] | //script[contains(@src, 'search')]"
        )
        found += [f"{page.relative_to(output)}: <{t.tag}>" for t in traces]
    for name in ("sitemap.xml", "robots.txt"):
        if b"search" in (output / name).read_bytes():
            found.append(name)
    return found


def test_search_off_builds_no_index_page_form_or_script(site: SiteFactory) -> None:
    small_forum(site).save_config(search=False)
    site.build()
    assert not (site.output / "search").exists()
    assert search_traces(site.output) == []
    assert (site.output / "static/style.css").is_file() and (site.output / "404.html").is_file()
    # With search on (the default) the same site has all of it.
    site.save_config(search=True)
    site.build()
    traces = search_traces(site.output)
    assert "search/index.json" in traces and "static/search.js" in traces
    assert "404.html: <form>" in traces and "index.html: <form>" in traces


def test_yaml_switch_words_are_taken(site: SiteFactory) -> None:
    """`no` and `off` are booleans in YAML 1.1, the way people write a switch."""
    small_forum(site)
    site.write("forumgen.yaml", "title: Test forum\nbase_url: http://forum.test/\nsearch: off\n")
    site.build()
    assert not (site.output / "search").exists()
    site.write("forumgen.yaml", "title: Test forum\nbase_url: http://forum.test/\nsearch: yes\n")
    site.build()
    assert (site.output / "search/index.json").is_file()


@pytest.mark.parametrize("changed", [False, True], ids=["scan", "changed"])
def test_off_removes_the_index_and_on_writes_it_whole(
    site: SiteFactory, tmp_path: Path, changed: bool
) -> None:
    """Each step changes content as well: while search is off the index must not be kept
    up to date, and turning it on again must not start from what it last wrote. With
    `changed`, each build is told only of the content files (forumgen.yaml unnamed)."""
    small_forum(site).build()
    assert len(list((site.output / "search").rglob("*.json"))) > 3

    def remove_quiet() -> Path:
        shutil.rmtree(site.root / "content/topics/quiet")
        return site.root / "content/topics/quiet/topic.md"

    # (search on, a change to the content returning the file it changed)
    steps: list[tuple[bool, Callable[[], Path]]] = [
        (False, lambda: site.reply("lanterns", "r9000", body="Zephyr again, search off.")),
        (True, lambda: site.topic("late", title="Late topic", body="Zephyr arrives late.")),
        (False, lambda: site.reply("late", "r1", body="A reply with no index.")),
        (True, remove_quiet),
    ]
    for n, (on, change) in enumerate(steps):
        before = files_of(site.output)
        site.save_config(search=on)
        changed_file = change()
        summary = site.build(*(["--changed", str(changed_file)] if changed else [])).output
        clean = clean_build_of_a_copy(site, tmp_path / f"clean{n}")
        made = files_of(site.output)
        assert sorted(f for f in made.keys() | clean.keys() if made.get(f) != clean.get(f)) == [], n
        if not on:
            assert not (site.output / "search").exists()
            assert "static/search.js" not in files_of(site.output)
            gone = {f for f in before if f.startswith("search/")} | {"static/search.js"}
            assert gone <= set(before) - set(clean)
            assert f", {len(set(before) - set(clean))} removed;" in summary, summary
        else:
            assert (site.output / "search/index.json").is_file()


def test_a_value_not_true_or_false_is_a_config_error(site: SiteFactory) -> None:
    small_forum(site).build()
    before = snapshot(site.output)
    site.write(
        "forumgen.yaml", "title: Test forum\nbase_url: http://forum.test/\n\nsearch: maybe\n"
    )
    result = site.cli("build")
    assert result.exit_code == 1
    assert "forumgen.yaml:4: 'search' must be true or false" in result.output, result.output
    assert "Traceback" not in result.output
    assert snapshot(site.output) == before
    check = site.cli("check")
    assert check.exit_code == 1 and "forumgen.yaml:4: 'search'" in check.output


def test_serve_and_intake_without_search(site: SiteFactory, tmp_path: Path) -> None:
    small_forum(site).save_config(
        search=False, intake={"moderation": "publish", "rate_limit": "100/second"}
    )
    with forumgen_serve(site.root, log=tmp_path / "serve.log") as server:
        home = server.get("/")
        assert home.status == 200 and b'role="search"' not in home.body
        assert server.get("/search/").status == 404
        assert server.get("/static/search.js").status == 404
        # A browser's post: it lands on the topic page once the rebuild shows the post.
        answer = server.post(
            "/intake/topics/lanterns/replies",
            {"author": "Served Sam", "body": "Posted with search off."},
            headers={"Origin": f"http://127.0.0.1:{server.port}"},
        )
        assert answer.status == 303, answer.text
        deadline = time.monotonic() + 120  # the rebuild may outlast the redirect's wait
        page = server.get("/t/lanterns/")
        while b"Posted with search off." not in page.body and time.monotonic() < deadline:
            time.sleep(0.2)
            page = server.get("/t/lanterns/")
        assert page.status == 200 and b"Posted with search off." in page.body
        assert b'role="search"' not in page.body
        assert server.get("/search/index.json").status == 404
    assert not (preview_output(site.root) / "search").exists()


def test_without_search_the_site_may_have_files_under_search(site: SiteFactory) -> None:
    """The build claims output/search/ only when it writes an index there."""
    small_forum(site).save_config(search=False)
    site.write("static/search/notes.txt", "Ours.\n")
    site.build()
    assert (site.output / "search/notes.txt").read_text() == "Ours.\n"
    site.save_config(search=True)
    result = site.cli("build")
    assert result.exit_code == 1
    assert "static/search/notes.txt:1: output/search/ is made by the build" in result.output
