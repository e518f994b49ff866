"""`forumgen serve` as a user runs it: one process previewing the site (apart from
output/) with the intake, rebuilding on changes, reloading open pages, stopping cleanly
on Ctrl-C."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from conftest import SiteFactory, snapshot
from forumgen.config import load_config
from forumgen.errors import Problems
from forumgen.headers import security_headers
from forumgen.locks import preview_output
from forumgen.serve import StaticFiles
from servers import Server, free_port, secured, wait_until_up

RESERVED = "__forumgen__"


@contextmanager
def serving(site: SiteFactory, log: Path, port: int | None = None) -> Iterator[Server]:
    """`forumgen serve` (watching) for `site`, stopped by Ctrl-C at the end."""
    port = port or free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "forumgen",
                "serve",
                "--site",
                str(site.root),
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_up(port, process, "/")
            yield Server(port, process)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.fixture
def served(site: SiteFactory, tmp_path: Path) -> Iterator[tuple[SiteFactory, Server, Path]]:
    site.save_config(intake={"moderation": "publish", "rate_limit": "100/second"})
    site.topic("hello", title="Hello", replies=1)
    log = tmp_path / "serve.log"
    with serving(site, log) as server:
        yield site, server, log


def wait_for(condition: object, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def test_static_files_like_a_static_host(served: tuple[SiteFactory, Server, Path]) -> None:
    site, server, _ = served
    home = server.get("/")
    assert home.status == 200 and home.headers["content-type"] == "text/html; charset=utf-8"
    assert home.headers["cache-control"] == "no-cache"
    again = server.request("GET", "/", headers={"If-None-Match": home.headers["etag"]})
    assert again.status == 304
    assert server.get("/feed.xml").headers["content-type"].startswith("application/atom+xml")
    assert server.get("/static/pygments.css").headers["content-type"].startswith("text/css")
    assert "max-age" in server.get("/static/pygments.css").headers["cache-control"]
    folder = server.get("/t/hello")
    assert folder.status == 301 and folder.headers["location"] == "/t/hello/"
    missing = server.get("/no/such/page/")
    assert missing.status == 404 and b"skip-link" in missing.body  # the site's 404.html
    for escape in (
        "/../forumgen.yaml",
        "/%2e%2e/forumgen.yaml",
        "/t/%2e%2e/%2e%2e/forumgen.yaml",
        "/..%2fforumgen.yaml",
        "/%00",
        "/static/..%5c..%5c",
    ):
        answer = server.get(escape)
        assert answer.status == 404, escape
        assert b"title:" not in answer.body
    assert server.request("POST", "/").status == 405


def test_hidden_files_are_never_served(site: SiteFactory, tmp_path: Path) -> None:
    """No `.git/`, `.htpasswd` or other hidden file or folder of the served folder is
    served, however the path spells the dot or reaches it (a symlink); the served
    folder itself lives in `.forumgen/`, which does not count. `.well-known/` at the top,
    copied from static/, is served as a static host serves it."""
    site.topic("hello", title="Hello")
    site.write("static/.well-known/security.txt", "Contact: mailto:security@forum.test\n")
    with serving(site, tmp_path / "serve.log") as server:
        served = preview_output(site.root)
        for name in (
            ".git/config",
            ".git/index.html",
            ".htpasswd",
            "t/hello/.secret",
            ".well-known/.hidden",
            "static/.env",
            ".hidden/page/index.html",
        ):
            (served / name).parent.mkdir(parents=True, exist_ok=True)
            (served / name).write_text("secret: 42\n")
        (served / "t/hello/notes").symlink_to(served / ".git")
        known = server.get("/.well-known/security.txt")
        assert known.status == 200 and known.body.startswith(b"Contact:")
        assert known.headers["content-type"] == "text/plain; charset=utf-8"
        assert server.get("/t/hello/").status == 200
        for path in (
            "/.git/config",
            "/.git/",
            "/.git",
            "/.htpasswd",
            "/t/hello/.secret",
            "/%2egit/config",
            "/%2Egit/config",
            "/%252egit/config",
            "/./.git/config",
            "/t/hello/%2esecret",
            "/.well-known/.hidden",
            "/static/.env",
            "/.hidden/page/",
            "/t/hello/notes/config",
            "/.git/%63onfig",
        ):
            answer = server.get(path)
            assert answer.status == 404, path
            assert b"secret: 42" not in answer.body, path


def test_the_access_log_shows_control_characters_escaped(
    served: tuple[SiteFactory, Server, Path],
) -> None:
    """A request line may carry raw control bytes (ESC, CSI): the log line written for
    it shows them escaped rather than sending them to the terminal running serve."""
    _, server, log = served
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"GET /\x1b[2Jcleared\x9b31m HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):  # to the end: the line is logged once it is sent
            answer += chunk
    assert answer.startswith(b"HTTP/1.0 404")
    wait_for(lambda: b"cleared" in log.read_bytes())
    text = log.read_text(encoding="utf-8")
    assert "GET /\\x1b[2Jcleared\\x9b31m HTTP/1.0" in text
    assert not set(text) & {"\x1b", "\x9b"}


def test_every_answer_carries_the_security_headers(
    served: tuple[SiteFactory, Server, Path],
) -> None:
    _, server, _ = served
    answers = [
        server.get("/"),
        server.get("/static/style.css"),
        server.get("/t/hello"),
        server.get("/no/such/page/"),
        server.request("POST", "/"),
        server.get("/intake/health"),
        server.post(
            "/intake/topics/hello/replies",
            {"author": "", "body": ""},
            headers={"Origin": f"http://127.0.0.1:{server.port}"},
        ),
    ]
    assert [a.status for a in answers] == [200, 200, 301, 404, 405, 200, 400]
    assert all(secured(a) for a in answers), [a.headers for a in answers if not secured(a)]


def test_intake_mounted_and_post_published(served: tuple[SiteFactory, Server, Path]) -> None:
    site, server, _ = served
    origin = {"Origin": f"http://127.0.0.1:{server.port}"}
    assert server.get("/intake/health").json()["moderation"] == "publish"
    answer = server.post(
        "/intake/topics/hello/replies",
        {"author": "Served Sam", "body": "via serve"},
        headers=origin,
    )
    assert answer.status == 303, answer.text
    assert answer.headers["location"].startswith(f"http://127.0.0.1:{server.port}/t/hello/#p-")
    page = server.get("/t/hello/")
    assert b"Served Sam" in page.body


def test_preview_shows_drafts_marked_and_keeps_them_after_a_post(
    served: tuple[SiteFactory, Server, Path],
) -> None:
    site, server, _ = served
    site.topic("plans", title="Plans in the making", draft=True)
    site.reply("hello", "r9999", body="A reply still in the drafts.", draft=True)
    wait_for(lambda: server.get("/t/plans/").status == 200)
    wait_for(lambda: b"still in the drafts" in server.get("/t/hello/").body)
    assert b"draft" in server.get("/t/plans/").body.lower()
    assert b"Plans in the making" in server.get("/").body
    # A post rebuilds the preview through the mounted intake: drafts stay shown.
    origin = {"Origin": f"http://127.0.0.1:{server.port}"}
    answer = server.post(
        "/intake/topics/hello/replies",
        {"author": "Served Sam", "body": "after the drafts"},
        headers=origin,
    )
    assert answer.status == 303, answer.text
    page = server.get("/t/hello/").body
    assert b"after the drafts" in page and b"still in the drafts" in page
    assert server.get("/t/plans/").status == 200
    # What forumgen build publishes leaves them out.
    site.build()
    assert not (site.output / "t/plans").exists()
    assert "still in the drafts" not in (site.output / "t/hello/index.html").read_text("utf-8")


def test_rebuilds_on_change_and_survives_errors(served: tuple[SiteFactory, Server, Path]) -> None:
    site, server, log = served
    site.topic("fresh", title="Fresh topic")
    wait_for(lambda: server.get("/t/fresh/").status == 200)
    site.topic("broken", category="nope")
    wait_for(lambda: b"unknown category 'nope'" in log.read_bytes())
    assert server.get("/t/fresh/").status == 200  # still serving
    shutil.rmtree(site.root / "content/topics/broken")
    site.write(
        "content/topics/fresh/topic.md",
        (site.root / "content/topics/fresh/topic.md")
        .read_text()
        .replace("Fresh topic", "Renamed topic"),
    )
    wait_for(lambda: b"Renamed topic" in server.get("/t/fresh/").body)


def test_ctrl_c_stops_cleanly(served: tuple[SiteFactory, Server, Path]) -> None:
    _, server, log = served
    # An open page listening for rebuilds does not keep the server from stopping.
    listening = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    listening.request("GET", f"/{RESERVED}/events")
    stream = listening.getresponse()
    assert stream.status == 200 and stream.readline() == b"retry: 1000\n"
    os.kill(server.process.pid, signal.SIGINT)
    assert server.process.wait(timeout=15) == 0
    assert log.read_bytes().rstrip().endswith(b"Stopped.")
    listening.close()


def test_static_app_serves_under_a_base_path(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t/index.html").write_text("topic")
    app = StaticFiles(tmp_path, "/archive/")
    seen: list[str] = []
    body = b"".join(
        app(
            {"REQUEST_METHOD": "GET", "PATH_INFO": "/archive/t/"},
            lambda status, headers: seen.append(status),
        )
    )
    assert seen == ["200 OK"] and body == b"topic"
    app({"REQUEST_METHOD": "GET", "PATH_INFO": "/t/"}, lambda s, h: seen.append(s))
    assert seen[-1] == "404 Not Found"


def test_serve_under_gunicorn(site: SiteFactory, tmp_path: Path) -> None:
    site.topic("hello", title="Hello")
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "forumgen",
            "serve",
            "--site",
            str(site.root),
            "--port",
            str(port),
            "--server",
            "gunicorn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until_up(port, process, "/")
        server = Server(port, process)
        page = server.get("/t/hello/")
        assert b"Hello" in page.body
        assert server.get("/intake/health").json()["moderation"] == "queue"
        # No live reload: an open page would hold one of gunicorn's few workers.
        assert RESERVED.encode() not in page.body
        assert server.get(f"/{RESERVED}/events").status == 404
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=20) == 0


def test_readme_nginx_recipe_sends_the_same_headers(site: SiteFactory) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    recipe = dict(re.findall(r'add_header ([\w-]+) "?(.+?)"? always;', readme))
    config = load_config(site.root, Problems(site.root))
    assert config is not None and config.intake_url.startswith("/")
    assert recipe == dict(security_headers(config))


def summaries(log: Path) -> list[str]:
    return re.findall(r"^\d+ files in .*$", log.read_text(), re.MULTILINE)


def pages_rendered(summary: str) -> int:
    match = re.search(r"; (\d+) pages rendered in", summary)
    assert match, summary
    return int(match.group(1))


def holding(folder: Path, text: str) -> list[str]:
    """The files under `folder` that contain `text`."""
    return [name for name, (data, _) in snapshot(folder).items() if text.encode() in data]


def test_serving_leaves_output_as_forumgen_build_made_it(site: SiteFactory, tmp_path: Path) -> None:
    site.save_config(intake={"moderation": "publish", "rate_limit": "100/second"})
    topic = site.topic("hello", title="Hello", replies=1)
    site.topic("other", title="Other")
    site.build()
    built = snapshot(site.output)
    port = free_port()
    address = f"http://127.0.0.1:{port}"
    with serving(site, tmp_path / "serve.log", port) as server:
        answer = server.post(
            "/intake/topics/hello/replies",
            {"author": "Preview Pat", "body": "Seen in the preview."},
            json_api=True,
            headers={"Origin": address},
        )
        assert answer.status == 201 and answer.json()["status"] == "published", answer.text
        wait_for(lambda: b"Preview Pat" in server.get("/t/hello/").body)
        site.write(
            "content/topics/hello/topic.md",
            topic.read_text().replace("title: Hello", "title: Hello again"),
        )
        wait_for(lambda: b"Hello again" in server.get("/t/hello/").body)
    # The preview was rendered for its own address, elsewhere; output/ not even touched.
    preview = site.root / ".forumgen/preview/site"
    assert address in (preview / "t/hello/index.html").read_text()
    assert snapshot(site.output) == built
    assert not holding(site.output, address)

    # The next build brings output/ up to date, as a clean build would make it, and
    # renders only what changed since the last build into output/.
    changed = site.build().output
    fresh = tmp_path / "fresh"
    clean = site.build("--output", str(fresh)).output
    assert 0 < pages_rendered(changed) < pages_rendered(clean)
    assert {k: v[0] for k, v in snapshot(site.output).items()} == {
        k: v[0] for k, v in snapshot(fresh).items()
    }
    assert not holding(site.output, address)
    assert holding(site.output, "Preview Pat") and holding(site.output, "Hello again")

    # And the preview, served again at the same address, is still up to date.
    built = snapshot(site.output)
    with serving(site, tmp_path / "again.log", port) as server:
        assert b"Hello again" in server.get("/t/hello/").body
    assert pages_rendered(summaries(tmp_path / "again.log")[0]) == 0
    assert snapshot(site.output) == built


def run_serve(site: SiteFactory, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "forumgen", "serve", "--site", str(site.root), *options],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_port_in_use_is_one_line_and_writes_nothing(site: SiteFactory) -> None:
    site.topic("hello")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_serve(site, "--port", str(port))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and done.stdout == "", done.stderr
    match = re.fullmatch(rf"port {port} is in use; try --port (\d+)", lines[0])
    assert match and int(match.group(1)) > port, lines
    assert sorted(p.name for p in site.root.iterdir()) == ["content", "forumgen.yaml"]


def test_an_address_not_of_this_machine_is_one_line_and_writes_nothing(site: SiteFactory) -> None:
    site.topic("hello")
    done = run_serve(site, "--host", "192.0.2.1", "--port", str(free_port()))  # TEST-NET-1
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "cannot listen on 192.0.2.1: it is not an address of this machine"
    ]
    assert sorted(p.name for p in site.root.iterdir()) == ["content", "forumgen.yaml"]


def build_events(
    server: Server, until: Callable[[dict[str, Any]], bool], seconds: float = 60
) -> dict[str, Any]:
    """The first build outcome on the live-reload stream that satisfies `until`,
    reconnecting when the server ends the stream, as a browser does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            conn.request("GET", f"/{RESERVED}/events")
            answer = conn.getresponse()
            assert answer.status == 200
            assert answer.getheader("Content-Type", "").startswith("text/event-stream")
            for raw in answer:
                line = raw.decode("utf-8").rstrip("\n")
                if line.startswith("data: "):
                    event = json.loads(line[len("data: ") :])
                    if until(event):
                        return dict(event)
        finally:
            conn.close()
    raise AssertionError("no such build event")


def test_pages_carry_the_reload_script_and_builds_do_not(
    served: tuple[SiteFactory, Server, Path],
) -> None:
    site, server, _ = served
    page = server.get("/t/hello/")
    tags = re.findall(rb"<script [^>]*__forumgen__[^>]*>", page.body)
    assert tags == [b'<script src="/__forumgen__/reload.js" data-generation="1" defer>']
    assert int(page.headers["content-length"]) == len(page.body)
    assert secured(page)
    assert (
        server.request("GET", "/t/hello/", headers={"If-None-Match": page.headers["etag"]}).status
        == 304
    )
    script = server.get(f"/{RESERVED}/reload.js")
    assert script.status == 200 and script.headers["content-type"].startswith("text/javascript")
    assert b"EventSource" in script.body and b"innerHTML" not in script.body
    assert build_events(server, lambda event: True) == {"generation": 1, "ok": True, "problems": []}
    assert (
        server.get("/static/style.css").body
        == (site.root / ".forumgen/preview/site/static/style.css").read_bytes()
    )

    site.topic("fresh", title="Fresh topic")
    assert build_events(server, lambda event: event["generation"] >= 2)["ok"]
    again = server.get("/t/hello/")
    assert b'data-generation="2"' in again.body  # a new build: the old ETag is stale
    assert (
        server.request("GET", "/t/hello/", headers={"If-None-Match": page.headers["etag"]}).status
        == 200
    )

    # Nothing of live reload is written: not in the preview, not by `forumgen build`.
    site.build()
    assert not holding(site.root / ".forumgen/preview/site", RESERVED)
    assert not holding(site.output, RESERVED)


def test_config_changes_apply_while_serving(site: SiteFactory, tmp_path: Path) -> None:
    site.save_config(intake={"moderation": "queue", "rate_limit": "100/second"})
    site.topic("hello", title="Hello")
    with serving(site, tmp_path / "serve.log") as server:
        origin = {"Origin": f"http://127.0.0.1:{server.port}"}

        def reply(author: str) -> str:
            answer = server.post(
                "/intake/topics/hello/replies",
                {"author": author, "body": f"Written by {author}."},
                json_api=True,
                headers=origin,
            )
            assert answer.status == 201, answer.text
            return str(answer.json()["status"])

        assert reply("Queued Quinn") == "pending"
        site.save_config(intake={"moderation": "publish", "rate_limit": "100/second"})
        assert reply("Published Pia") == "published"
        wait_for(lambda: b"Published Pia" in server.get("/t/hello/").body)
        assert b"Queued Quinn" not in server.get("/t/hello/").body
        assert server.get("/intake/health").json()["moderation"] == "publish"

        # A broken forumgen.yaml: the server goes on with the last good settings, and
        # the open pages are told what is wrong.
        site.write("forumgen.yaml", "title: [Test forum\n")
        failed = build_events(server, lambda event: not event["ok"])
        assert any(p.startswith("forumgen.yaml:") for p in failed["problems"]), failed
        assert reply("Still Sam") == "published"
        assert server.get("/intake/health").json()["moderation"] == "publish"
        site.save_config(intake={"moderation": "publish", "rate_limit": "100/second"})
        assert build_events(
            server, lambda event: event["generation"] > failed["generation"] and event["ok"]
        )
        wait_for(lambda: b"Still Sam" in server.get("/t/hello/").body)
        assert server.process.poll() is None


def listen(port: int) -> tuple[http.client.HTTPConnection, int]:
    """A page listening for rebuilds: its connection (left open) and the answer's status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", f"/{RESERVED}/events")
    answer = conn.getresponse()
    if answer.status == 200:
        assert answer.readline() == b"retry: 1000\n"
    else:
        conn.close()
    return conn, answer.status


def test_live_reload_under_waitress_leaves_threads_for_pages(
    site: SiteFactory, tmp_path: Path
) -> None:
    site.topic("hello", title="Hello")
    port = free_port()
    with open(tmp_path / "serve.log", "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "forumgen",
                "serve",
                "--site",
                str(site.root),
                "--port",
                str(port),
                "--server",
                "waitress",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(port, process)
    listening: list[http.client.HTTPConnection] = []
    try:
        wait_until_up(port, process, "/")
        assert b"__forumgen__/reload.js" in server.get("/t/hello/").body
        # Each listening page holds one of waitress's threads: up to half of them listen,
        # the next page is told not to (204), and pages are still served.
        statuses = []
        for _ in range(12):
            conn, status = listen(port)
            listening.append(conn)
            statuses.append(status)
            if status == 204:
                break
        assert statuses == [200] * 8 + [204]
        assert server.get("/t/hello/").status == 200
        # Pages that went away free their places (noticed at the next event or heartbeat).
        for conn in listening:
            conn.close()
        site.topic("fresh", title="Fresh")

        def place_free() -> bool:
            conn, status = listen(port)
            conn.close()
            return status == 200

        wait_for(place_free, seconds=60)
    finally:
        for conn in listening:
            conn.close()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_event_streams_end_by_themselves_and_say_they_are_alive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from forumgen import livereload

    reload = livereload.LiveReload("/", max_streams=1)

    def listen_here() -> tuple[str, Any]:
        seen: list[str] = []
        body = reload.app(
            {"REQUEST_METHOD": "GET", "PATH_INFO": "/events"},
            lambda status, headers: seen.append(status),
        )
        return seen[0], body

    first = b'event: build\ndata: {"generation": 0, "ok": true, "problems": []}\n\n'
    monkeypatch.setattr(livereload, "STREAM_SECONDS", 0.0)
    status, body = listen_here()
    assert status == "200 OK" and list(body) == [b"retry: 1000\n\n", first]
    body.close()

    monkeypatch.setattr(livereload, "STREAM_SECONDS", 600.0)
    monkeypatch.setattr(livereload, "HEARTBEAT_SECONDS", 0.01)
    status, body = listen_here()
    chunks = iter(body)
    assert [next(chunks), next(chunks), next(chunks)] == [
        b"retry: 1000\n\n",
        first,
        b": still here\n\n",
    ]
    assert listen_here()[0] == "204 No Content"  # no place left
    reload.publish(["content/topics/a/topic.md:2: broken"])
    assert (
        next(chunks) == b'event: build\ndata: {"generation": 1, "ok": false, "problems": '
        b'["content/topics/a/topic.md:2: broken"]}\n\n'
    )
    reload.close()  # the server stops: every stream ends
    assert list(chunks) == []
    body.close()
    assert listen_here()[0] == "200 OK"  # its place is free again


def test_the_watcher_tells_each_rebuild_what_changed(site: SiteFactory) -> None:
    """The preview is rebuilt with `--changed` and the files saved: only their topic
    folders are scanned."""
    from forumgen import serve

    site.topic("hello")
    told: list[list[Path] | None] = []
    stop = serve.watch(site.root, told.append, debounce=0.05)
    try:
        site.reply("hello", "r0100", body="New.")
        reply = site.root / "content/topics/hello/r0100.md"
        wait_for(lambda: any(reply in (paths or []) for paths in told))
        shutil.rmtree(site.root / "content/topics/hello")
        wait_for(lambda: any(reply.parent in (paths or []) for paths in told))
    finally:
        stop()
