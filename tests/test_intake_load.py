"""Bursts against gunicorn: 200 concurrent posts are 200 files, rendered after the last
rebuild by far fewer than 200 builds; a worker killed mid-burst loses no answered post."""

from __future__ import annotations

import http.client
import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conftest import SiteFactory
from forumgen.content import read_post_file
from forumgen.errors import Problems
from servers import Server, gunicorn


def burst(server: Server, count: int, workers: int = 16) -> list[tuple[int, str]]:
    """(status, post id or '') for `count` concurrent JSON posts."""
    def one(n: int) -> tuple[int, str]:
        try:
            answer = server.post("/topics/hello/replies",
                                 {"author": f"Poster {n % 7}", "body": f"Burst post {n}."},
                                 json_api=True)
        except (OSError, http.client.HTTPException):  # reset, or cut off mid-answer: the
            return 0, ""  # client got no complete answer, so the post counts as unanswered
        return answer.status, answer.json()["id"].split("/")[1] if answer.status == 201 else ""
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(count)))


def settled(site: SiteFactory, server: Server, seconds: float = 120) -> dict[str, object]:
    """/health once the last requested rebuild has finished."""
    deadline = time.monotonic() + seconds
    requested = int((site.root / ".forumgen/rebuild-requested").read_text())
    while time.monotonic() < deadline:
        state = server.get("/health").json()["last_build"]
        if state["generation"] >= requested:
            return state  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError("rebuilds did not catch up")


def rendered_ids(site: SiteFactory) -> set[str]:
    found: set[str] = set()
    for page in (site.output / "t/hello").rglob("index.html"):
        found.update(re.findall(r'<article class="post" id="p-([^"]+)"', page.read_text()))
    return found


def assert_valid_files(folder: Path) -> None:
    problems = Problems(folder)
    for path in folder.rglob("*"):
        assert not path.name.endswith(".tmp"), f"partial file left: {path}"
        if path.suffix == ".md":
            assert read_post_file(path, problems) is not None
    assert problems.items == []


def test_200_concurrent_posts_coalesce_into_few_builds(site: SiteFactory) -> None:
    site.save_config(intake={"moderation": "publish", "rate_limit": "100000/second"})
    site.topic("hello")
    site.build()
    with gunicorn(site.root, workers=2) as server:
        results = burst(server, 200)
        assert [status for status, _ in results] == [201] * 200
        state = settled(site, server)
    assert state["ok"] is True
    assert state["builds"] < 40, state  # coalesced: far fewer builds than posts
    ids = {post_id for _, post_id in results}
    on_disk = {p.stem for p in (site.root / "content/topics/hello").glob("*.md")} - {"topic"}
    assert on_disk == ids and len(ids) == 200
    assert ids <= rendered_ids(site)
    assert_valid_files(site.root / "content")


def test_killed_worker_loses_no_answered_post(site: SiteFactory, tmp_path: Path) -> None:
    site.save_config(intake={"moderation": "publish", "rate_limit": "100000/second"})
    site.topic("hello")
    site.build()
    with gunicorn(site.root, workers=2, log=tmp_path / "gunicorn.log") as server:
        deadline = time.monotonic() + 20
        while len(workers := children(server.process.pid)) < 2 and \
                time.monotonic() < deadline:  # /health answers once the first one is up
            time.sleep(0.1)
        assert len(workers) == 2
        with ThreadPoolExecutor(1) as killer:
            def kill_soon() -> None:
                time.sleep(0.3)
                os.kill(workers[0], signal.SIGKILL)
            killer.submit(kill_soon)
            results = burst(server, 300)
        assert children(server.process.pid) != workers  # gunicorn replaced the dead one
        settled(site, server)
    answered = {post_id for status, post_id in results if status == 201}
    on_disk = {p.stem for p in (site.root / "content/topics/hello").glob("*.md")}
    assert answered <= on_disk
    assert len(answered) > 100
    assert answered <= rendered_ids(site)
    assert_valid_files(site.root / "content")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            match = re.search(r"^PPid:\s+(\d+)$", status, re.M)
            if match and int(match.group(1)) == pid and "gunicorn" in (
                    entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
    return sorted(found)


def test_a_rebuild_lost_with_its_worker_happens_on_the_next_request(site: SiteFactory) -> None:
    site.save_config(intake={"moderation": "publish", "rate_limit": "100/second"})
    site.topic("hello")
    site.build()
    # A post stored and its rebuild requested, then the worker died before building it.
    site.reply("hello", "orphan-post", body="Posted just before the crash.",
               date="2024-05-01T00:00:00Z")
    state = site.root / ".forumgen"
    state.mkdir(exist_ok=True)
    (state / "rebuild-requested").write_text("7")
    with gunicorn(site.root, workers=2) as server:
        final = settled(site, server, seconds=60)
    assert final["generation"] == 7 and final["ok"] is True
    assert "orphan-post" in rendered_ids(site)
