"""linkchecker crawls the example forum and a generated forum served over HTTP on
127.0.0.1 and finds no broken link and no missing anchor, having reached every page.

linkchecker fetches every distinct URL#anchor once and parses the whole page for its links
and for the anchor, so its time grows with the number of posts times the length of their
pages: a 1,000-topic forum (12,166 posts, each with its permalink) took 16 minutes on a
busy 2-core machine. The default run checks a 40-topic generated forum (611 posts) at 10
posts per page, so that its longest thread runs to 23 pages while each page stays short;
`FORUMGEN_LINKS=long` checks the 1,000-topic one at the default 50 posts per page.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import forums
import pytest
from tools import require

from conftest import html_files
from forumgen.build import load
from servers import ROOT, free_port, running

LONG = os.environ.get("FORUMGEN_LINKS") == "long"
LINKED_TOPICS = 1000 if LONG else 40
SHORT_PAGES = 10

CONFIG = """\
[checking]
threads=4
# The test server sends the `LinkChecker` header that allows this rate.
maxrequestspersecond=1000
[filtering]
checkextern=0
# The forms post to the intake, which is not part of the static output (its routes are
# tested on their own); every other URL of the site is fetched.
ignore=
  ^{base}intake/
[AnchorCheck]
"""


# linkchecker's own command, except that run as root it keeps its user: it would switch to
# `nobody`, who cannot list its plugin folder when Python lives under /root (as here and
# in CI), and the anchor check would be silently off.
LINKCHECKER = """\
import sys
import linkcheck.command.linkchecker as command
command.drop_privileges = lambda: None
sys.exit(command.linkchecker())
"""


def static_server(output: Path, port: int) -> Any:
    """forumgen's static-file app serving `output` on 127.0.0.1:`port`, until left."""
    return running(
        [sys.executable, str(ROOT / "tests" / "static_server.py"), str(output), str(port)],
        port,
        {},
        "/",
    )


def linkcheck(base_url: str, starts: list[str], workdir: Path) -> list[dict[str, str]]:
    """Every URL linkchecker met (-v), as the rows of its CSV report."""
    require(
        [] if importlib.util.find_spec("linkcheck") else ["linkchecker"], 'pip install -e ".[test]"'
    )
    config = workdir / "linkcheckerrc"
    config.write_text(CONFIG.format(base=base_url.replace(".", r"\.")), encoding="utf-8")
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            LINKCHECKER,
            "-f",
            str(config),
            "--no-robots",
            "--no-status",
            "-v",
            "-o",
            "csv/utf-8",
            *(base_url + s for s in starts),
        ],
        capture_output=True,
        timeout=7200 if LONG else 900,
        env={**os.environ, "HOME": str(workdir)},
    )
    text = run.stdout.decode("utf-8")
    rows = list(
        csv.DictReader(
            io.StringIO(
                "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))
            ),
            delimiter=";",
        )
    )
    assert rows, run.stderr.decode()
    return rows


def problems(rows: list[dict[str, str]]) -> list[str]:
    """Broken links (invalid) and missing anchors (reported as warnings), with the page
    holding the link."""
    return [
        f"{r['parentname']} -> {r['urlname']}: {r['result']} {r['warningstring']}".strip()
        for r in rows
        if r["valid"] != "True" or r["warningstring"]
    ]


def page_url(output: Path, page: Path, base_url: str) -> str:
    path = page.relative_to(output).as_posix().removesuffix("index.html")
    return base_url + quote(path)


LISTINGS = ("page/*", "c/*/page/*", "tag/*/page/*")


def check_forum(forum: forums.Forum, workdir: Path) -> list[dict[str, str]]:
    # Where visitors come from: the home page, the sitemap, and old links (redirect pages,
    # which nothing in the forum links to: old URLs of topics, listing pages past
    # listing_pages, which lead to the archive, and the bare prefixes of tag and category
    # pages, which lead to their indexes).
    config, site = load(forum.root)
    listings = [p for pattern in LISTINGS for p in forum.output.glob(pattern)]
    starts = [
        "",
        "404.html",
        "sitemap.xml",
        "tag/",
        "c/",
        *(
            quote(old.lstrip("/"))
            for topic in site.topics
            for old in (
                *topic.redirect_from,
                *(o for post in topic.posts for o in post.redirect_from),
            )
        ),
        *(
            quote(p.relative_to(forum.output).as_posix()) + "/"
            for p in listings
            if int(p.name) > config.listing_pages
        ),
    ]
    with static_server(forum.output, forum.port):
        rows = linkcheck(forum.base_url, starts, workdir)
    assert problems(rows) == []
    fetched = {unquote(r["url"]) for r in rows if r["result"] == "200 OK"}
    pages = {unquote(page_url(forum.output, p, forum.base_url)) for p in html_files(forum.output)}
    assert pages - fetched == set(), "pages the crawl never reached"
    anchored = [r for r in rows if "#" in r["url"] and r["result"] == "200 OK"]
    assert len(anchored) > len(pages), "permalinks were not checked"
    return rows


def test_example_forum_has_no_broken_link(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    check_forum(forums.example(tmp_path_factory), tmp_path)


def test_generated_forum_has_no_broken_link(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    forum = forums.generated(tmp_path_factory, LINKED_TOPICS, 0 if LONG else SHORT_PAGES)
    check_forum(forum, tmp_path)


def test_linkchecker_reports_a_missing_page_and_a_missing_anchor(tmp_path: Path) -> None:
    """With this configuration linkchecker does see what the tests above say is absent."""
    out = tmp_path / "output"
    (out / "a").mkdir(parents=True)
    (out / "index.html").write_text(
        '<!DOCTYPE html><html lang="en"><title>home</title>'
        '<a href="/a/#here">fine</a> <a href="/a/#nowhere">no anchor</a>'
        '<a href="/missing/">no page</a></html>'
    )
    (out / "a" / "index.html").write_text(
        '<!DOCTYPE html><html lang="en"><title>a</title><p id="here">here</p></html>'
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    with static_server(out, port):
        found = problems(linkcheck(base, [""], tmp_path))
    assert len(found) == 2, found
    assert any("#nowhere" in p and "not found" in p for p in found), found
    assert any("/missing/" in p and "404" in p for p in found), found
