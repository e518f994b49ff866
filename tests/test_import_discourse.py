"""`forumgen import discourse`: topic JSON and the category list of a Discourse forum
become categories, topics and replies; old /t/ URLs resolve, over HTTP, to the same
post on the right page; links between posts point at the new permalinks."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin

import lxml.html
import pytest
import yaml

from conftest import SiteFactory, snapshot
from servers import free_port, running

OLD = "https://forum.example.org"


def post(number: int, username: str, created: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": 1000 + number * 7,
        "post_number": number,
        "username": username,
        "name": f"{username.title()} Person",
        "created_at": created,
        "updated_at": created,
        "post_type": 1,
        "reply_to_post_number": None,
        "cooked": "",
        **fields,
    }


def topic(
    topic_id: int,
    slug: str,
    title: str,
    category: int | None,
    posts: list[dict[str, Any]],
    **fields: Any,
) -> dict[str, Any]:
    return {
        "id": topic_id,
        "slug": slug,
        "title": title,
        "category_id": category,
        "created_at": posts[0]["created_at"] if posts else None,
        "tags": [],
        "post_stream": {"posts": posts, "stream": [p["id"] for p in posts]},
        **fields,
    }


@pytest.fixture
def export(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    (folder / "t").mkdir(parents=True)
    categories = {
        "category_list": {
            "categories": [
                {"id": 1, "slug": "general", "name": "General (old)", "description": None},
                {
                    "id": 5,
                    "slug": "deploy",
                    "name": "Deployment",
                    "description": "<p>nginx &amp; <b>systemd</b></p>",
                    "description_text": "nginx & systemd",
                },
            ]
        }
    }
    timeouts = topic(
        12,
        "gunicorn-timeouts",
        "Gunicorn timeouts",
        5,
        [
            post(
                1,
                "maria",
                "2023-04-11T07:14:00.000Z",
                raw="Workers time out. Mail me: maria@example.org",
                cooked="<p>Workers time out.</p>",
            ),
            post(
                2,
                "tom",
                "2023-04-11T08:00:00.000Z",
                cooked='<p>Raise <code>--timeout</code>, see <a href="/t/flask-sessions/13/2">'
                'this answer</a> and <img src="/uploads/default/x.png" alt="graph">.</p>',
            ),
            post(
                3,
                "maria",
                "2023-04-11T09:00:00.000Z",
                reply_to_post_number=2,
                version=2,
                updated_at="2023-04-12T10:00:00.000Z",
                raw=f"As [said above]({OLD}/t/gunicorn-timeouts/12/2?u=maria), it works.",
            ),
            post(4, "spam", "2023-04-11T09:30:00.000Z", raw="Buy things", hidden=True),
            post(5, "system", "2023-04-11T09:40:00.000Z", post_type=3, raw="", cooked=""),
            post(
                6,
                "ann",
                "2023-04-11T10:00:00.000Z",
                reply_to_post_number=3,
                raw=f"Summary in {OLD}/t/gunicorn-timeouts/12/3 and /t/13, not in "
                f"{OLD}/t/never-imported/99.",
            ),
        ],
        tags=["gunicorn", {"id": 3, "name": "nginx", "slug": "nginx"}],
        pinned=True,
        closed=True,
    )
    sessions = topic(
        13,
        "flask-sessions",
        "Flask sessions",
        1,
        [
            post(1, "bob", "2023-05-01T10:00:00.000Z", raw="Sessions get lost."),
            post(
                2,
                "ann",
                "2023-05-01T11:00:00.000Z",
                raw="Set `SECRET_KEY`.",
                reply_to_post_number=1,
            ),
        ],
    )
    chinese = topic(
        14,
        "topic",
        "部署问题",
        99,
        [
            post(1, "李明", "2023-06-01T02:00:00.000Z", cooked="<p>请帮忙</p>"),
            post(
                2,
                "wang",
                "2023-06-01T03:00:00.000Z",
                cooked='<aside class="quote" data-username="李明"><blockquote><p>请帮忙</p>'
                "</blockquote></aside><p>好的</p>",
            ),
        ],
    )
    (folder / "categories.json").write_text(json.dumps(categories))
    for item in (timeouts, sessions, chinese):
        (folder / "t" / f"{item['id']}.json").write_text(json.dumps(item, ensure_ascii=False))
    return folder


def read(site: SiteFactory, relative: str) -> tuple[dict[str, Any], str]:
    _, front, body = (site.root / "content/topics" / relative).read_text("utf-8").split("---\n", 2)
    return yaml.safe_load(front), body


def reply_files(site: SiteFactory, slug: str) -> list[str]:
    return sorted(
        p.stem for p in (site.root / "content/topics" / slug).glob("*.md") if p.name != "topic.md"
    )


def test_topics_posts_and_categories(site: SiteFactory, export: Path) -> None:
    categories_before = (site.root / "content/categories.yaml").read_text()
    result = site.cli("import", "discourse", str(export), "--old-url", OLD)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "imported 3 topics and 6 replies from 1 source; 0 already imported, 0 duplicates"
    )
    categories = (site.root / "content/categories.yaml").read_text()
    assert categories.startswith(categories_before)
    assert yaml.safe_load(categories)[2:] == [
        {"slug": "deploy", "name": "Deployment", "description": "nginx & systemd"}
    ]

    front, body = read(site, "gunicorn-timeouts/topic.md")
    assert front == {
        "title": "Gunicorn timeouts",
        "author": "maria",
        "date": "2023-04-11T07:14:00+00:00",
        "category": "deploy",
        "tags": ["gunicorn", "nginx"],
        "pinned": True,
        "locked": True,
        "redirect_from": ["/t/gunicorn-timeouts/12", "/t/12", "/t/gunicorn-timeouts/12/1"],
    }
    assert body == "Workers time out. Mail me: maria@…\n"  # raw preferred over cooked
    assert reply_files(site, "gunicorn-timeouts") == [
        "20230411T080000Z-p2",
        "20230411T090000Z-p3",
        "20230411T093000Z-p4",
        "20230411T100000Z-p6",
    ]
    two, body2 = read(site, "gunicorn-timeouts/20230411T080000Z-p2.md")
    assert "reply_to" not in two and two["redirect_from"] == ["/t/gunicorn-timeouts/12/2"]
    assert "Raise `--timeout`" in body2
    assert "[this answer](</t/flask-sessions/#p-20230501T110000Z-p2>)" in body2
    assert f"[graph](<{OLD}/uploads/default/x.png>)" in body2
    three, body3 = read(site, "gunicorn-timeouts/20230411T090000Z-p3.md")
    assert three["reply_to"] == "20230411T080000Z-p2"
    assert three["edited"] == "2023-04-12T10:00:00+00:00"
    assert "[said above](/t/gunicorn-timeouts/#p-20230411T080000Z-p2)" in body3
    assert read(site, "gunicorn-timeouts/20230411T093000Z-p4.md")[0]["hidden"] is True
    _, body6 = read(site, "gunicorn-timeouts/20230411T100000Z-p6.md")
    assert body6 == (
        "Summary in /t/gunicorn-timeouts/#p-20230411T090000Z-p3 and "
        f"/t/flask-sessions/, not in {OLD}/t/never-imported/99.\n"
    )

    front14, _ = read(site, "部署问题/topic.md")
    assert front14["category"] == "general" and front14["author"] == "李明"
    _, quoted = read(site, "部署问题/20230601T030000Z-p2.md")
    assert quoted == "> 李明 wrote:\n>\n> 请帮忙\n\n好的\n"


def test_reimport_writes_nothing_and_more_posts_top_up(site: SiteFactory, export: Path) -> None:
    page = export / "t/13.json"
    whole = json.loads(page.read_text())
    first = {**whole, "post_stream": {"posts": whole["post_stream"]["posts"][:1]}}
    page.write_text(json.dumps(first))
    assert site.cli("import", "discourse", str(export)).exit_code == 0
    assert reply_files(site, "flask-sessions") == []
    # The rest of the topic, as /t/13/posts.json gives it (no title).
    (export / "t/13-posts.json").write_text(
        json.dumps({"id": 13, "post_stream": {"posts": whole["post_stream"]["posts"][1:]}})
    )
    result = site.cli("import", "discourse", str(export))
    assert result.output.strip().startswith(
        "imported 0 topics and 1 reply from 1 source; 8 already imported"
    ), result.output
    assert reply_files(site, "flask-sessions") == ["20230501T110000Z-p2"]
    before = snapshot(site.root / "content")
    again = site.cli("import", "discourse", str(export / "t"), str(export / "categories.json"))
    assert "imported 0 topics and 0 replies" in again.output
    assert snapshot(site.root / "content") == before


def test_old_urls_resolve_over_http_to_the_right_post(site: SiteFactory, export: Path) -> None:
    site.save_config(posts_per_page=2)
    assert site.cli("import", "discourse", str(export), "--old-url", OLD).exit_code == 0
    site.build()
    assert site.cli("check").exit_code == 0
    port = free_port()
    expected = {
        "/t/gunicorn-timeouts/12": ("/t/gunicorn-timeouts/", ""),
        "/t/gunicorn-timeouts/12/": ("/t/gunicorn-timeouts/", ""),
        "/t/12": ("/t/gunicorn-timeouts/", ""),
        "/t/gunicorn-timeouts/12/1": ("/t/gunicorn-timeouts/", ""),
        "/t/gunicorn-timeouts/12/2": ("/t/gunicorn-timeouts/", "p-20230411T080000Z-p2"),
        "/t/gunicorn-timeouts/12/3": ("/t/gunicorn-timeouts/page/2/", "p-20230411T090000Z-p3"),
        "/t/gunicorn-timeouts/12/6/": ("/t/gunicorn-timeouts/page/2/", "p-20230411T100000Z-p6"),
        "/t/topic/14/2": (f"/t/{'部署问题'}/", "p-20230601T030000Z-p2"),
        "/t/flask-sessions/13/2": ("/t/flask-sessions/", "p-20230501T110000Z-p2"),
    }
    command = [
        sys.executable,
        "-m",
        "http.server",
        "--bind",
        "127.0.0.1",
        "--directory",
        str(site.output),
        str(port),
    ]
    with running(command, port, {}, "/") as server:
        for old, (page, anchor) in expected.items():
            answer = server.get(old)
            if answer.status == 301:  # /t/12 -> /t/12/, as any static server does
                answer = server.get(answer.headers["location"])
            assert answer.status == 200, old
            doc = lxml.html.fromstring(answer.body)
            refresh = doc.xpath("//meta[@http-equiv='refresh']/@content")[0]
            target = urljoin(old, refresh.split("url=", 1)[1])
            path, _, fragment = target.partition("#")
            assert (unquote(path), fragment) == (page, anchor), old
            landed = server.get(path)
            assert landed.status == 200
            assert lxml.html.fromstring(landed.body).xpath(f"//*[@id='{fragment or 'p-topic'}']"), (
                old
            )
        # The links inside posts lead to live pages and anchors too.
        doc = lxml.html.fromstring(server.get("/t/gunicorn-timeouts/page/2/").body)
        hrefs = doc.xpath("//article[@id='p-20230411T100000Z-p6']//a/@href")
        internal = [h for h in hrefs if h.startswith("/t/")]
        assert len(internal) == 2
        for href in internal:
            path, _, fragment = href.partition("#")
            landed = lxml.html.fromstring(server.get(path).body)
            assert not fragment or landed.xpath(f"//*[@id='{fragment}']"), href
    netlify = (site.output / "_redirects").read_text()
    assert (
        "/t/gunicorn-timeouts/12/3 /t/gunicorn-timeouts/page/2/#p-20230411T090000Z-p3 301!"
        in netlify.splitlines()
    )
    assert not re.search(
        r"[\w.+-]+@[\w-]+\.[\w.-]+",
        "".join(p.read_text("utf-8") for p in site.output.rglob("*.html")),
    )


def import_topics(
    site: SiteFactory, folder: Path, *topics: dict[str, Any], old_url: str = OLD
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for item in topics:
        (folder / f"{item['id']}.json").write_text(json.dumps(item, ensure_ascii=False))
    options = ["--old-url", old_url] if old_url else []
    result = site.cli("import", "discourse", str(folder), *options)
    assert result.exit_code == 0 and "problem" not in result.output, result.output


def body_of(site: SiteFactory, page: str, post_id: str) -> Any:
    return site.page(page).xpath(
        f"//article[@id='p-{post_id}']//div[contains(@class, 'post-body')]"
    )[0]


def attribution(quote: Any) -> tuple[str, list[str]]:
    """A quote's first line: its text and the addresses it links to."""
    lead = quote.xpath("./p")[0]
    return " ".join(lead.text_content().split()), lead.xpath("./a/@href")


def test_quotes_lead_to_the_quoted_posts_new_permalinks(site: SiteFactory, tmp_path: Path) -> None:
    site.save_config(posts_per_page=2)
    quoted = topic(
        20,
        "quoting",
        "Quoting",
        None,
        [
            post(1, "ann", "2024-01-01T10:00:00.000Z", raw="Opening."),
            post(2, "bob", "2024-01-01T11:00:00.000Z", raw="Second."),
            post(3, "carl", "2024-01-01T12:00:00.000Z", raw="Third."),
            post(
                4,
                "dee",
                "2024-01-01T13:00:00.000Z",
                raw=(
                    '[quote="bob, post:2, topic:20"]\nSecond.\n'
                    '[quote="ann, post:5, topic:21"]\nNot imported.\n'
                    '[quote="zed, post:1, topic:99"]\nElsewhere.\n[/quote]\n[/quote]\n[/quote]\n\n'
                    "I agree."
                ),
            ),
            post(
                5,
                "eve",
                "2024-01-01T14:00:00.000Z",
                cooked=(
                    '<aside class="quote no-group" data-username="carl" data-post="3" '
                    'data-topic="20"><div class="title"><div class="quote-controls"></div> '
                    "carl:</div><blockquote><p>Third.</p></blockquote></aside><p>Yes.</p>"
                ),
            ),
        ],
    )
    other = topic(
        21, "other", "Other", None, [post(1, "ann", "2024-01-02T10:00:00.000Z", raw="Other topic.")]
    )
    import_topics(site, tmp_path / "export", quoted, other)
    site.build()

    outer = body_of(site, "t/quoting/page/2/", "20240101T130000Z-p4").xpath("./blockquote")
    assert len(outer) == 1
    assert attribution(outer[0]) == ("bob wrote:", ["/t/quoting/#p-20240101T110000Z-p2"])
    middle = outer[0].xpath("./blockquote")[0]
    assert attribution(middle) == ("ann wrote:", ["/t/other/"])  # post 5 is not imported
    inner = middle.xpath("./blockquote")[0]
    assert attribution(inner) == ("zed wrote:", [])  # topic 99 is not imported
    assert "Elsewhere." in inner.text_content()
    assert "[quote" not in outer[0].text_content()

    cooked = body_of(site, "t/quoting/page/3/", "20240101T140000Z-p5").xpath("./blockquote")
    assert attribution(cooked[0]) == ("carl wrote:", ["/t/quoting/page/2/#p-20240101T120000Z-p3"])
    # Every attribution leads to a page that has the post.
    for href in ["/t/quoting/#p-20240101T110000Z-p2", "/t/quoting/page/2/#p-20240101T120000Z-p3"]:
        path, _, anchor = href.partition("#")
        assert site.page(path.lstrip("/")).xpath(f"//*[@id='{anchor}']")


def test_details_emoji_and_mentions(site: SiteFactory, tmp_path: Path) -> None:
    site.save_config(base_url="http://forum.test/forum/")
    raw = (
        "Thanks @ann and @nobody :smile: :+1:t2: :slight_smile::tada: :not_an_emoji: "
        "at 10:30:00.\nA new line, as on Discourse.\n\n`:smile: @ann`\n\n"
        "```\n:tada: @ann\n```\n\n"
        '[details="Logs :smile:"]\n- one\n- two\n[/details]'
    )
    cooked = (
        '<p>Hi <a class="mention" href="/u/ann">@ann</a> '
        '<img src="/images/emoji/twitter/wave.png?v=12" title=":wave:" class="emoji" '
        'alt=":wave:"></p><details><summary>\nMore</summary><p>Folded.</p></details>'
    )
    import_topics(
        site,
        tmp_path / "export",
        topic(
            30,
            "thanks",
            "Thanks",
            None,
            [
                post(1, "ann", "2024-01-01T10:00:00.000Z", raw="Opening."),
                post(2, "bob", "2024-01-01T11:00:00.000Z", raw=raw),
                post(3, "carl", "2024-01-01T12:00:00.000Z", cooked=cooked),
            ],
        ),
    )
    site.build()

    body = body_of(site, "t/thanks/", "20240101T110000Z-p2")
    text = body.text_content()
    assert "😄 👍🏻 🙂🎉 :not_an_emoji: at 10:30:00." in text
    assert body.xpath("./p[1]/br")  # Discourse shows a single newline as a line break
    assert body.xpath(".//code/text()") == [":smile: @ann", ":tada: @ann\n"]
    mentions = body.xpath(".//a[starts-with(text(), '@')]")
    assert [(a.text, a.get("href")) for a in mentions] == [("@ann", "/forum/u/ann/")]
    assert (site.output / "u/ann/index.html").is_file()
    assert "@nobody" in text
    folded = body.xpath("./details")
    assert len(folded) == 1
    assert folded[0].xpath("./summary/text()") == ["Logs :smile:"]
    assert folded[0].xpath(".//li/text()") == ["one", "two"]

    converted = body_of(site, "t/thanks/", "20240101T120000Z-p3")
    assert [(a.text, a.get("href")) for a in converted.xpath(".//a")] == [("@ann", "/forum/u/ann/")]
    assert "👋" in converted.text_content()
    assert converted.xpath("./details/summary/text()") == ["More"]
    assert converted.xpath("./details/p/text()") == ["Folded."]


LIGHTBOX = (
    '<p><div class="lightbox-wrapper"><a class="lightbox" href="{old}/uploads/default/'
    'original/2X/a/abc.png" data-download-href="{old}/uploads/default/abc" '
    'title="Screenshot from 2019-09-19 13-54-28"><img src="{old}/uploads/default/optimized/'
    '2X/a/abc_2_690x388.png" alt="Screenshot%20from%202019-09-19%2013-54-28" '
    'data-base62-sha1="ShortName1" width="690" height="388"><div class="meta"><svg '
    'class="fa d-icon d-icon-far-image svg-icon"><use href="#far-image"></use></svg><span '
    'class="filename">Screenshot from 2019-09-19 13-54-28.png</span><span '
    'class="informations">1920×1080 591 KB</span></div></a></div></p>'
)
ONEBOX = (
    '<aside class="onebox allowlistedgeneric" data-onebox-src="https://example.com/a">'
    '<header class="source"><a href="https://example.com/a">example.com</a></header>'
    '<article class="onebox-body"><h3><a href="https://example.com/a">An article</a></h3>'
    "<p>Its summary.</p></article></aside>"
)


def test_images_uploads_and_link_previews(site: SiteFactory, tmp_path: Path) -> None:
    lightbox = LIGHTBOX.format(old=OLD)
    full = f"{OLD}/uploads/default/original/2X/a/abc.png"
    raw = (
        "![Screenshot from 2019-09-19 13-54-28|690x388](upload://ShortName1.png)\n\n"
        "[notes.pdf|attachment](upload://ShortName2.pdf) (12 KB)\n\n"
        "![lost|10x10](upload://ShortName3.png)"
    )
    cooked = (
        lightbox + f'<p><a class="attachment" href="{OLD}/uploads/default/original/'
        '2X/b/notes.pdf">notes.pdf</a> (12 KB)</p><p><img src="/images/transparent.png" '
        'alt="lost"></p>'
    )
    import_topics(
        site,
        tmp_path / "export",
        topic(
            40,
            "shots",
            "Shots",
            None,
            [
                post(1, "ann", "2024-01-01T10:00:00.000Z", raw=raw, cooked=cooked),
                post(2, "bob", "2024-01-01T11:00:00.000Z", cooked=lightbox + ONEBOX),
            ],
        ),
    )
    site.build()

    links = body_of(site, "t/shots/", "topic").xpath(".//a")
    assert [(a.text, a.get("href")) for a in links] == [
        ("Screenshot from 2019-09-19 13-54-28", full),
        ("notes.pdf", f"{OLD}/uploads/default/original/2X/b/notes.pdf"),
        ("lost", f"{OLD}/uploads/short-url/ShortName3.png"),
    ]

    converted = body_of(site, "t/shots/", "20240101T110000Z-p2")
    assert [(a.text, a.get("href")) for a in converted.xpath(".//a")] == [
        ("Screenshot from 2019-09-19 13-54-28", full),
        ("An article", "https://example.com/a"),
    ]
    text = " ".join(converted.text_content().split())
    assert text == "Screenshot from 2019-09-19 13-54-28 An article"  # no size, no summary
    assert not converted.xpath(".//h3")

    # Without the old forum's address an upload the cooked HTML does not show is its name.
    other = SiteFactory(tmp_path / "other")
    import_topics(
        other,
        tmp_path / "export2",
        topic(
            41,
            "lost",
            "Lost",
            None,
            [post(1, "ann", "2024-01-01T10:00:00.000Z", raw="![lost|10x10](upload://Gone.png)")],
        ),
        old_url="",
    )
    other.build()
    body = body_of(other, "t/lost/", "topic")
    assert body.text_content().strip() == "lost" and not body.xpath(".//a")


def test_cooked_html_keeps_lists_tables_code_and_headings(
    site: SiteFactory, tmp_path: Path
) -> None:
    cooked = (
        """<h2><a name="setup-1" class="anchor" href="#setup-1"></a>Setup</h2>
<p>Steps:</p>
<ul>
<li>install
<ul>
<li>from PyPI
<ul><li>pinned</li></ul>
</li>
<li>from source</li>
</ul>
</li>
<li><s>reboot</s> not needed</li>
</ul>
<ol start="3">
<li>three</li>
<li>four</li>
</ol>
<div class="md-table">
<table>
<thead><tr><th>Key</th><th style="text-align:right">Value</th></tr></thead>
<tbody><tr><td>a | b</td><td style="text-align:right">1</td></tr>
<tr><td>c</td><td style="text-align:right">2</td></tr></tbody>
</table>
</div>
<pre><code class="lang-python">print("hi")
</code></pre>
<pre><code class="lang-auto">plain
</code></pre>
<p>1999. A fine year<br>
---</p>"""
        + ONEBOX
    )
    import_topics(
        site,
        tmp_path / "export",
        topic(
            50, "setup", "Setup", None, [post(1, "ann", "2024-01-01T10:00:00.000Z", cooked=cooked)]
        ),
    )
    _, markdown = read(site, "setup/topic.md")
    assert (
        "Steps:\n\n- install\n    - from PyPI\n        - pinned\n    - from source\n"
        "- ~~reboot~~ not needed\n\n3. three\n4. four" in markdown
    )
    assert "| Key | Value |\n| --- | ---: |\n| a \\| b | 1 |\n| c | 2 |" in markdown
    assert '```python\nprint("hi")\n```\n\n```\nplain\n```' in markdown
    assert markdown.startswith("## Setup\n")
    site.build()

    body = body_of(site, "t/setup/", "topic")
    assert [len(li.xpath("ancestor::ul")) for li in body.xpath(".//ul//li")] == [1, 2, 3, 2, 1]
    assert body.xpath("./ol/@start") == ["3"] and len(body.xpath("./ol/li")) == 2
    assert [
        [c.text_content() for c in row.xpath("./th|./td")] for row in body.xpath(".//table//tr")
    ] == [["Key", "Value"], ["a | b", "1"], ["c", "2"]]
    assert [h.text_content() for h in body.xpath(".//h1|.//h2|.//h3|.//h4")] == ["Setup"]
    assert len(body.xpath(".//pre")) == 2 and not body.xpath(".//hr")
    assert "1999. A fine year" in body.text_content()
