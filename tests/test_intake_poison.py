"""No single visitor can stop the forum. Each attack here is a post sent from outside,
through the intake under gunicorn on 127.0.0.1 (the README's production command), that
used to make every later build fail; each is followed by an honest post, which must be
published by the rebuilds that follow, with no further request."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import lxml.html
import yaml

from benchmarks import intake_load
from conftest import SiteFactory
from forumgen.content import split_front_matter
from forumgen.locks import build_lock, file_lock
from forumgen.model import slugify
from intake.rebuild import MAX_KILLED, POLL
from servers import Server, gunicorn, scanned_since_boot

THREADED = ("--worker-class", "gthread", "--threads", "8")
SETTLE = 300  # seconds: a bound for a loaded machine, never reached when things work


def prepare(site: SiteFactory, moderation: str = "publish", **intake: object) -> SiteFactory:
    """A forum with a topic imported from Discourse: its old URLs, `/t/1234` among them,
    are kept as redirects (in redirects.nginx.map and _redirects)."""
    site.save_config(intake={"rate_limit": "1000/second", "moderation": moderation, **intake})
    site.topic("hello", title="Hello", replies=1)
    site.topic(
        "deploying-forumgen",
        title="Deploying forumgen",
        redirect_from=["/t/deploying/1234", "/t/1234", "/t/deploying/1234/1"],
    )
    site.reply("deploying-forumgen", "answer", redirect_from=["/t/deploying/1234/2"])
    site.build()
    scanned_since_boot(site.root)  # the builds counted here are the posts'
    return site


def honest_post_is_published(site: SiteFactory, server: Server, body: str) -> None:
    """An honest reply, sent after the attack, is on its topic's page once the rebuilds
    requested so far are done; and the build left nothing half done."""
    answer = server.post(
        "/topics/hello/replies", {"author": "Honest Hal", "body": body}, json_api=True
    )
    assert answer.status == 201, answer.text
    state = intake_load.settle(site.root, SETTLE)
    assert state["ok"] is True, state
    assert body in (site.output / "t/hello/index.html").read_text()
    assert not (site.root / ".forumgen/build-running").exists()


def redirect_map(site: SiteFactory) -> str:
    return (site.output / "redirects.nginx.map").read_text()


def test_a_new_topic_never_takes_the_address_of_an_old_url(site: SiteFactory) -> None:
    prepare(site)
    with gunicorn(site.root, workers=2, options=THREADED) as server:
        slugs = []
        for title in ("1234", "Deploying", "deploying"):
            answer = server.post(
                "/topics",
                {"title": title, "category": "general", "author": "Mallory", "body": "Mine now."},
                json_api=True,
            )
            assert answer.status == 201, answer.text
            slugs.append(answer.json()["id"].split("/")[0])
        honest_post_is_published(site, server, "Still publishing.")
    # "deploying" is taken too: the old URLs of replies lead into t/deploying/.
    assert slugs[0] != "1234" and "deploying" not in {s.casefold() for s in slugs}, slugs
    assert len(set(slugs)) == 3, slugs
    # The attacker's topics are published under their own addresses...
    for slug in slugs:
        assert (site.output / "t" / slug / "index.html").is_file(), slug
    # ...and the old URLs still lead to the topic they always led to.
    assert '"/t/1234" "/t/deploying-forumgen/";' in redirect_map(site)
    assert "deploying-forumgen" in (site.output / "t/1234/index.html").read_text()


def test_a_queued_topic_never_takes_the_address_of_an_old_url(site: SiteFactory) -> None:
    prepare(site, moderation="queue")
    with gunicorn(site.root, workers=2) as server:
        answer = server.post(
            "/topics",
            {"title": "1234", "category": "general", "author": "Mallory", "body": "Waiting."},
            json_api=True,
        )
        assert answer.status == 201 and answer.json()["status"] == "pending", answer.text
        waiting = answer.json()["id"]
        # A pending topic keeps its slug: a second one waits under another.
        second = server.post(
            "/topics",
            {"title": "1234", "category": "general", "author": "Mallory", "body": "Waiting too."},
            json_api=True,
        ).json()["id"]
    assert waiting.split("/")[0] != "1234" and second.split("/")[0] not in (
        "1234",
        waiting.split("/")[0],
    )
    approved = site.cli("moderate", "approve", waiting)
    assert approved.exit_code == 0, approved.output
    assert "t/1234/" not in approved.output
    assert (site.output / "t" / waiting.split("/")[0] / "index.html").is_file()
    assert '"/t/1234" "/t/deploying-forumgen/";' in redirect_map(site)


def test_forumgen_new_topic_never_takes_the_address_of_an_old_url(site: SiteFactory) -> None:
    prepare(site)
    made = site.cli(
        "new",
        "topic",
        "--title",
        "1234",
        "--category",
        "general",
        "--author",
        "Ann",
        "--body",
        "By hand.",
    )
    assert made.exit_code == 0, made.output
    assert Path(made.output.strip()).parent.name != "1234"
    refused = site.cli(
        "new",
        "topic",
        "--title",
        "Mine",
        "--slug",
        "1234",
        "--category",
        "general",
        "--author",
        "Ann",
        "--body",
        "By hand.",
    )
    assert refused.exit_code == 2
    assert "t/1234/" in refused.output and "deploying-forumgen" in refused.output
    assert not (site.root / "content/topics/1234").exists()
    site.build()


# Letters of four UTF-8 bytes each: 64 of them are a name of 64 characters (under the
# limit of 80) whose slug is 256 bytes, one more than a file name may have. U+FDFA is one
# character that NFKC expands into a phrase of about 33 bytes.
WIDE = "\U00020000"
PHRASE = "\ufdfa"


def test_names_whose_slugs_are_too_long_for_a_file_name(site: SiteFactory) -> None:
    prepare(site)
    long_names = [WIDE * 64, WIDE * 63 + "a", PHRASE * 8]
    with gunicorn(site.root, workers=2, options=THREADED) as server:
        for name in long_names:
            answer = server.post(
                "/topics/hello/replies", {"author": name, "body": "Long."}, json_api=True
            )
            assert answer.status == 201, answer.text
        answer = server.post(
            "/topics",
            {
                "title": "Tags",
                "category": "general",
                "author": PHRASE * 8,
                "body": "Tagged.",
                "tags": f"{PHRASE * 8}, {WIDE * 40}",
            },
            json_api=True,
        )
        assert answer.status == 201, answer.text
        honest_post_is_published(site, server, "Still publishing.")
    author_pages = {slugify(name) for name in long_names}
    assert len(author_pages) == 3  # cut short, and still apart
    for slug in author_pages | {slugify(PHRASE * 8), slugify(WIDE * 40)}:
        assert len(slug.encode()) <= 200  # the README's bound
    for slug in author_pages:
        assert (site.output / "u" / slug / "index.html").is_file()
    for tag in (PHRASE * 8, WIDE * 40):
        assert (site.output / "tag" / slugify(tag) / "index.html").is_file()
    page = (site.output / "t/hello/index.html").read_text()
    assert all(name in page for name in long_names)
    stored = site.root / "content/topics/tags/topic.md"
    assert yaml.safe_load(split_front_matter(stored.read_text())[0])["tags"] == [
        PHRASE * 8,
        WIDE * 40,
    ]


# A list nested three thousand deep, in a body well under the length limit: Python-Markdown
# exhausts its recursion on it.
NESTED = "- " * 3000 + "x"


def test_a_post_with_a_problem_is_left_out_and_the_rest_published(site: SiteFactory) -> None:
    """Whatever is wrong with a published post (a file broken by hand or by an import),
    the rebuilds leave it out and name it, in /health and in `forumgen moderate list`,
    and publish the rest. A text too deep for any Markdown renderer is refused by the
    intake; written by hand, it is published as plain text and named."""
    prepare(site)
    with gunicorn(site.root, workers=2, options=THREADED) as server:
        nested = server.post(
            "/topics/hello/replies", {"author": "Mallory", "body": NESTED}, json_api=True
        )
        assert nested.status == 400 and "too complex" in nested.json()["fields"]["body"], (
            nested.text
        )
        site.reply("hello", "by-hand", date="2024-01-03T10:00:00Z", colour="red")
        site.reply("hello", "far-future", date="9999-12-31T23:59:59-12:00")
        site.reply("hello", "too-deep", date="2024-01-04T10:00:00Z", body=NESTED)
        honest_post_is_published(site, server, "Still publishing.")
        health = server.get("/health").json()
    left_out = health["last_build"]["left_out"]
    assert "content/topics/hello/by-hand.md:4: unknown front matter key 'colour'" in left_out
    assert any(p.startswith("content/topics/hello/far-future.md:3: date ") for p in left_out)
    assert any(
        p.startswith("content/topics/hello/too-deep.md:1: the text is too complex")
        for p in left_out
    )
    page = (site.output / "t/hello/index.html").read_text()
    deep = lxml.html.fromstring(page).xpath("//article[@id='p-too-deep']")
    assert len(deep) == 1 and not deep[0].xpath(".//ul") and "- - - " in deep[0].text_content()
    assert 'id="p-by-hand"' not in page and 'id="p-far-future"' not in page
    listed = site.cli("moderate", "list")
    assert listed.exit_code == 0
    assert "content/topics/hello/by-hand.md:4: unknown front matter key 'colour'" in listed.output
    # Fixed, they are published by the next rebuild, and the list says nothing more.
    for name in ("by-hand", "far-future"):
        (site.root / f"content/topics/hello/{name}.md").unlink()
    with gunicorn(site.root, workers=1) as server:
        honest_post_is_published(site, server, "And again.")
        assert not any(
            "by-hand" in p for p in server.get("/health").json()["last_build"]["left_out"]
        )
    assert "by-hand" not in site.cli("moderate", "list").output


def test_a_problem_in_what_every_page_needs_still_stops_the_rebuild(site: SiteFactory) -> None:
    """categories.yaml broken after the intake started: nothing is left out, nothing is
    published (a listing without categories would drop every topic); the post waits."""
    prepare(site)
    before = {p: p.read_bytes() for p in site.output.rglob("*") if p.is_file()}
    with gunicorn(site.root, workers=1) as server:
        site.write(
            "content/categories.yaml",
            "- {slug: general, name: General}\n- {slug: general, name: Again}\n",
        )
        answer = server.post(
            "/topics/hello/replies", {"author": "Pat", "body": "Waiting."}, json_api=True
        )
        assert answer.status == 201
        state = intake_load.settle(site.root, SETTLE)
    assert state["ok"] is False and "duplicate category slug 'general'" in str(state["error"])
    assert state["left_out"] == []
    assert {p: p.read_bytes() for p in site.output.rglob("*") if p.is_file()} == before


def rebuild_state(site: SiteFactory) -> dict[str, Any]:
    """The rebuild state as the intake keeps it (read from its file: asking /health would
    nudge the intake into catching up)."""
    try:
        state: dict[str, Any] = json.loads((site.root / ".forumgen/rebuild-state.json").read_text())
    except (OSError, ValueError):
        return {}
    return state


def wait_for(check: Callable[[], bool], what: str, seconds: float = SETTLE) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.01)


def nudge(server: Server, seconds: float) -> None:
    """Ask /health (which catches up on due builds) again and again for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.get("/health").status == 200
        time.sleep(0.2)


def test_a_rebuild_that_runs_out_of_time_waits_for_a_new_post(site: SiteFactory) -> None:
    """While the test holds the build lock, every build waits for it until its time
    (`intake.rebuild_timeout`) is up. Such a build is not run again with the same input,
    however long nothing new is asked for; a new post asks for a new one."""
    prepare(site, rebuild_timeout=1)
    with gunicorn(site.root, workers=2) as server:
        with file_lock(build_lock(site.root)):
            server.post("/topics/hello/replies", {"author": "A", "body": "First."}, json_api=True)
            wait_for(lambda: rebuild_state(site).get("builds", 0) >= 1, "a build")
            state = rebuild_state(site)
            assert (state["generation"], state["ok"]) == (1, False), state
            assert "took longer than 1 s" in state["error"]
            nudge(server, 4 * POLL / 5)
            assert rebuild_state(site)["builds"] == 1
            assert intake_load.running_builds(site.root) == []
            server.post("/topics/hello/replies", {"author": "A", "body": "Second."}, json_api=True)
            wait_for(lambda: rebuild_state(site)["builds"] >= 2, "a build for the new post")
            assert rebuild_state(site)["generation"] == 2
        site.save_config(intake={**site.config["intake"], "rebuild_timeout": 600})
        honest_post_is_published(site, server, "Third.")
    page = (site.output / "t/hello/index.html").read_text()
    assert "First." in page and "Second." in page


def test_a_rebuild_killed_again_and_again_is_tried_a_bounded_number_of_times(
    site: SiteFactory,
) -> None:
    """A build killed by a signal (a crash) runs again by itself, later each time, and
    after MAX_KILLED kills in a row waits for a new post. The builds wait for the build
    lock the test holds, so each is killed before it can finish."""
    prepare(site)
    with gunicorn(site.root, workers=2) as server:
        with file_lock(build_lock(site.root)):
            server.post(
                "/topics/hello/replies", {"author": "A", "body": "Crashing."}, json_api=True
            )
            killed: set[int] = set()
            retry_at: dict[int, float] = {}

            def kill_builds() -> bool:
                for pid in intake_load.running_builds(site.root):
                    if pid not in killed:
                        os.kill(pid, signal.SIGKILL)
                        killed.add(pid)
                state = rebuild_state(site)
                retry_at.setdefault(state.get("killed", 0), state.get("retry_at", 0))
                return state.get("killed", 0) >= MAX_KILLED

            wait_for(kill_builds, "builds killed", 120)
            assert len(killed) == MAX_KILLED
            # Each try waits twice as long as the one before: 1 s, 2 s, 4 s...
            for n in range(2, MAX_KILLED):
                if n - 1 in retry_at and n in retry_at:
                    assert retry_at[n] - retry_at[n - 1] >= 2 ** (n - 1), retry_at
            nudge(server, POLL + 1)
            assert intake_load.running_builds(site.root) == []
            state = rebuild_state(site)
            assert (state["builds"], state["generation"]) == (MAX_KILLED, 0), state
        honest_post_is_published(site, server, "After the crashes.")
    assert "Crashing." in (site.output / "t/hello/index.html").read_text()


def test_markdown_that_would_burn_the_cpu_is_refused_or_shown_as_text(site: SiteFactory) -> None:
    """Under Python-Markdown, whose link parser is quadratic, a paragraph of 5,000 `[`
    would take seconds to render: the intake refuses it, naming why, and takes an
    ordinary post; written by hand, it stops `forumgen build` at its line, and with
    --keep-going (as the intake's rebuilds run) it is published as plain text."""
    site.save_config(markdown={"engine": "python-markdown"})
    prepare(site)
    with gunicorn(site.root, workers=1) as server:
        hostile = server.post(
            "/topics/hello/replies", {"author": "Mallory", "body": "[" * 5000}, json_api=True
        )
        assert hostile.status == 400, hostile.text
        assert "too complex" in hostile.json()["fields"]["body"]
        honest_post_is_published(site, server, "Plain words.")
    site.reply("hello", "brackets", date="2024-01-05T10:00:00Z", body="[" * 5000)
    stopped = site.cli("build", "--jobs", "1")
    assert stopped.exit_code == 1
    assert "content/topics/hello/brackets.md:1: the text is too complex" in stopped.output
    kept = site.cli("build", "--jobs", "1", "--keep-going")
    assert kept.exit_code == 1 and "brackets.md:1:" in kept.output
    post = site.page("t/hello/").xpath("//article[@id='p-brackets']")
    assert len(post) == 1 and "[" * 5000 in post[0].text_content()


def held_by_another(lock: Path) -> bool:
    """Whether some process holds `lock` (tried without waiting)."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_worker_forked_while_the_master_rebuilds_lets_go_of_its_lock(
    site: SiteFactory, tmp_path: Path
) -> None:
    """Under `--preload` the master runs the rebuild that follows a boot itself, holding
    the rebuild lock. A worker forked meanwhile (TTIN, or one replacing a worker that
    died) shares that lock's open file: it used to keep the lock after the master let go
    of it, and no rebuild ever ran again."""
    site.save_config(intake={"moderation": "publish", "rate_limit": "100/second"})
    site.topic("hello", title="Hello")
    site.build()
    log = tmp_path / "gunicorn.log"
    held = ExitStack()
    held.enter_context(file_lock(build_lock(site.root)))  # the master's rebuild waits here
    with held, gunicorn(site.root, workers=1, log=log, options=["--preload"]) as server:
        wait_for(lambda: held_by_another(site.root / ".forumgen/rebuild.lock"), "rebuild", 60)
        os.kill(server.process.pid, signal.SIGTTIN)  # a second worker, forked now
        wait_for(lambda: log.read_text().count("Booting worker") == 2, "a new worker", 60)
        os.kill(server.process.pid, signal.SIGTTOU)  # the first one goes
        wait_for(lambda: "Worker exiting" in log.read_text(), "the first worker gone", 60)
        held.close()  # the master's rebuild runs to its end and lets go of the lock
        answer = server.post(
            "/topics/hello/replies", {"author": "Ann", "body": "After the fork."}, json_api=True
        )
        assert answer.status == 201, answer.text
        state = intake_load.settle(site.root, 60)
    assert state["ok"] is True, state
    assert "After the fork." in (site.output / "t/hello/index.html").read_text()
