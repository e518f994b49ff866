"""Hostile posts, names, titles and tags, written into content files and submitted through
the intake: every page and feed built from them is checked element by element, and
template syntax stays text."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conftest import SiteFactory
from hostile import LINE_PAYLOADS, inert_output, payloads
from servers import gunicorn

ORIGIN = {"Origin": "http://forum.test"}


def test_hostile_content_files_render_inert(site: SiteFactory) -> None:
    hostile = payloads()
    assert len(hostile) >= 150
    for number, name in enumerate(LINE_PAYLOADS):
        site.topic(f"topic-{number}", title=name, author=name, tags=[name, "safe"],
                   body=hostile[number])
    for number, body in enumerate(hostile):
        site.reply(f"topic-{number % len(LINE_PAYLOADS)}", f"r{number:04d}", body=body,
                   author=LINE_PAYLOADS[number % len(LINE_PAYLOADS)],
                   date=f"2024-02-01T10:{number // 60 % 60:02d}:{number % 60:02d}Z")
    site.build()
    assert inert_output(site.output) == []
    text = "".join(p.read_text(encoding="utf-8") for p in site.output.rglob("*.html"))
    assert "{{ 7*7 }}" in text and "{% for x in range(3) %}" in text
    assert "alert(1)" in text  # shown as text, never run


def test_hostile_posts_through_the_intake_render_inert(site: SiteFactory) -> None:
    site.save_config(intake={"moderation": "publish", "rate_limit": "100000/second"})
    site.topic("hello", title="Hello")
    site.build()
    hostile = payloads()
    with gunicorn(site.root, workers=2) as server:
        def reply(body: str) -> tuple[int, str]:
            answer = server.post("/topics/hello/replies", {"author": "Mallory", "body": body},
                                 json_api=True, headers=ORIGIN)
            return answer.status, answer.json().get("id", "")

        def new_topic(name: str) -> int:
            return server.post("/topics", {"author": name, "title": name, "tags": name,
                                           "category": "general", "body": "x"},
                               json_api=True, headers=ORIGIN).status

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(reply, hostile))
            topics = list(pool.map(new_topic, LINE_PAYLOADS))
        replies = [status for status, _ in answers]
        # All accepted; bodies equal once control characters are dropped are stored once.
        assert replies.count(201) == len(hostile), sorted(set(replies))
        assert topics.count(201) >= len(LINE_PAYLOADS) - 3, topics
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            health = server.get("/health").json()["last_build"]
            requested = int((site.root / ".forumgen/rebuild-requested").read_text())
            if health and health["generation"] >= requested:
                break
            time.sleep(0.2)
    stored = len(list((site.root / "content/topics/hello").glob("*.md")))
    shown = sum(len(re.findall(r'<article class="post" id="p-', p.read_text()))
                for p in (site.output / "t/hello").rglob("index.html"))
    assert stored == shown == len({post_id for _, post_id in answers}) + 1
    assert inert_output(site.output) == []


def test_the_check_finds_what_it_looks_for(tmp_path: Path) -> None:
    bad = {"a.html": "<script>alert(1)</script>",
           "b.html": '<div class="post-body"><p onclick="x()">hi</p></div>',
           "c.html": '<a href=" JaVa\tScript:alert(1)">x</a>',
           "d.html": '<div style="color: red">x</div>',
           "e.html": '<meta http-equiv="refresh" content="0; url=javascript:alert(1)">',
           "f.html": '<div class="post-body"><input autofocus></div>',
           "feed.xml": '<feed xmlns="http://www.w3.org/2005/Atom"><entry><content type="html">'
                       '&lt;img src=x onerror=alert(1)&gt;</content></entry></feed>'}
    for name, text in bad.items():
        (tmp_path / name).write_text(f"<html><body>{text}</body></html>"
                                     if name.endswith(".html") else text)
    found = inert_output(tmp_path)
    assert {line.split(":")[0] for line in found} == set(bad), found
    (tmp_path / "ok.html").write_text('<a href="https://example.org/">x</a><form action="/i">'
                                      '<input name="q"></form>')
    assert len(inert_output(tmp_path)) == len(found)
