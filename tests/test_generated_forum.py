"""A generated forum with heavy-tailed threads: every post exactly once on the page its
permalink names, every internal link resolves, rebuilds are stable (its feeds, HTML and
sitemap are checked by outside programs in test_feeds, test_html_valid, test_sitemap)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.corpus import generate
from conftest import html_files, internal_links, resolve, snapshot
from forumgen.build import load
from forumgen.cli import main

TOPICS = 150


@pytest.fixture(scope="module")
def forum(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("generated")
    generate(root, TOPICS, seed=7)
    result = CliRunner().invoke(main, ["build", "--site", str(root), "--jobs", "2"])
    assert result.exit_code == 0, result.output
    return root


def test_every_post_once_where_its_permalink_points(forum: Path) -> None:
    _, site = load(forum)
    out = forum / "output"
    found: Counter[tuple[str, str]] = Counter()
    for file in html_files(out / "t"):
        topic = file.relative_to(out / "t").parts[0]
        for post_id in re.findall(r'<article class="post" id="p-([^"]+)"', file.read_text()):
            found[(topic, post_id)] += 1
    expected = {(t.slug, p.id) for t in site.topics for p in t.posts}
    assert set(found) == expected
    assert set(found.values()) == {1}
    assert max(len(t.posts) for t in site.topics) > 50  # some threads span pages


def test_links_resolve(forum: Path) -> None:
    out = forum / "output"
    checked = 0
    for page, link in internal_links(out):
        target = resolve(out, link)
        assert target.is_file(), f"{page}: {link}"
        if "#" in link:
            assert f'id="{link.split("#")[1]}"' in target.read_text(), f"{page}: {link}"
        checked += 1
    assert checked > 10 * TOPICS


def test_rebuild_writes_nothing_and_clean_build_is_identical(forum: Path, tmp_path: Path) -> None:
    out = forum / "output"
    before = snapshot(out)
    result = CliRunner().invoke(main, ["build", "--site", str(forum), "--jobs", "1"])
    assert ": 0 written," in result.output
    assert snapshot(out) == before
    again = tmp_path / "again"
    result = CliRunner().invoke(main, ["build", "--site", str(forum), "--output", str(again)])
    assert result.exit_code == 0
    assert {k: v[0] for k, v in snapshot(again).items()} == {k: v[0] for k, v in before.items()}
