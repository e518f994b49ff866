"""Hostile posts, names, titles and tags, written into content files and submitted through
the intake: every page and feed built from them is checked element by element, and
template syntax stays text."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from browser import chromium, require_browser
from conftest import SiteFactory
from hostile import LINE_PAYLOADS, inert_output, payloads
from servers import free_port, gunicorn, wait_until_up

ORIGIN = {"Origin": "http://forum.test"}


def test_hostile_content_files_render_inert(site: SiteFactory) -> None:
    hostile = payloads()
    assert len(hostile) >= 150
    for number, name in enumerate(LINE_PAYLOADS):
        site.topic(
            f"topic-{number}", title=name, author=name, tags=[name, "safe"], body=hostile[number]
        )
    for number, body in enumerate(hostile):
        site.reply(
            f"topic-{number % len(LINE_PAYLOADS)}",
            f"r{number:04d}",
            body=body,
            author=LINE_PAYLOADS[number % len(LINE_PAYLOADS)],
            date=f"2024-02-01T10:{number // 60 % 60:02d}:{number % 60:02d}Z",
        )
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
            answer = server.post(
                "/topics/hello/replies",
                {"author": "Mallory", "body": body},
                json_api=True,
                headers=ORIGIN,
            )
            return answer.status, answer.json().get("id", "")

        def new_topic(name: str) -> int:
            return server.post(
                "/topics",
                {"author": name, "title": name, "tags": name, "category": "general", "body": "x"},
                json_api=True,
                headers=ORIGIN,
            ).status

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
    shown = sum(
        len(re.findall(r'<article class="post" id="p-', p.read_text()))
        for p in (site.output / "t/hello").rglob("index.html")
    )
    assert stored == shown == len({post_id for _, post_id in answers}) + 1
    assert inert_output(site.output) == []


def test_the_check_finds_what_it_looks_for(tmp_path: Path) -> None:
    bad = {
        "a.html": "<script>alert(1)</script>",
        "b.html": '<div class="post-body"><p onclick="x()">hi</p></div>',
        "c.html": '<a href=" JaVa\tScript:alert(1)">x</a>',
        "d.html": '<div style="color: red">x</div>',
        "e.html": '<meta http-equiv="refresh" content="0; url=javascript:alert(1)">',
        "f.html": '<div class="post-body"><input autofocus></div>',
        "g.html": '<script src="/static/search.js">alert(1)</script>',
        "h.html": '<script src="https://cdn.example/static/search.js"></script>',
        "feed.xml": '<feed xmlns="http://www.w3.org/2005/Atom"><entry><content type="html">'
        "&lt;img src=x onerror=alert(1)&gt;</content></entry></feed>",
    }
    for name, text in bad.items():
        (tmp_path / name).write_text(
            f"<html><body>{text}</body></html>" if name.endswith(".html") else text
        )
    found = inert_output(tmp_path)
    assert {line.split(":")[0] for line in found} == set(bad), found
    (tmp_path / "ok.html").write_text(
        '<a href="https://example.org/">x</a><form action="/i">'
        '<input name="q"></form>'
        '<script src="/forum/static/search.js"></script>'
    )
    assert len(inert_output(tmp_path)) == len(found)


def test_hostile_pages_run_no_script_in_chromium(site: SiteFactory) -> None:
    """The same hostile forum, served without the security headers (so only the
    sanitizer stands between the payloads and the browser), loaded page by page."""
    require_browser()
    hostile = payloads()
    for number, name in enumerate(LINE_PAYLOADS):
        site.topic(f"topic-{number}", title=name, author=name, tags=[name], body=hostile[number])
    for number, body in enumerate(hostile):
        site.reply(
            f"topic-{number % len(LINE_PAYLOADS)}",
            f"r{number:04d}",
            body=body,
            date=f"2024-02-01T10:{number // 60 % 60:02d}:{number % 60:02d}Z",
        )
    site.build()
    # A page that does run script, to prove the hook would see it.
    (site.output / "canary.html").write_text(
        "<script>alert('inline')</script><img src=/nothing.png onerror=alert('handler')>"
    )
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(site.output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(port, server, "/")
        pages = sorted(p.relative_to(site.output).as_posix() for p in site.output.rglob("*.html"))
        ran: dict[str, list[str]] = {}
        with chromium() as browser:
            for page in pages:
                browser.get(f"http://127.0.0.1:{port}/{page}")
                ran[page] = browser.execute_script("return window.__ran")
                # Focus and hover everything, so autofocus and mouse handlers would fire.
                browser.execute_script(
                    "for (const e of document.querySelectorAll('*')) {"
                    " e.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));"
                    " if (e.focus) e.focus(); }"
                )
                ran[page] += browser.execute_script("return window.__ran")
        assert len(pages) > 30
        assert set(ran.pop("canary.html")) == {"alert:inline", "alert:handler"}
        assert {page: calls for page, calls in ran.items() if calls} == {}
    finally:
        server.terminate()
        server.wait()
