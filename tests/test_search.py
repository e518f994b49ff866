"""Search: the terms, the index the build writes to output/search/ (read back here the
way search.js reads it), its determinism and incremental updates, and search.js itself
in headless Chromium on a generated forum served on 127.0.0.1."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import random
import shutil
import sqlite3
import threading
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
import yaml

from benchmarks.corpus import generate
from benchmarks.search import index_bytes, index_fetched, phrase_of, submit_query
from browser import chromium, console_errors, wait
from conftest import SiteFactory, clean_build_of_a_copy, files_of, snapshot
from forumgen import search, searchindex
from forumgen.build import build
from forumgen.locks import preview_output
from servers import forumgen_serve

# Reading the index back -------------------------------------------------------------


def decode(encoded: str) -> list[tuple[int, int, int]]:
    """(topic id, post index, weight) of each posting, as search.js decodes them."""
    values, value, shift = [], 0, 0
    for char in encoded:
        digit = search.ALPHABET.index(char)
        value |= (digit & 31) << shift
        shift += 5
        if digit < 32:
            values.append(value)
            value, shift = 0, 0
    found, at, tid = [], 0, 0
    while at < len(values):
        tid += values[at]
        count, at, index = values[at + 1], at + 2, 0
        for _ in range(count):
            index += values[at]
            found.append((tid, index, values[at + 1]))
            at += 2
    return found


def postings(output: Path, term: str) -> dict[tuple[str, str], int]:
    """(topic slug, post id) -> weight of every post the index lists for `term`."""
    folder = output / "search"
    meta = json.loads((folder / "index.json").read_text())
    bits = meta["shardBits"]
    shard = 0 if bits == 0 else search.fnv1a(term.removeprefix("^")) >> (32 - bits)
    entry = json.loads((folder / f"i/{shard:x}.json").read_text()).get(term)
    if entry is None:
        return {}
    # Each part's topic ids count from 0.
    parts = (
        [entry[1]]
        if len(entry) == 2
        else [json.loads((folder / f"p/{entry[1]}-{k}.json").read_text()) for k in range(entry[2])]
    )
    found = {}
    for tid, index, weight in (p for part in parts for p in decode(part)):
        block = json.loads((folder / f"d/{tid:x}-{index // meta['block']}.json").read_text())
        found[block["s"], block["p"][index % meta["block"]][0]] = weight
    assert sum(1 for _ in found) == entry[0]  # the document frequency is right
    return found


# Terms ------------------------------------------------------------------------------


def test_words_pairs_and_cjk_characters_and_bigrams() -> None:
    found, length = search.terms("Gunicorn Workers time out")
    assert found == [
        "gunicorn",
        "worker",
        "time",
        "out",
        "gunicorn worker",
        "worker time",
        "time out",
    ]
    assert length == 4
    found, length = search.terms("我们用gunicorn部署了，ＮＧＩＮＸ好")
    assert found == [
        "我",
        "们",
        "用",
        "我们",
        "们用",
        "gunicorn",
        "部",
        "署",
        "了",
        "部署",
        "署了",
        "nginx",
        "好",
    ]  # full-width letters folded (NFKC)
    assert length == 9


def test_stemming_folds_plurals_only() -> None:
    assert [
        search.stem(w)
        for w in (
            "workers",
            "queries",
            "processes",
            "process",
            "status",
            "redis",
            "boxes",
            "gas",
            "timeout",
        )
    ] == ["worker", "query", "process", "process", "status", "redis", "box", "gas", "timeout"]


def test_topic_ids_are_unique_and_stable() -> None:
    slugs = [f"topic-{n}" for n in range(3000)]
    bits, ids = searchindex.topic_ids(slugs)
    assert len(set(ids.values())) == len(slugs) and max(ids.values()) < 1 << bits
    # One topic more moves no other (a collision would move at most the later slugs of
    # the same hash: here none collides with the newcomer).
    _, more = searchindex.topic_ids([*slugs, "a-new-topic"])
    assert {s: more[s] for s in slugs} == ids
    # Nor does the number of topics: 4,096 of them (a power of two) give the same ids.
    wider, most = searchindex.topic_ids([*slugs, *(f"more-{n}" for n in range(4096 - 3000))])
    assert wider == bits and {s: most[s] for s in slugs} == ids


def test_past_the_most_topics_ids_take_32_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(searchindex, "MOST_TOPICS", 40)
    slugs = [f"topic-{n}" for n in range(41)]
    assert searchindex.topic_ids(slugs[:40])[0] == searchindex.ID_BITS
    bits, ids = searchindex.topic_ids(slugs)
    assert bits == 32 and len(set(ids.values())) == 41 and max(ids.values()) >= 1 << 24


# The index --------------------------------------------------------------------------


@pytest.fixture
def forum(site: SiteFactory) -> SiteFactory:
    site.topic("lanterns", title="Zephyr lanterns", body="An opening about something else.")
    site.topic(
        "mentions",
        title="Other things",
        body="Zephyr lanterns, zephyr lanterns and more zephyr lanterns.",
        replies=3,
    )
    site.reply("mentions", "r9000", body="One zephyr here.", date="2024-03-01T00:00:00Z")
    site.topic("部署", title="部署问题", body="我们在生产环境里用gunicorn部署了这个应用。")
    site.build()
    return site


def test_the_index_names_exactly_the_posts_holding_a_term(forum: SiteFactory) -> None:
    out = forum.output
    assert postings(out, "zephyr").keys() == {("mentions", "topic"), ("mentions", "r9000")}
    assert postings(out, "^zephyr") == {("lanterns", "topic"): 1}  # the title
    assert postings(out, "zephyr lantern").keys() == {("mentions", "topic")}
    # A post saying it three times weighs more than one saying it once.
    weights = postings(out, "zephyr")
    assert weights["mentions", "topic"] > weights["mentions", "r9000"]
    assert postings(out, "环境").keys() == postings(out, "境").keys() == {("部署", "topic")}
    assert postings(out, "^部署").keys() == {("部署", "topic")}
    assert postings(out, "nothing-like-this") == {}
    doc = json.loads((out / "search/index.json").read_text())
    assert doc["docs"] == 1 + 5 + 1  # every published post


def test_common_terms_are_split_into_parts(
    site: SiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(searchindex, "INLINE", 2)
    monkeypatch.setattr(searchindex, "PART", 4)
    for n in range(20):
        site.topic(f"t{n}", title=f"Topic {n}", body="common words here")
    site.build()
    shard = next(
        json.loads(p.read_text())
        for p in (site.output / "search/i").glob("*.json")
        if "common" in json.loads(p.read_text())
    )
    df, _name, parts = shard["common"]
    assert (df, parts) == (20, 8)  # 20 posts / 4 per part, rounded up to a power of two
    assert postings(site.output, "common").keys() == {(f"t{n}", "topic") for n in range(20)}
    # Index files deleted from the output come back as they were.
    before = snapshot(site.output / "search")
    for name in ("p/*-3.json", "d/*.json", "i/*.json"):
        next((site.output / "search").glob(name)).unlink()
    site.build()
    assert {k: v[0] for k, v in snapshot(site.output / "search").items()} == {
        k: v[0] for k, v in before.items()
    }
    # A reply changes the one part holding its topic, and gives what a clean build gives.
    middle = snapshot(site.output / "search")
    site.reply("t7", "r1", body="common again")
    site.build()
    after = snapshot(site.output / "search")
    ours = [f for f in after if f.startswith(f"p/{_name}-")]
    assert len(ours) == 2 * 8  # and their gzip twins
    changed = {f for f in ours if after[f] != middle[f]}  # bytes and mtime
    assert len(changed) == 2 and {f.removesuffix(".gz") for f in changed} == {min(changed)}
    assert postings(site.output, "common").keys() == {(f"t{n}", "topic") for n in range(20)} | {
        ("t7", "r1")
    }
    site.build("--clean")
    assert {k: v[0] for k, v in snapshot(site.output / "search").items()} == {
        k: v[0] for k, v in after.items()
    }


def plain(files: dict[str, Any]) -> dict[str, Any]:
    """The index files of a snapshot without their gzip twins."""
    return {k: v for k, v in files.items() if not k.endswith(".gz")}


def written_and_removed(before: dict[str, Any], after: dict[str, Any]) -> tuple[set[str], set[str]]:
    """The index files a build wrote (new bytes or mtime) and those it removed."""
    return {f for f in after if before.get(f) != after[f]}, set(before) - set(after)


def held_by(output: Path, slugs: set[str]) -> tuple[set[str], set[str], set[str]]:
    """The shards, the part files and the prefix word lists of the terms the topics
    `slugs` hold (their titles and bodies: here one post each)."""
    meta = json.loads((output / "search/index.json").read_text())
    found: set[str] = set()
    for slug in slugs:
        post = (output.parent / f"content/topics/{slug}/topic.md").read_text()
        title = post.split("title: ", 1)[1].split("\n", 1)[0]
        words = set(search.terms(post.split("---\n", 2)[2])[0])
        found |= words | {search.TITLE + t for t in search.terms(title)[0]}
    bits = meta["shardBits"]
    shards = {
        f"i/{search.fnv1a(t.removeprefix(search.TITLE)) >> (32 - bits):x}.json" for t in found
    }
    names = {hashlib.blake2b(t.encode(), digest_size=8).hexdigest() for t in found}
    keys = {k for t in found if (k := search.prefix_key(t)) is not None}
    prefixes = {f"x/{k.encode().hex()}.json" for k in keys}
    return (shards if bits else {"i/0.json"}), names, prefixes


def test_a_topic_added_or_removed_rewrites_no_other_topics_index(
    site: SiteFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Topic ids do not depend on how many topics there are: the 16th topic (once the
    point where ids grew a bit and the whole index was written again), or removing one,
    writes the files of that topic and of the terms it holds, and nothing else."""
    monkeypatch.setattr(searchindex, "INLINE", 2)
    monkeypatch.setattr(searchindex, "PART", 4)
    for n in range(15):
        site.topic(f"t{n}", title=f"Topic {n}", body=f"common words here, number{n}")
    site.build()
    steps = [("t15", True), ("t16", True), ("t3", False), ("t16", False)]
    for slug, added in steps:
        before = plain(snapshot(site.output / "search"))
        if added:
            site.topic(slug, title=f"Topic {slug}", body=f"common words there, {slug}")
        else:
            shards, names, prefixes = held_by(site.output, {slug})
            shutil.rmtree(site.root / f"content/topics/{slug}")
        site.build()
        after = plain(snapshot(site.output / "search"))
        if added:
            shards, names, prefixes = held_by(site.output, {slug})
        written, removed = written_and_removed(before, after)
        texts = {f for f in {*written, *removed} if f.startswith("d/")}
        slugs = {json.loads(v[0])["s"] for f, v in {**before, **after}.items() if f in texts}
        assert slugs == {slug}, (slug, sorted(written), sorted(removed))
        parts = {f for f in {*written, *removed} if f.startswith("p/")}
        words = {f for f in {*written, *removed} if f.startswith("x/")}
        assert removed - parts - words == (set() if added else texts)
        assert {f for f in written if f.startswith("i/")} <= shards
        assert {f.split("/")[1].split("-")[0] for f in parts} <= names  # fewer parts, or more
        assert words <= prefixes
        assert written - texts - {f for f in written if f[:2] in ("i/", "p/", "x/")} == {
            "index.json"
        }
    clean = clean_build_of_a_copy(site, tmp_path / "copy")
    twins_in_step(site.output / "search")
    assert {k: v[0] for k, v in after.items()} == plain(
        {k[len("search/") :]: v for k, v in clean.items() if k.startswith("search/")}
    )


def test_wider_ids_rewrite_the_whole_index_though_few_pages_render(
    site: SiteFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Topics are tokenized as their pages render; when the index is written whole while
    only a new topic's pages render (its ids widen), the others are tokenized from the
    build cache, and the index is the one a clean build writes."""
    monkeypatch.setattr(searchindex, "MOST_TOPICS", 6)
    for n in range(6):
        site.topic(f"t{n}", title=f"Topic {n}", body=f"shared words, number{n}", replies=2)
    site.build()
    before = snapshot(site.output / "t")
    site.topic("t6", title="Topic 6", body="shared words, number6")
    site.build()
    after = snapshot(site.output / "t")
    assert {f: after[f] for f in before} == before  # the other topics' pages not rendered
    assert json.loads((site.output / "search/index.json").read_text())["topicBits"] == 32
    assert postings(site.output, "shared").keys() == {(f"t{n}", "topic") for n in range(7)}
    clean = clean_build_of_a_copy(site, tmp_path / "copy")
    assert files_of(site.output / "search") == {
        k[len("search/") :]: v for k, v in clean.items() if k.startswith("search/")
    }


def test_same_input_same_index_whatever_the_jobs(tmp_path: Path) -> None:
    generate(tmp_path / "site", 60)
    build(tmp_path / "site", output=tmp_path / "one", jobs=1)
    build(tmp_path / "site", output=tmp_path / "two", jobs=2)
    one, two = snapshot(tmp_path / "one/search"), snapshot(tmp_path / "two/search")
    assert len(one) > 100 and {k: v[0] for k, v in one.items()} == {k: v[0] for k, v in two.items()}


def test_a_new_reply_rewrites_only_its_part_of_the_index(tmp_path: Path) -> None:
    site = tmp_path / "site"
    generate(site, 150)
    build(site, jobs=2)
    before = plain(snapshot(site / "output/search"))
    folder = site / "content/topics/topic-7"
    (folder / "29990101T000000Z-abcdef.md").write_text(
        "---\nauthor: Late Larry\ndate: 2999-01-01T00:00:00Z\n---\nQuixotic nginx 深夜部署.\n",
        encoding="utf-8",
    )
    build(site, jobs=2)
    after = plain(snapshot(site / "output/search"))
    twins_in_step(site / "output/search")
    changed = {f for f in after if before.get(f) != after[f]}
    reply_terms = {t for t in search.terms("Quixotic nginx 深夜部署.")[0]}
    meta = json.loads((site / "output/search/index.json").read_text())
    shards = {f"i/{search.fnv1a(t) >> (32 - meta['shardBits']):x}.json" for t in reply_terms}
    assert "index.json" in changed and any(f.startswith("d/") for f in changed)
    assert {f for f in changed if f.startswith("i/")} <= shards
    assert len(changed) < len(after) / 10, (len(changed), len(after))
    # And the result is what a clean build of the same content writes.
    shutil.copytree(site, tmp_path / "copy", ignore=shutil.ignore_patterns("output", ".forumgen"))
    build(tmp_path / "copy", jobs=1)
    clean = plain(snapshot(tmp_path / "copy/output/search"))
    assert {k: v[0] for k, v in clean.items()} == {k: v[0] for k, v in after.items()}


def test_told_builds_keep_the_index_exact(
    site: SiteFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A build told what changed reads the records of only the index files it may write
    or keep, and leaves the others alone: after each change (terms split into more parts
    or fewer, prefixes emptied, more shards, wider ids writing the index whole) the
    output is a clean build's, the report counts every file, and the kept weight of the
    shards is the sum over every term. A file deleted by hand comes back with the next
    plain build, not a told one."""
    monkeypatch.setattr(searchindex, "INLINE", 2)
    monkeypatch.setattr(searchindex, "PART", 4)
    monkeypatch.setattr(searchindex, "SHARD_BYTES", 200)
    monkeypatch.setattr(searchindex, "MOST_TOPICS", 12)
    for n in range(10):
        site.topic(f"t{n}", title=f"Topic {n}", body=f"common words here, number{n}")
    site.build()
    folder = site.root / "content/topics"
    changes = [
        lambda: [site.topic(f"t{n}", body=f"common quokka {n}") for n in (10, 11)],
        lambda: site.reply("t3", "r1", body="common again, and marmalade"),
        lambda: site.topic("t3", body="nothing shared"),  # and its reply
        lambda: shutil.rmtree(folder / "t10"),
        lambda: (folder / "t3/r1.md").unlink(),  # marmalade goes, and its prefix
        lambda: [site.topic(f"t{n}", body=f"words {n}") for n in range(6)],  # fewer parts
        lambda: site.topic("t12", body="common zebra"),
        lambda: site.topic("t13", body="common yak"),  # 13 topics: ids of 32 bits
    ]
    for number, change in enumerate(changes):
        before = {p: p.stat().st_mtime_ns for p in folder.rglob("*.md")}
        change()
        after = {p: p.stat().st_mtime_ns for p in folder.rglob("*.md")}
        touched = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
        told = [arg for p in sorted(touched) for arg in ("--changed", str(p))]
        summary = site.build(*told).output
        files = files_of(site.output)
        assert f"{len(files)} files in " in summary, (number, summary)
        clean = clean_build_of_a_copy(site, tmp_path / f"copy-{number}")
        assert files == clean, number
        state = next(site.root.glob(".forumgen/**/cache.sqlite"))
        with sqlite3.connect(state) as db:
            (kept,) = db.execute(
                "SELECT value FROM meta WHERE key = 'search_entry_bytes'"
            ).fetchone()
            (summed,) = db.execute(
                "SELECT SUM(LENGTH(term) + LENGTH(entry) + 4) FROM search_terms"
            ).fetchone()
        assert int(kept) == summed, number
    assert json.loads((site.output / "search/index.json").read_text())["topicBits"] == 32
    # Deleted by hand: left missing by a told build, written again by a plain one.
    shard = next((site.output / "search/i").glob("*.json"))
    text = next(p for p in (site.output / "search/d").glob("*.json") if '"s":"t5"' in p.read_text())
    shard.unlink()
    text.unlink()
    site.reply("t1", "r1", body="A reply.")
    site.build("--changed", str(folder / "t1/r1.md"))
    assert not text.exists()
    site.build()
    assert files_of(site.output) == clean_build_of_a_copy(site, tmp_path / "copy-last")


# In the browser ---------------------------------------------------------------------

HOSTILE_TITLE = "<img src=x onerror=alert(1)> Xylophone tuning"


def search_for(driver: Any, base: str, phrase: str) -> list[Any]:
    """The results of the first page for `phrase`, typed into the header's field."""
    from selenium.webdriver.common.by import By

    submit_query(driver, base, phrase, seconds=20)
    return list(driver.find_elements(By.CSS_SELECTOR, ".search-results > li"))


def test_search_in_a_browser(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    site = tmp_path / "site"
    generate(site, 150)
    hostile = site / "content/topics/hostile"
    hostile.mkdir()
    (hostile / "topic.md").write_text(
        "---\n"
        + yaml.safe_dump(
            {
                "title": HOSTILE_TITLE,
                "author": "Mallory",
                "date": "2024-01-01T00:00:00Z",
                "category": "general",
            }
        )
        + "---\nFor xylophone players: `<script>alert(2)</script>`"
        " and `<img src=y onerror=alert(3)>` <b onmouseover=alert(4)>bold</b>.\n",
        encoding="utf-8",
    )
    rng = random.Random(7)
    with forumgen_serve(site, log=tmp_path / "serve.log") as server, chromium() as driver:
        base = f"http://127.0.0.1:{server.port}/"
        total = sum(p.stat().st_size for p in (preview_output(site) / "search").rglob("*.json"))
        for chinese in (False, True, False, True):
            slug, post_id, phrase = phrase_of(site, rng, chinese)
            results = search_for(driver, base, phrase)
            assert " " not in phrase or not chinese
            target = f"/t/{quote(slug)}/"
            hits = [
                r
                for r in results
                for a in r.find_elements(By.CSS_SELECTOR, "a")
                if target in a.get_attribute("href")
                and a.get_attribute("href").endswith(f"#p-{post_id}")
            ]
            assert hits, (phrase, slug, post_id, [r.text[:80] for r in results])
            assert hits[0].find_elements(By.TAG_NAME, "mark"), phrase
            marked = [m.text for m in hits[0].find_elements(By.TAG_NAME, "mark")]
            assert all(m.lower() in phrase for m in marked), (marked, phrase)
            spent = index_bytes(driver)
            assert 0 < spent < min(300_000, total / 4), (spent, total)
        # Titles first: the topic named for the words leads; a post merely using them follows.
        results = search_for(driver, base, "xylophone tuning")
        first = results[0].find_element(By.CSS_SELECTOR, "h2 a")
        assert first.text == HOSTILE_TITLE  # the title, as text
        assert first.get_attribute("href").endswith("/t/hostile/#p-topic")
        shown = results[0].text
        assert "<script>alert(2)</script>" in shown and "<img src=y onerror=alert(3)>" in shown
        assert driver.find_elements(By.CSS_SELECTOR, "#search img, #search script, #search b") == []
        assert driver.execute_script("return window.__ran") == []
        assert console_errors(driver) == []
        # Nothing found says so; the categories stay listed below.
        assert search_for(driver, base, "qqqzzz") == []
        assert "qqqzzz" in driver.find_element(By.CSS_SELECTOR, ".search-status").text
        assert driver.find_elements(By.CSS_SELECTOR, ".search-browse a")


def test_without_javascript_the_search_page_lists_the_categories(forum: SiteFactory) -> None:
    page = forum.page("search/")
    assert page.xpath("//noscript/p/text()")
    assert page.xpath("//section[@class='search-browse']//a/@href") == ["/c/general/", "/c/help/"]
    assert page.xpath("//div[@id='search']/@hidden") == [""]  # until the script runs
    home = forum.page("")
    form = home.xpath("//form[@role='search']")[0]
    assert (form.get("action"), form.get("method")) == ("/search/", "get")
    assert form.xpath(".//input/@name") == ["q"]


# Typing, phrases and what a result says ----------------------------------------------


def reading_forum(site: SiteFactory) -> SiteFactory:
    """A few topics whose words share beginnings, for searches that are still being typed."""
    site.topic(
        "breakfast",
        title="Breakfast spreads",
        body="Seville orange marmalade is the best on toast.",
        author="Ann Smith",
        date="2024-03-05T09:00:00Z",
    )
    site.topic("jam", title="Jam", body="Marmite is not jam, and margarine is not butter.")
    site.topic("travel", title="Two days in Reykjavík", body="We landed in the north.")
    site.topic("deploy", title="部署问题", body="我们用gunicorn部署了这个应用。")
    site.build()
    return site


def type_query(driver: Any, base: str, text: str) -> list[Any]:
    """Open the search page, type `text` into its field key by key without sending it,
    and wait until the results for the whole of it are shown."""
    from selenium.webdriver.common.by import By

    driver.get(base + "search/")
    field = driver.find_element(By.ID, "search-q")
    for char in text:
        field.send_keys(char)
    wait(
        lambda: (
            driver.execute_script(
                "var b = document.getElementById('search');"
                "return b.getAttribute('data-done') && b.getAttribute('data-query')"
            )
            == text
        ),
        what=f"results for {text!r}",
    )
    return list(driver.find_elements(By.CSS_SELECTOR, ".search-results > li"))


def linked_posts(results: list[Any]) -> list[str]:
    """'slug#post id' of each post the results link to, in order."""
    from selenium.webdriver.common.by import By

    found = []
    for result in results:
        for link in result.find_elements(By.CSS_SELECTOR, ".search-meta a"):
            href = link.get_attribute("href")
            found.append(href.split("/t/", 1)[1].split("/", 1)[0] + href[href.index("#") :])
    return [unquote(f).replace("#p-", "#") for f in found]


def test_the_last_word_is_completed_as_it_is_typed(site: SiteFactory, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    reading_forum(site)
    with forumgen_serve(site.root, log=tmp_path / "serve.log") as server, chromium() as driver:
        base = f"http://127.0.0.1:{server.port}/"
        results = type_query(driver, base, "marmal")
        assert linked_posts(results) == ["breakfast#topic"]  # not marmite, nor margarine
        assert [m.text for m in results[0].find_elements(By.TAG_NAME, "mark")] == ["marmalade"]
        # The address follows the field, so that reloading shows the same.
        assert driver.current_url.endswith("/search/?q=marmal")
        # Other words are whole words; the last one is completed by the words it begins.
        assert linked_posts(type_query(driver, base, "seville marm")) == [
            "breakfast#topic",  # both words
            "jam#topic",  # marmite
        ]
        results = type_query(driver, base, "sevil toast")  # found by "toast" alone
        assert [m.text for m in results[0].find_elements(By.TAG_NAME, "mark")] == ["toast"]
        # From the header's field, sent with Enter; a word only in a title; accents.
        assert linked_posts(search_for(driver, base, "Reykjav")) == ["travel#topic"]
        # Latin letters after Chinese characters, without a space.
        assert linked_posts(search_for(driver, base, "我们用gunic")) == ["deploy#topic"]
        # A word of fewer than three letters is not completed.
        assert search_for(driver, base, "ma") == []


def test_quoted_phrases_are_required_word_for_word(site: SiteFactory, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    site.topic("calm", title="Calm nights", body="Light the lantern before the storm comes.")
    site.topic("after", title="After", body="The storm came; the lantern stayed dark before.")
    site.topic("pairs", title="Pairs", body="A storm lantern. The lantern before it broke.")
    site.topic("dawn", title="Dawn", body="Hang a storm lantern before dawn.")
    site.topic("ship", title="上线", body="我们的应用部署在周五。")
    site.topic("swap", title="顺序", body="先部署应用，再看日志。")
    site.build()
    with forumgen_serve(site.root, log=tmp_path / "serve.log") as server, chromium() as driver:
        base = f"http://127.0.0.1:{server.port}/"
        unquoted = linked_posts(search_for(driver, base, "lantern before the storm"))
        assert {"calm#topic", "after#topic", "pairs#topic"} <= set(unquoted), unquoted
        assert unquoted[0] == "calm#topic"  # as written comes first, as before
        assert linked_posts(search_for(driver, base, '"lantern before the storm"')) == [
            "calm#topic"
        ]
        # Each pair of its words is in "pairs", but not the three in a row.
        assert linked_posts(search_for(driver, base, '"storm lantern before"')) == ["dawn#topic"]
        # A phrase and other words: the phrase is required, the words rank.
        assert linked_posts(search_for(driver, base, 'dawn "the storm"')) == [
            "calm#topic",
            "after#topic",
        ]
        # Chinese: the characters in that order, not the same ones swapped around.
        assert linked_posts(search_for(driver, base, "应用部署")) == ["ship#topic", "swap#topic"]
        assert linked_posts(search_for(driver, base, "“应用部署”")) == ["ship#topic"]
        assert search_for(driver, base, '"storm before"') == []
        assert "storm before" in driver.find_element(By.CSS_SELECTOR, ".search-status").text


def test_results_say_who_wrote_when_and_how_many_were_found(
    site: SiteFactory, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    site.save_config(timezone="Asia/Shanghai")
    site.topic("kettles", title="Kettles", body="Descale the kettle.", author="Ann Smith")
    site.reply(
        "kettles", "r1", body="Vinegar descales it.", author="Bob", date="2024-05-02T20:30:00Z"
    )
    for n in range(11):
        site.topic(f"tea-{n}", title=f"Tea {n}", body="Green tea and a kettle.", author="Cleo")
    site.build()
    with forumgen_serve(site.root, log=tmp_path / "serve.log") as server, chromium() as driver:
        base = f"http://127.0.0.1:{server.port}/"
        results = search_for(driver, base, "vinegar")
        meta = results[0].find_element(By.CSS_SELECTOR, ".search-meta")
        # The post's number in its topic, its author, its date in the site's time zone.
        assert meta.text == "#2 · Bob · 3 May 2024"
        assert meta.find_element(By.TAG_NAME, "a").get_attribute("href").endswith("#p-r1")
        status = driver.find_element(By.CSS_SELECTOR, ".search-status")
        assert status.text == "1 result for “vinegar”"
        # Every result is shown: no button offers more.
        assert not driver.find_element(By.CSS_SELECTOR, ".search-more").is_displayed()
        # The query stays in both fields: the header's and the search page's.
        for field in ("site-search-q", "search-q"):
            assert driver.find_element(By.ID, field).get_attribute("value") == "vinegar"
        # The count is of every topic found, not of the first page's ten.
        results = search_for(driver, base, "kettle")
        assert len(results) == 10
        status = driver.find_element(By.CSS_SELECTOR, ".search-status")
        assert status.text == "12 results for “kettle”"
        more = driver.find_element(By.CSS_SELECTOR, ".search-more")
        driver.execute_script(
            "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", more
        )
        more.click()
        wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".search-results > li")) == 12)
        assert not more.is_displayed()
        assert results[0].find_element(By.CSS_SELECTOR, "h2").text == "Kettles"
        # Typed into the search page's field, the query goes to the header's too.
        results = type_query(driver, base, "descal")
        assert driver.find_element(By.ID, "site-search-q").get_attribute("value") == "descal"
        assert [r.text for r in results[0].find_elements(By.CSS_SELECTOR, ".search-meta")] == [
            "#1 · Ann Smith · 1 Jan 2024",
            "#2 · Bob · 3 May 2024",
        ]
        driver.refresh()
        wait(lambda: driver.find_element(By.ID, "search-q").get_attribute("value") == "descal")


def test_a_query_fetches_few_files(site: SiteFactory, tmp_path: Path) -> None:
    """A word in the titles of more topics than a shard keeps the posts of (but not of
    hundreds) has its title list in its shard: the query makes no request for it. A text
    file holds 8 posts of a topic: posts #1, #6 and #8 shown come in one request."""
    from selenium.webdriver.common.by import By

    for n in range(searchindex.INLINE + 6):
        site.topic(f"kettle-{n}", title=f"Kettle {n}", body=f"Descale it, number {n}.")
    site.topic("scale", title="Hard water", body="Limescale everywhere.")
    for n in range(2, 9):
        body = "Limescale again." if n in (6, 8) else "Use vinegar."
        site.reply("scale", f"r{n}", body=body, date=f"2024-01-0{n}T10:00:00Z")
    site.build()
    with forumgen_serve(site.root, log=tmp_path / "serve.log") as server, chromium() as driver:
        results = search_for(driver, f"http://127.0.0.1:{server.port}/", "kettle")
        assert len(results) == 10
        status = driver.find_element(By.CSS_SELECTOR, ".search-status").text
        assert status == f"{searchindex.INLINE + 6} results for “kettle”"
        count, _, kinds = index_fetched(driver, preview_output(site.root) / "search")
        # index.json, the prefix list of "ket", the shard of "kettle", the 10 topics' texts.
        assert kinds == {"index": 1, "prefixes": 1, "shards": 1, "post lists": 0, "texts": 10}
        assert count == 13
        results = search_for(driver, f"http://127.0.0.1:{server.port}/", "limescale")
        numbers = [
            m.text.split(" · ")[0]
            for m in results[0].find_elements(By.CSS_SELECTOR, ".search-meta")
        ]
        assert sorted(numbers) == ["#1", "#6", "#8"]
        _, _, kinds = index_fetched(driver, preview_output(site.root) / "search")
        assert kinds["texts"] == 1 and kinds["post lists"] == 0


# Gzip twins -----------------------------------------------------------------------------


def twins_in_step(folder: Path) -> int:
    """Check that every index file has a gzip twin holding its bytes, with no time stamp
    and no file name in it (deterministic), and no twin is left alone; returns how many."""
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    files.remove("index.html")  # the search page
    plain = {f for f in files if f.endswith(".json")}
    assert files == plain | {f + ".gz" for f in plain}
    for name in plain:
        twin = (folder / (name + ".gz")).read_bytes()
        assert twin[:4] == b"\x1f\x8b\x08\x00"  # gzip, deflate, no flags: no file name
        assert twin[4:8] == b"\x00\x00\x00\x00"  # mtime 0
        assert gzip.decompress(twin) == (folder / name).read_bytes()
    return len(plain)


def test_every_index_file_has_a_gzip_twin_kept_in_step(forum: SiteFactory, tmp_path: Path) -> None:
    folder = forum.output / "search"
    assert twins_in_step(folder) > 10
    forum.reply("mentions", "r9001", body="Zephyr lanterns again, and marmalade.")
    forum.reply("部署", "r1", body="再部署一次。")
    forum.build()
    twins_in_step(folder)
    shutil.rmtree(forum.root / "content/topics/lanterns")
    next(folder.glob("i/*.json.gz")).unlink()  # someone deleted a twin
    forum.build()
    twins_in_step(folder)
    clean = clean_build_of_a_copy(forum, tmp_path / "copy")
    assert files_of(folder) == {
        k[len("search/") :]: v for k, v in clean.items() if k.startswith("search/")
    }


def test_an_index_of_an_older_format_is_written_whole(forum: SiteFactory, tmp_path: Path) -> None:
    """An index written before the prefix lists, bylines and twins existed is written
    whole by the next build, not only where topics changed."""
    state = next(forum.root.glob(".forumgen/**/cache.sqlite"))
    with sqlite3.connect(state) as db:
        db.execute("UPDATE meta SET value = '1' WHERE key = 'search_format'")
    for twin in (forum.output / "search").rglob("*.gz"):
        twin.unlink()
    forum.reply("mentions", "r9001", body="One more.")
    forum.build()
    twins_in_step(forum.output / "search")
    clean = clean_build_of_a_copy(forum, tmp_path / "copy")
    assert files_of(forum.output / "search") == {
        k[len("search/") :]: v for k, v in clean.items() if k.startswith("search/")
    }


class GzipStatic(http.server.SimpleHTTPRequestHandler):
    """Serves a folder as nginx does with `gzip_static on`: a file's `.gz` twin, when
    there is one and the browser takes gzip, with `Content-Encoding: gzip`."""

    def send_head(self) -> Any:
        path = Path(self.translate_path(self.path))
        twin = path.with_name(path.name + ".gz")
        if "gzip" not in self.headers.get("Accept-Encoding", "") or not twin.is_file():
            return super().send_head()
        data = twin.open("rb")
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(twin.stat().st_size))
        self.end_headers()
        return data

    def log_message(self, *args: Any) -> None:
        pass


def test_a_host_serving_the_twins_sends_the_index_gzipped(site: SiteFactory) -> None:
    from selenium.webdriver.common.by import By

    reading_forum(site)
    handler = partial(GzipStatic, directory=str(site.output))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with chromium() as driver:
            base = f"http://127.0.0.1:{server.server_address[1]}/"
            results = search_for(driver, base, "orange marmal")
            assert linked_posts(results) == ["breakfast#topic"]
            assert results[0].find_elements(By.TAG_NAME, "mark")
            fetched = driver.execute_script(
                "return performance.getEntriesByType('resource').filter(e => "
                "e.name.includes('/search/')).map(e => [e.name, e.encodedBodySize, "
                "e.decodedBodySize])"
            )
            assert len(fetched) > 3
            for name, encoded, decoded in fetched:
                file = site.output / unquote(name.split("/", 3)[3])
                assert encoded == (file.parent / (file.name + ".gz")).stat().st_size, name
                assert decoded == file.stat().st_size, name
            assert console_errors(driver) == []
    finally:
        server.shutdown()
        server.server_close()
