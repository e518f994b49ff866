"""The sitemap validates against the sitemaps.org schemas (tests/data/sitemap.xsd and
siteindex.xsd), and lists exactly the pages a search engine should index: every
`index.html` page of the output except those that say `noindex` (redirect pages) or that
robots.txt disallows (the new-topic form). 404.html is not a page of its own URL and is
`noindex` too, so it is never listed."""

from __future__ import annotations

import urllib.robotparser
from pathlib import Path
from urllib.parse import quote, unquote

import forums
import lxml.etree
import lxml.html
import pytest
from click.testing import CliRunner

import forumgen.pages
from conftest import html_files
from forumgen.build import load
from forumgen.cli import main

DATA = Path(__file__).resolve().parent / "data"
NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}


def schema(name: str) -> lxml.etree.XMLSchema:
    return lxml.etree.XMLSchema(lxml.etree.parse(DATA / name))


def validated(file: Path, xsd: lxml.etree.XMLSchema) -> lxml.etree._ElementTree:
    tree = lxml.etree.parse(file)
    assert xsd.validate(tree), f"{file.name}: {xsd.error_log}"
    return tree


def sitemap_urls(output: Path, base_url: str) -> list[str]:
    """Every page URL the sitemap lists, through the index and its parts if there is one,
    each file validated against its schema."""
    root = output / "sitemap.xml"
    tree = lxml.etree.parse(root)
    if tree.getroot().tag == f"{{{NS['s']}}}sitemapindex":
        validated(root, schema("siteindex.xsd"))
        parts = [str(loc) for loc in tree.xpath("//s:sitemap/s:loc/text()", namespaces=NS)]
        assert parts and all(p.startswith(base_url) for p in parts)
        files = [output / unquote(p[len(base_url) :]) for p in parts]
    else:
        files = [root]
    urls: list[str] = []
    for file in files:
        part = validated(file, schema("sitemap.xsd"))
        assert len(part.xpath("//s:url", namespaces=NS)) == len(
            part.xpath("//s:url/s:lastmod", namespaces=NS)
        ), f"{file.name}: lastmod missing"
        urls += [str(loc) for loc in part.xpath("//s:url/s:loc/text()", namespaces=NS)]
    return urls


def indexable(output: Path, base_url: str) -> set[str]:
    """The URL of every index.html page that robots.txt allows and that is not noindex."""
    robots = urllib.robotparser.RobotFileParser()
    robots.parse((output / "robots.txt").read_text(encoding="utf-8").splitlines())
    found = set()
    for page in html_files(output):
        if page.name != "index.html":
            continue
        url = base_url + quote(page.relative_to(output).as_posix().removesuffix("index.html"))
        robots_meta = lxml.html.fromstring(page.read_bytes()).xpath(
            "//meta[@name='robots']/@content"
        )
        if robots.can_fetch("*", url) and "noindex" not in " ".join(robots_meta):
            found.add(url)
    return found


def check_sitemap(output: Path, base_url: str) -> set[str]:
    listed = sitemap_urls(output, base_url)
    assert len(listed) == len(set(listed)), "a page is listed twice"
    expected = indexable(output, base_url)
    assert set(listed) - expected == set(), "listed, but no indexable page there"
    assert expected - set(listed) == set(), "indexable pages missing from the sitemap"
    assert base_url + "new/" not in listed and not any(u.endswith("404.html") for u in listed)
    return expected


@pytest.mark.parametrize("name", ["example", "generated", "archived"])
def test_sitemap_is_valid_and_lists_exactly_the_pages(
    name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    forum = getattr(forums, name)(tmp_path_factory)
    listed = check_sitemap(forum.output, forum.base_url)
    # What is left out is left out for a reason (above); and no page of the forum's own is:
    # every page of the latest topics, of each category, topic and tag; every author.
    config, site = load(forum.root)
    out = forum.output
    own = {"", *(f"c/{c.slug}/" for c in site.categories)}
    for topic in site.topics:
        own |= {
            f"t/{topic.slug}/",
            *(
                f"t/{topic.slug}/page/{p.name}/"
                for p in (out / "t" / topic.slug / "page").glob("*")
            ),
        }
    own |= {
        f"{kind}/{p.name}/"
        for kind in ("u", "tag")
        for p in (out / kind).iterdir()
        if p.is_dir() and p.name != "page"
    }
    # The indexes of tags, categories and authors.
    own |= {"tags/", "categories/", "u/"}
    # Listing pages up to listing_pages; past that, the archive took their place.
    listings = {
        p.relative_to(out).as_posix() + "/"
        for pattern in ("page/*", "c/*/page/*", "tag/*/page/*")
        for p in out.glob(pattern)
    }
    own |= {path for path in listings if int(path.split("/")[-2]) <= config.listing_pages}
    moved = listings - own
    own |= {
        p.parent.relative_to(out).as_posix() + "/"
        for pattern in (
            "archive/**/index.html",
            "c/*/archive/**/index.html",
            "tag/*/archive/**/index.html",
        )
        for p in out.glob(pattern)
    }
    assert {forum.base_url + quote(path) for path in own} <= listed
    assert len(own) > {"example": 150, "generated": 600, "archived": 500}[name]
    assert moved and "archive/" in own
    # The pages that lead to the archive are not listed.
    assert not {forum.base_url + quote(path) for path in moved} & listed
    # The redirect pages are there, and not listed (the bare prefixes of tag and
    # category pages lead to their indexes).
    assert not {forum.base_url + bare for bare in ("tag/", "c/")} & listed
    for old in forums.REDIRECTED if name == "generated" else ():
        assert (out / old / "index.html" if old.endswith("/") else out / old).is_file()
        assert forum.base_url + old not in listed


def test_a_large_forum_gets_a_valid_sitemap_index(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past SITEMAP_PART URLs the sitemap is an index over parts; the part size is made
    small here so a forum of 150 topics shows it."""
    forum = forums.generated(tmp_path_factory, 150)
    monkeypatch.setattr(forumgen.pages, "SITEMAP_PART", 100)
    out = forum.root / "indexed"
    result = CliRunner().invoke(
        main,
        [
            "build",
            "--site",
            str(forum.root),
            "--jobs",
            "1",
            "--base-url",
            forum.base_url,
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    parts = sorted(p.name for p in out.glob("sitemap-*.xml"))
    assert len(parts) >= 3 and any("topics" in p for p in parts), parts
    check_sitemap(out, forum.base_url)


def test_the_schema_refuses_a_wrong_sitemap(tmp_path: Path) -> None:
    """A url without loc, or a lastmod that is no W3C date, is refused."""
    xsd = schema("sitemap.xsd")
    head = '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    for body in (
        "<url><lastmod>2024-01-01</lastmod></url>",
        "<url><loc>http://127.0.0.1/</loc><lastmod>yesterday</lastmod></url>",
    ):
        assert not xsd.validate(lxml.etree.fromstring(f"{head}{body}</urlset>"))
    assert xsd.validate(
        lxml.etree.fromstring(
            f"{head}<url><loc>http://127.0.0.1/a/</loc>"
            "<lastmod>2024-01-01T10:00:00+02:00</lastmod></url></urlset>"
        )
    )
