"""The intake over real HTTP: gunicorn with two workers and bottle's own server on
127.0.0.1, queue and publish modes, every refusal code, hostile fields."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import wsgiref.simple_server
import wsgiref.validate
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Thread
from urllib.parse import urlsplit

import feedparser
import lxml.html
import pytest
import yaml
from click.testing import CliRunner

from conftest import SiteFactory, files_of
from forumgen.cli import main
from forumgen.content import split_front_matter
from intake import create_app
from servers import (
    BOOT_ID,
    ROOT,
    Response,
    Server,
    bottle_server,
    free_port,
    gunicorn,
    scanned_since_boot,
    secured,
)

ORIGIN = {"Origin": "http://forum.test"}


def prepare(site: SiteFactory, **intake: object) -> SiteFactory:
    site.save_config(intake={"rate_limit": "1000/second", **intake})
    site.topic("hello", title="Hello", replies=2)
    site.topic("closed", title="Closed", locked=True)
    site.build()
    return site


@pytest.fixture
def queued(site: SiteFactory) -> Iterator[tuple[SiteFactory, Server]]:
    prepare(site)
    with gunicorn(site.root, workers=2) as server:
        yield site, server


def pending_files(site: SiteFactory) -> list[Path]:
    return sorted((site.root / "pending").rglob("*.md"))


def test_queue_mode_reply_waits_for_moderation(queued: tuple[SiteFactory, Server]) -> None:
    site, server = queued
    answer = server.post(
        "/topics/hello/replies",
        {"author": "Zoë", "body": "First!", "reply_to": "r0001"},
        headers=ORIGIN,
    )
    assert answer.status == 303
    assert answer.headers["location"] == "http://forum.test/t/hello/#awaiting-moderation"
    [stored] = pending_files(site)
    assert stored.parent == site.root / "pending/topics/hello"
    front, body, _ = split_front_matter(stored.read_text())
    assert yaml.safe_load(front)["reply_to"] == "r0001"
    assert body == "First!\n"
    assert not (site.root / "content/topics/hello" / stored.name).exists()
    # The page the browser lands on carries the notice, shown as the URL's target.
    page = site.page("t/hello/")
    assert page.xpath("//*[@id='awaiting-moderation']/@class") == ["notice target-only"]


def long_topic(site: SiteFactory, replies: int, **intake: object) -> SiteFactory:
    """A topic 'long' over several pages of three posts (the opening and `replies`)."""
    site.save_config(posts_per_page=3, intake={"rate_limit": "1000/second", **intake})
    site.topic("long", title="Long", replies=replies)
    site.build()
    return site


def from_page_2(
    server: Server, author: str, body: str = "Sent from page 2.", json_api: bool = False
) -> Response:
    """A reply sent by the form of the topic's second page, as a browser sends it. Sent
    in a second of its own: posts are dated to the second, and two of one second are
    ordered by their random ids, so the page each lands on would be left to chance."""
    time.sleep(1 - time.time() % 1 + 0.01)
    return server.post(
        "/topics/long/replies",
        {"author": author, "body": body},
        json_api=json_api,
        headers={**ORIGIN, "Referer": "http://forum.test/t/long/page/2/"},
    )


def landing(site: SiteFactory, location: str) -> tuple[str, lxml.html.HtmlElement, str]:
    """The page a redirect leads to, read from the built site: (path, page, fragment)."""
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}/" == "http://forum.test/", location
    path = parts.path.removeprefix("/")
    return path, site.page(path), parts.fragment


def test_a_reply_from_page_2_lands_on_the_page_that_shows_it(site: SiteFactory) -> None:
    """Seven posts, three a page: the reply joins page 3 (then, that page full, opens
    page 4), and the browser is sent to that page with the post as its target."""
    long_topic(site, 6, moderation="publish")
    with bottle_server(site.root) as server:
        landed = []
        for n in range(3):
            answer = from_page_2(server, f"Paging Pam {n}")
            assert answer.status == 303, answer.text
            path, page, fragment = landing(site, answer.headers["location"])
            post = page.xpath(f"//article[@id='{fragment}']")
            assert fragment.startswith("p-") and len(post) == 1, (path, fragment)
            assert post[0].xpath(".//a[@class='post-author']//text()") == [f"Paging Pam {n}"]
            landed.append(path)
    assert landed == ["t/long/page/3/", "t/long/page/3/", "t/long/page/4/"]


def test_a_queued_reply_from_page_2_is_announced_on_the_last_page(site: SiteFactory) -> None:
    """The moderation notice is shown where the reply will appear once approved: the
    topic's last page, not its first, nor the page the form was on."""
    long_topic(site, 6)
    with gunicorn(site.root, workers=2) as server:
        answer = from_page_2(server, "Queued Quincy")
        api = from_page_2(server, "Queued Quincy", "By the API.", json_api=True)
    assert answer.status == 303, answer.text
    path, page, fragment = landing(site, answer.headers["location"])
    assert (path, fragment) == ("t/long/page/3/", "awaiting-moderation")
    assert page.xpath("//*[@id='awaiting-moderation']/@class") == ["notice target-only"]
    assert page.xpath("//a[@rel='next']") == []  # the last page
    assert api.status == 201 and api.json()["url"] == answer.headers["location"]
    # Approved, the reply is on the page the notice was shown on.
    [stored, _] = sorted(pending_files(site), key=lambda p: "API" in p.read_text())
    assert site.cli("moderate", "approve", f"long/{stored.stem}").exit_code == 0
    assert site.page(path).xpath(f"//article[@id='p-{stored.stem}']")


def test_a_queued_reply_to_a_topic_whose_last_page_is_full(site: SiteFactory) -> None:
    """Six posts fill two pages: the notice goes to page 2, the last page that exists
    (the reply opens page 3 once approved, one click on from there)."""
    long_topic(site, 5)
    with gunicorn(site.root, workers=1) as server:
        answer = from_page_2(server, "Queued Quincy")
    path, page, fragment = landing(site, answer.headers["location"])
    assert (path, fragment) == ("t/long/page/2/", "awaiting-moderation")
    assert page.xpath("//*[@id='awaiting-moderation']")


def test_json_api_and_new_topic(queued: tuple[SiteFactory, Server]) -> None:
    site, server = queued
    answer = server.post(
        "/topics",
        {
            "title": "统一码 标题",
            "category": "help",
            "author": "A",
            "body": "Body",
            "tags": "one, two, one",
        },
        json_api=True,
    )
    assert answer.status == 201
    data = answer.json()
    assert data["status"] == "pending"
    assert data["id"] == "统一码-标题/topic"
    assert data["url"].endswith("/new/#awaiting-moderation")
    stored = site.root / "pending/topics/统一码-标题/topic.md"
    front = yaml.safe_load(split_front_matter(stored.read_text())[0])
    assert front["tags"] == ["one", "two"] and front["category"] == "help"


def test_publish_mode_lands_on_the_rebuilt_page(site: SiteFactory) -> None:
    prepare(site, moderation="publish")
    with bottle_server(site.root) as server:
        answer = server.post(
            "/topics/hello/replies",
            {"author": "Published Paul", "body": "Now *live*."},
            headers=ORIGIN,
        )
        assert answer.status == 303, answer.text
        location = answer.headers["location"]
        match = re.fullmatch(r"http://forum\.test/t/hello/#p-(\d{8}T\d{6}Z-[0-9a-f]{6})", location)
        assert match, location
        page = site.page("t/hello/")
        post = page.xpath(f"//article[@id='p-{match.group(1)}']")[0]
        assert post.xpath(".//a[@class='post-author']//text()") == ["Published Paul"]
        assert post.xpath(".//em/text()") == ["live"]
        # Answered once the topic's page was written: the listings may still be building.
        rebuilt(site, server)
        assert server.get("/health").json()["last_build"]["ok"] is True


SLOW_LISTINGS = 60_000_000
"""Turns of an empty loop at the top of the list template: about 2 s a listing page here,
far longer than an answer takes to reach its client."""


def test_a_browser_is_answered_before_the_listings_are_rebuilt(site: SiteFactory) -> None:
    """A browser waits for the page its post is on, not for the whole rebuild: with
    listings that take seconds to render, it has its answer and the topic's page shows
    the post while the front page is still the one from before the post."""
    site.save_config(intake={"rate_limit": "1000/second", "moderation": "publish"})
    site.topic("hello", title="Hello", replies=2)
    listing = (ROOT / "themes/default/templates/list.html").read_text("utf-8")
    slow = "{% if kind == 'latest' %}{% for _ in range(" + str(SLOW_LISTINGS) + ") %}"
    site.write("themes/default/templates/list.html", slow + "{% endfor %}{% endif %}" + listing)
    site.build()
    front = (site.output / "index.html").read_bytes()
    with gunicorn(site.root, workers=2) as server:
        answer = server.post(
            "/topics/hello/replies", {"author": "Early Eve", "body": "First here."}, headers=ORIGIN
        )
        assert (site.output / "index.html").read_bytes() == front
        assert answer.status == 303, answer.text
        fragment = urlsplit(answer.headers["location"]).fragment
        assert site.page("t/hello/").xpath(f"//article[@id='{fragment}']//text()[.='First here.']")
        deadline = time.monotonic() + 120
        while (site.output / "index.html").read_bytes() == front:
            assert time.monotonic() < deadline, "the front page was never rebuilt"
            time.sleep(0.1)
        rebuilt(site, server)
        assert server.get("/health").json()["last_build"]["ok"] is True


@pytest.mark.parametrize(
    "fields, bad",
    [
        ({"author": "", "body": ""}, {"author", "body"}),
        ({"author": "A", "body": "x", "website": "http://spam"}, {"website"}),
        ({"author": "A\nB", "body": "x", "email": "nope"}, {"author"}),  # email: ignored
        ({"author": "!!!", "body": "x", "reply_to": "../../etc/passwd"}, {"author", "reply_to"}),
    ],
)
def test_bad_fields_are_all_named(
    queued: tuple[SiteFactory, Server], fields: dict[str, str], bad: set[str]
) -> None:
    site, server = queued
    answer = server.post("/topics/hello/replies", fields, json_api=True)
    assert answer.status == 400
    assert set(answer.json()["fields"]) == bad
    html = server.post("/topics/hello/replies", fields)
    assert html.status == 400 and html.headers["content-type"].startswith("text/html")
    items = lxml.html.fromstring(html.body).xpath("//ul[@class='field-errors']/li")
    assert len(items) == len(bad)
    assert pending_files(site) == []


@pytest.mark.parametrize("moderation", ["queue", "publish"])
def test_an_email_sent_by_an_api_client_is_accepted_and_never_stored(
    site: SiteFactory, moderation: str
) -> None:
    """Clients written when the forms asked for an e-mail address may still send one:
    their posts are taken, and the address is in no file of the site afterwards."""
    prepare(site, moderation=moderation)
    address = "kept.nowhere.7f3a@example.org"
    with gunicorn(site.root, workers=2) as server:
        reply = server.post(
            "/topics/hello/replies",
            {"author": "Mae", "body": "Hi.", "email": address},
            json_api=True,
        )
        topic = server.post(
            "/topics",
            {
                "title": "Mail",
                "category": "general",
                "author": "Mae",
                "body": "Hello.",
                "email": address,
            },
            json_api=True,
        )
        odd = server.post(
            "/topics/hello/replies",
            {"author": "Mae", "body": "Odd.", "email": "not an address"},
            json_api=True,
        )
        form = server.post(
            "/topics/hello/replies",
            {"author": "Mae", "body": "By form.", "email": address},
            headers=ORIGIN,
        )
    assert [reply.status, topic.status, odd.status, form.status] == [201, 201, 201, 303]
    stored = site.root / ("pending" if moderation == "queue" else "content")
    assert len([p for p in stored.rglob("*.md") if "Mae" in p.read_text()]) == 4
    if moderation == "publish":
        assert "By form." in (site.output / "t/hello/index.html").read_text()
    kept = [
        p
        for p in site.root.rglob("*")
        if p.is_file()
        and (address.encode() in p.read_bytes() or b"not an address" in p.read_bytes())
    ]
    assert kept == []


def rebuilt(site: SiteFactory, server: Server, seconds: float = 120) -> None:
    """Wait until every rebuild requested so far has finished (bounded, not timed)."""
    requested = int((site.root / ".forumgen/rebuild-requested").read_text())
    deadline = time.monotonic() + seconds
    while server.get("/health").json()["last_build"]["generation"] < requested:
        assert time.monotonic() < deadline, "the rebuilds did not finish"
        time.sleep(0.2)


def test_posts_are_published_after_a_cleaner_of_tmp_removed_the_build_servers_socket(
    site: SiteFactory, tmp_path: Path
) -> None:
    """The intake's builds are forked by a server listening on a socket in a temporary
    folder, which cleaners of /tmp may remove while the intake runs (systemd-tmpfiles,
    when it cannot tell the socket is in use): the builds then run as new processes,
    saying so in the log, and every post is published."""
    prepare(site, moderation="publish")
    scanned_since_boot(site.root)
    temp, log = tmp_path / "tmp", tmp_path / "intake.log"
    temp.mkdir()
    with gunicorn(site.root, workers=1, log=log, env={"TMPDIR": str(temp)}) as server:
        for number, body in enumerate(("Through the server.", "Without it.")):
            if number:
                folders = list(temp.glob("pymp-*"))
                assert [p.name for f in folders for p in f.glob("listener-*")], folders
                for folder in folders:
                    shutil.rmtree(folder)
            answer = server.post(
                "/topics/hello/replies", {"author": "Tmp Tina", "body": body}, json_api=True
            )
            assert answer.status == 201, answer.text
            rebuilt(site, server, seconds=60)
            assert server.get("/health").json()["last_build"]["ok"] is True
            assert body in (site.output / "t/hello/index.html").read_text()
    assert log.read_text().count("the build server could not start this build") == 1


KEEP_SERVER = """\
import multiprocessing.util, sys
from intake import buildproc
buildproc.start()
print(multiprocessing.util.get_temp_dir(), flush=True)
sys.stdin.readline()  # while the test cleans the temporary folder
print(buildproc.run(["build", "--site", sys.argv[1]], 120).returncode, flush=True)
"""


def test_systemd_tmpfiles_leaves_the_build_servers_folder_alone(
    site: SiteFactory, tmp_path: Path
) -> None:
    """systemd-tmpfiles removes old entries of /tmp whose sockets it cannot see in use,
    as when the intake runs in a network namespace of its own (PrivateNetwork=): the
    intake holds a lock on its build server's folder, which tmpfiles respects, and builds
    keep being forked by the server."""
    tmpfiles = shutil.which("systemd-tmpfiles")
    isolated = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True)
    if not tmpfiles or isolated.returncode:
        pytest.skip(
            "needs systemd-tmpfiles and the right to make a network namespace "
            f"(unshare --net: {isolated.stderr.strip() or 'systemd-tmpfiles missing'})"
        )
    prepare(site)
    temp = tmp_path / "tmp"
    temp.mkdir()
    config = tmp_path / "tmpfiles.conf"
    config.write_text(f"d {temp} - - - 1s\n")  # what is older than a second goes
    intake = subprocess.Popen(
        ["unshare", "--net", sys.executable, "-c", KEEP_SERVER, str(site.root)],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(temp)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert intake.stdin and intake.stdout
    folder = Path(intake.stdout.readline().strip())
    time.sleep(1.5)
    cleaned = subprocess.run([tmpfiles, "--clean", str(config)], capture_output=True, text=True)
    assert cleaned.returncode == 0, cleaned.stderr
    assert list(folder.glob("listener-*")), "the build server's socket was removed"
    built, stderr = intake.communicate("\n", timeout=120)
    assert intake.returncode == 0 and built.split() == ["0"], stderr
    assert "could not start this build" not in stderr


def test_health_shows_its_details_only_to_this_machine(site: SiteFactory) -> None:
    """Anyone may learn whether the forum publishes and since when; the build's error
    (naming the site's files), the moderation mode and the rest only a request from this
    machine. Behind nginx every request comes from 127.0.0.1, naming its visitor in a
    header: such a request is from elsewhere, whichever header names it."""
    prepare(site, moderation="publish")
    # Every build fails from now on (a broken post would only be left out).
    site.write(
        "content/categories.yaml",
        "- {slug: general, name: General}\n- {slug: general, name: Again}\n",
    )
    with gunicorn(site.root, workers=1) as server:
        assert (
            server.post(
                "/topics/hello/replies", {"author": "Pat", "body": "Hi."}, json_api=True
            ).status
            == 201
        )
        rebuilt(site, server)
        local = server.get("/health").json()
        elsewhere = [
            server.request("GET", "/health", headers=headers).json()
            for headers in (
                {"X-Forwarded-For": "203.0.113.9"},
                {"X-Forwarded-For": "127.0.0.1, 203.0.113.9"},
                {"X-Forwarded-For": "unknown"},
                {"Forwarded": 'for="[2001:db8::7]:4711"'},
                {"Forwarded": "for=127.0.0.1, for=198.51.100.2"},
                {"X-Real-IP": "203.0.113.9"},
            )
        ]
        by_local_proxy = server.request(
            "GET", "/health", headers={"X-Forwarded-For": "127.0.0.1", "Forwarded": 'for="[::1]"'}
        ).json()
    assert local["status"] == "error" and local["moderation"] == "publish"
    assert "duplicate category slug 'general'" in local["last_build"]["error"]
    assert local["last_build"]["time"] and local["last_build"]["builds"] >= 1
    public = {"status": "error", "last_build": {"time": local["last_build"]["time"], "ok": False}}
    assert elsewhere == [public] * 6
    assert by_local_proxy == local


MEMBERS = (
    "Maria Keller:\n  bio: Keeps a newspaper online.\nIngrid Solberg:\n  bio: Runs this "
    "forum.\nTom Becker: {}\nwsgi_wrangler: {}\n李明: {}\n"
)


def test_members_names_and_their_look_alikes_are_reserved(site: SiteFactory) -> None:
    """A visitor posting as a member of authors.yaml, or as a name that looks the same
    (case, punctuation, spaces, full-width letters, a Cyrillic "а", a small L for an I,
    "rn" for "m", a zero-width space), is refused with the author field named; names
    that only resemble one go through. Members post through git or the command line."""
    prepare(site, moderation="publish")
    site.write("content/authors.yaml", MEMBERS)
    fakes = [
        "Maria Keller",
        "maria keller",
        "Maria.Keller",
        "MARIA  KELLER",
        "Maria-Keller!",
        "\uff2d\uff41\uff52\uff49\uff41 \uff2b\uff45\uff4c\uff4c\uff45\uff52",  # full-width
        "M\u0430ria Keller",
        "\u041cARIA KELLER",
        "Maria Kel\u200bler",
        "lngrid Solberg",
        "INGRID SOLBERG",
        "Torn Becker",
        "T0m Becker",
        "wsgi wrangler",
        "WSGI-Wrangler",
        "李明",
        "李 明",
    ]
    others = ["Maria Kellerman", "Marianne Keller", "Tom Beckett", "Ingrid", "李明明"]
    with gunicorn(site.root, workers=2) as server:
        refused = {
            name: server.post(
                "/topics/hello/replies", {"author": name, "body": "Hi."}, json_api=True
            )
            for name in fakes
        }
        page = server.post(
            "/topics",
            {"author": "Maria Keller", "title": "Hi", "category": "general", "body": "Hi."},
            headers=ORIGIN,
        )
        accepted = [
            server.post(
                "/topics/hello/replies", {"author": name, "body": "Hi."}, json_api=True
            ).status
            for name in others
        ]
        # authors.yaml is followed: while broken, the names it listed stay reserved.
        site.write("content/authors.yaml", MEMBERS + "broken: [\n")
        while_broken = server.post(
            "/topics/hello/replies", {"author": "Maria Keller", "body": "Hi."}, json_api=True
        )
        site.write("content/authors.yaml", MEMBERS.replace("Maria Keller", "Maria Weber"))
        renamed = [
            server.post(
                "/topics/hello/replies", {"author": name, "body": "Hi."}, json_api=True
            ).status
            for name in ("Maria Keller", "Maria Weber")
        ]
    assert (while_broken.status, renamed) == (400, [201, 400])
    assert {name: answer.status for name, answer in refused.items()} == {
        name: 400 for name in fakes
    }
    assert all(list(answer.json()["fields"]) == ["author"] for answer in refused.values())
    assert {answer.json()["fields"]["author"] for answer in refused.values()} == {
        "is the name of a member of this forum (or looks like it); please choose another"
    }
    assert page.status == 400
    assert lxml.html.fromstring(page.body).xpath(
        "//ul[@class='field-errors']/li[contains(., 'member of this forum')]"
    )
    assert accepted == [201] * len(others)
    written = site.cli("new", "reply", "hello", "--author", "Maria Keller", "--body", "Me.")
    assert written.exit_code == 0, written.output
    site.build()
    assert "Me." in (site.output / "t/hello/index.html").read_text()


def test_a_long_reply_in_chinese_within_the_limit_is_accepted(site: SiteFactory) -> None:
    """A reply of 12,000 Chinese characters is within `max_body_chars` (20,000) but
    weighs 108 KB percent-encoded, past the form size bottle parses by default: it is
    taken, as form and as multipart, and shown; one past the limit is refused naming
    the body."""
    prepare(site, moderation="publish")
    body = "论坛" * 6000
    with gunicorn(site.root, workers=1) as server:
        form = server.post("/topics/hello/replies", {"author": "Li", "body": body}, json_api=True)
        boundary = "forumgen-test-boundary"
        multipart = "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in (("author", "Li Two"), ("body", body + "!"))
        )
        parts = server.request(
            "POST",
            "/topics/hello/replies",
            f"{multipart}--{boundary}--\r\n".encode(),
            {
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Accept": "application/json",
            },
        )
        too_long = server.post(
            "/topics/hello/replies", {"author": "Li", "body": "论" * 20001}, json_api=True
        )
    assert (form.status, parts.status) == (201, 201), (form.body, parts.body)
    assert too_long.status == 413 and list(too_long.json()["fields"]) == ["body"]
    site.build()
    page = (site.output / "t/hello/index.html").read_text()
    assert page.count(body) == 2


def test_an_intake_started_while_authors_yaml_is_broken_knows_the_last_names(
    site: SiteFactory,
) -> None:
    """The names authors.yaml last listed when it read cleanly are kept in the site's
    state folder: an intake (or a worker) started while the file is broken, mid-edit or
    in a merge conflict, refuses them too, instead of knowing no member at all."""
    prepare(site, moderation="publish")
    site.write("content/authors.yaml", MEMBERS)
    with gunicorn(site.root, workers=1) as server:
        before = server.post(
            "/topics/hello/replies", {"author": "Maria Keller", "body": "Hi."}, json_api=True
        )
    site.write("content/authors.yaml", MEMBERS + "broken: [\n")
    with gunicorn(site.root, workers=2) as server:
        while_broken = [
            server.post(
                "/topics/hello/replies", {"author": name, "body": "Hi."}, json_api=True
            ).status
            for name in ("Maria Keller", "M\u0430ria Keller", "WSGI-Wrangler", "Maria Weber")
        ]
    assert (before.status, while_broken) == (400, [400, 400, 400, 201])


def test_noncharacters_are_dropped_and_c1_controls_refused(site: SiteFactory) -> None:
    """U+FFFE or U+FFFF in a title or a body would make every feed showing the post
    invalid XML: they are dropped. A C1 control character (U+009B starts an escape
    sequence) would act on the terminal of a moderator listing the post: refused, with
    the field named."""
    prepare(site, moderation="publish")
    odd = {
        "author": "Nora\ufdd0",
        "title": "Odd \ufffetitle\uffff",
        "category": "general",
        "body": "Body \uffffwith \ufffeand \U0010ffff.",
        "tags": "one\ufffe",
    }
    c1 = {
        "author": "Nora\x9b31m",
        "title": "Title\x9b2J",
        "body": "Body \x9b2J.",
        "tags": "one, t\x85wo",
    }
    with gunicorn(site.root, workers=1) as server:
        topic = server.post("/topics", odd, json_api=True)
        reply = server.post(
            "/topics/hello/replies", {"author": "Nora", "body": "\ufffeHi\uffff"}, json_api=True
        )
        refused = {
            name: server.post("/topics", {**odd, name: value}, json_api=True)
            for name, value in c1.items()
        }
        page = server.post(
            "/topics/hello/replies", {"author": "Nora", "body": c1["body"]}, headers=ORIGIN
        )
        rebuilt(site, server)
    assert (topic.status, reply.status) == (201, 201), (topic.text, reply.text)
    assert topic.json()["id"] == "odd-title/topic"
    stored = [
        (site.root / "content/topics/odd-title/topic.md").read_text(),
        *(p.read_text() for p in (site.root / "content/topics/hello").glob("2*.md")),
    ]
    assert len(stored) == 2 and not any(
        set(text) & set("\ufffe\uffff\ufdd0\U0010ffff") for text in stored
    )
    front = yaml.safe_load(split_front_matter(stored[0])[0])
    assert (front["author"], front["title"], front["tags"]) == ("Nora", "Odd title", ["one"])
    for feed in ("feed.xml", "t/odd-title/feed.xml", "t/hello/feed.xml"):
        parsed = feedparser.parse((site.output / feed).read_bytes())
        assert not parsed.bozo, (feed, parsed.get("bozo_exception"))
    assert [e.title for e in feedparser.parse(site.output / "feed.xml").entries][:1] == [
        "Odd title"
    ]
    assert {name: (answer.status, answer.json()["fields"]) for name, answer in refused.items()} == {
        "author": (400, {"author": "must not contain control characters (it has U+009B)"}),
        "title": (400, {"title": "must not contain control characters (it has U+009B)"}),
        "body": (400, {"body": "must not contain control characters (it has U+009B)"}),
        "tags": (400, {"tags": "must not contain control characters (it has U+0085)"}),
    }
    assert page.status == 400 and "U+009B" in page.text


def test_refusal_codes(queued: tuple[SiteFactory, Server]) -> None:
    site, server = queued
    ok = {"author": "A", "body": "hello"}
    assert server.post("/topics/nope/replies", ok, json_api=True).status == 404
    assert server.post("/topics/..%2Fetc/replies", ok, json_api=True).status == 404
    assert (
        server.post("/topics", {**ok, "title": "T", "category": "nope"}, json_api=True).status
        == 404
    )
    assert server.post("/topics/closed/replies", ok, json_api=True).status == 403
    foreign = server.post(
        "/topics/hello/replies", ok, json_api=True, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status == 403
    referer = server.post(
        "/topics/hello/replies", ok, json_api=True, headers={"Referer": "https://evil.example/page"}
    )
    assert referer.status == 403
    huge = server.request(
        "POST",
        "/topics/hello/replies",
        b"x",
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "Content-Length": str(10**9),
            "Accept": "application/json",
        },
    )
    assert huge.status == 413
    long_body = server.post(
        "/topics/hello/replies", {"author": "A", "body": "x" * 20001}, json_api=True
    )
    assert long_body.status == 413 and set(long_body.json()["fields"]) == {"body"}
    wrong_type = server.request(
        "POST",
        "/topics/hello/replies",
        b'{"author": "A"}',
        {"Content-Type": "application/json", "Accept": "application/json"},
    )
    assert wrong_type.status == 415
    assert pending_files(site) == []


def test_rate_limit_holds_across_workers(site: SiteFactory) -> None:
    prepare(site)
    site.save_config(intake={"rate_limit": "3/hour"})  # the posts never outlast it
    with gunicorn(site.root, workers=2) as server:
        answers = [
            server.post("/topics/hello/replies", {"author": "A", "body": f"n{n}"}, json_api=True)
            for n in range(6)
        ]
    assert [a.status for a in answers] == [201, 201, 201, 429, 429, 429]
    assert 1 <= int(answers[3].headers["retry-after"]) <= 3600
    assert len(pending_files(site)) == 3


def test_hostile_fields_cannot_change_front_matter(site: SiteFactory) -> None:
    prepare(site, moderation="publish")
    body = "---\ntitle: hijack\nhidden: true\n---\n<script>alert(1)</script>\n{{ config }}"
    with gunicorn(site.root, workers=2) as server:
        answer = server.post(
            "/topics/hello/replies",
            {"author": "Eve\u202e", "body": body, "reply_to": ""},
            json_api=True,
        )
        assert answer.status == 201, answer.text
        post_id = answer.json()["id"].split("/")[1]
        path = site.root / f"content/topics/hello/{post_id}.md"
        front, stored_body, _ = split_front_matter(path.read_text())
        assert set(yaml.safe_load(front)) == {"author", "date"}
        assert stored_body == body + "\n"
        server.post("/topics/hello/replies", {"author": "x", "body": "y"})  # wait for rebuild
    site.build()
    html = (site.output / "t/hello/index.html").read_text()
    assert "<script>alert(1)</script>" not in html
    # CommonMark shows the tag as text (GFM's tag filter); it never becomes an element.
    assert not lxml.html.fromstring(html).xpath("//script[contains(., 'alert')]")
    assert "{{ config }}" in html


def test_full_request_cycle_under_wsgiref_validator(site: SiteFactory) -> None:
    prepare(site)
    app = wsgiref.validate.validator(create_app(site.root))
    port = free_port()
    httpd = wsgiref.simple_server.make_server("127.0.0.1", port, app)
    thread = Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        server = Server(port, None)  # type: ignore[arg-type]
        assert (
            server.post(
                "/topics/hello/replies", {"author": "V", "body": "valid"}, headers=ORIGIN
            ).status
            == 303
        )
        assert server.post("/topics/hello/replies", {"author": "", "body": ""}).status == 400
        assert server.get("/health").status == 200
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert len(pending_files(site)) == 1


def test_publish_when_the_rebuild_fails_says_the_post_comes_later(site: SiteFactory) -> None:
    prepare(site, moderation="publish")
    site.save_config(posts_per_page=2)  # the reply is the fourth post: page 2
    # Someone broke what every page needs: builds fail (a broken post would be left out).
    site.write(
        "content/categories.yaml",
        "- {slug: general, name: General}\n- {slug: general, name: Again}\n",
    )
    with bottle_server(site.root) as server:
        answer = server.post(
            "/topics/hello/replies",
            {"author": "Patient Pat", "body": "Still stored."},
            headers=ORIGIN,
        )
        health = server.get("/health").json()
    assert answer.status == 202
    page = lxml.html.fromstring(answer.body)
    assert page.xpath("//p[@class='notice']/text()") == [
        "Your post is saved and will appear on the page shortly."
    ]
    assert (
        health["status"] == "error"
        and "duplicate category slug 'general'" in health["last_build"]["error"]
    )
    stored = list((site.root / "content/topics/hello").glob("2*.md"))
    assert len(stored) == 1 and "Still stored." in stored[0].read_text()
    assert page.xpath("//main//a/@href") == [
        f"http://forum.test/t/hello/page/2/#p-{stored[0].stem}"
    ]


def test_every_answer_carries_the_security_headers(queued: tuple[SiteFactory, Server]) -> None:
    _, server = queued
    answers = [
        server.get("/health"),
        server.get("/no-such-route"),
        server.post("/topics/hello/replies", {"author": "A", "body": "hi"}, headers=ORIGIN),
        server.post(
            "/topics/hello/replies", {"author": "A", "body": "hi"}, json_api=True, headers=ORIGIN
        ),
        server.post(
            "/topics/hello/replies", {"author": "", "body": ""}, json_api=True, headers=ORIGIN
        ),
        server.post("/topics/closed/replies", {"author": "A", "body": "hi"}, headers=ORIGIN),
    ]
    assert [a.status for a in answers] == [200, 404, 303, 201, 400, 403]
    assert all(secured(a) for a in answers), [a.headers for a in answers if not secured(a)]


def test_a_post_sent_again_within_a_minute_is_stored_once(
    queued: tuple[SiteFactory, Server],
) -> None:
    """Double clicks and retried requests, at once and across both workers: one file,
    and every copy answered with the first one's id."""
    site, server = queued
    same = {"author": "Dora", "body": "Sent twice by a nervous finger."}
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda _: server.post("/topics/hello/replies", same, json_api=True, headers=ORIGIN),
                range(8),
            )
        )
    assert {a.status for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(pending_files(site)) == 1
    form = server.post("/topics/hello/replies", same, headers=ORIGIN)
    assert form.status == 303 and form.headers["location"].endswith("#awaiting-moderation")
    other = server.post(
        "/topics/hello/replies", {**same, "body": "Something else."}, json_api=True, headers=ORIGIN
    )
    assert other.status == 201 and len(pending_files(site)) == 2


def test_a_post_that_cannot_be_stored_is_refused_not_lost(
    queued: tuple[SiteFactory, Server],
) -> None:
    """The disk cannot take it (here: pending/ is a file, not a folder): 503 with a
    message, nothing half-written, and the same post goes through once storage is back."""
    site, server = queued
    pending = site.root / "pending"
    shutil.rmtree(pending, ignore_errors=True)
    pending.write_text("in the way")
    post = {"author": "Erin", "body": "Will this be kept?"}
    refused = server.post("/topics/hello/replies", post, json_api=True, headers=ORIGIN)
    assert refused.status == 503 and refused.headers["retry-after"] == "60"
    assert "could not store your post" in refused.json()["error"]
    page = server.post("/topics/hello/replies", post, headers=ORIGIN)
    assert page.status == 503 and "could not store your post" in page.text
    pending.unlink()
    assert server.post("/topics/hello/replies", post, json_api=True, headers=ORIGIN).status == 201
    assert len(pending_files(site)) == 1


def test_fields_cannot_inject_headers_into_redirects(queued: tuple[SiteFactory, Server]) -> None:
    _, server = queued
    topic = {"author": "Ann", "category": "general", "body": "x"}
    assert (
        server.post("/topics", {**topic, "title": "Hi\u0085Set-Cookie: a=b"}, headers=ORIGIN).status
        == 400
    )
    assert (
        server.post("/topics", {**topic, "title": "Hi\r\nSet-Cookie: a=b"}, headers=ORIGIN).status
        == 400
    )
    assert (
        server.post(
            "/topics", {**topic, "author": "Ann\r\nSet-Cookie: a=b", "title": "Hi"}, headers=ORIGIN
        ).status
        == 400
    )
    # Line and paragraph separators (NEL, U+0085, is a C1 control: refused outright).
    encoded = server.post(
        "/topics", {**topic, "title": "ok%0d%0aSet-Cookie: a=b \u2028 \u2029"}, headers=ORIGIN
    )
    assert encoded.status == 303 and "set-cookie" not in encoded.headers
    assert not re.search(r"[\r\n\s]", encoded.headers["location"])
    assert (
        server.request(
            "POST",
            "/topics/hello%0d%0aSet-Cookie:%20a=b/replies",
            b"author=A&body=x",
            {**ORIGIN, "Content-Type": "application/x-www-form-urlencoded"},
        ).status
        == 404
    )


def test_published_posts_are_built_from_their_files_alone(
    site: SiteFactory, tmp_path: Path
) -> None:
    """Each rebuild is told which files the posts it covers wrote (from whichever worker
    took them) and scans only their folders; the output is a clean build's."""
    prepare(site, moderation="publish")
    scanned_since_boot(site.root)  # else the intake starts with a rebuild that scans all
    log = tmp_path / "intake.log"
    with gunicorn(site.root, workers=2, log=log) as server:
        posts = [
            ("/topics", {"title": "Brand new", "category": "general", "author": "Nia"}),
            *(("/topics/hello/replies", {"author": f"Replier {n}"}) for n in range(6)),
        ]

        def send(number: int) -> Response:
            where, fields = posts[number]
            body = {**fields, "body": f"Post number {number}."}
            return server.post(where, body, json_api=True, headers=ORIGIN)

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(send, range(len(posts))))
        assert [a.status for a in answers] == [201] * len(posts), [a.text for a in answers]
        rebuilt(site, server)
        health = server.get("/health").json()["last_build"]
        assert health["ok"] is True and health["changed"] >= 1, health
    for number in range(len(posts)):
        assert f"Post number {number}." in "".join(
            p.read_text() for p in site.output.glob("t/*/index.html")
        )
    assert "scanned the folders of" in log.read_text()
    clean = tmp_path / "clean"
    shutil.copytree(
        site.root, clean, ignore=shutil.ignore_patterns("output", ".forumgen", "pending")
    )
    result = CliRunner().invoke(main, ["build", "--site", str(clean), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert files_of(site.output) == files_of(clean / "output")


def test_the_intake_scans_everything_once_the_machine_started_before_any_post(
    site: SiteFactory,
) -> None:
    """A power cut can lose the line of the changes file naming a published post's file
    (only posts are fsynced) while the build cache trusts a scan without it: the intake
    starting on a machine started again asks for a rebuild that scans every topic folder,
    which publishes that post, and the posts' own rebuilds are told."""
    prepare(site, moderation="publish")
    boot = scanned_since_boot(site.root)
    boot.write_text("the boot before the power cut")
    site.reply("hello", "r0042", body="Its line was lost.")
    with gunicorn(site.root, workers=2) as server:
        deadline = time.monotonic() + 120
        while boot.read_text() != BOOT_ID.read_text().strip():
            assert time.monotonic() < deadline, "no rebuild scanned everything"
            time.sleep(0.05)
        assert server.get("/health").json()["last_build"]["changed"] == 0
        assert "Its line was lost." in (site.output / "t/hello/index.html").read_text()
        requested = (site.root / ".forumgen/rebuild-requested").read_text()
    assert requested == "1"  # both workers started: one asked
    sent_and_scanned(site, ["told", "told"])


def sent_and_scanned(site: SiteFactory, expected: list[str]) -> None:
    """Send a reply for each of `expected`, and check whether its rebuild scanned every
    topic folder or was told of the reply's files."""
    with gunicorn(site.root, workers=1) as server:
        for number, scanned in enumerate(expected):
            answer = server.post(
                "/topics/hello/replies",
                {"author": "Tess", "body": f"Post {number}."},
                json_api=True,
                headers=ORIGIN,
            )
            assert answer.status == 201, answer.text
            rebuilt(site, server)
            changed = server.get("/health").json()["last_build"]["changed"]
            assert (changed == 0) == (scanned == "scanned every"), (number, changed)
            assert f"Post {number}." in (site.output / "t/hello/index.html").read_text()


def test_a_rebuild_not_told_everything_scans_everything(site: SiteFactory) -> None:
    """A line of the changes file that a crash cut short leaves the next rebuild to scan
    every topic folder; once it ran to its end, rebuilds are told again."""
    prepare(site, moderation="publish")
    scanned_since_boot(site.root)
    (site.root / ".forumgen/rebuild-changed").write_text("1\t/cut/sh")
    sent_and_scanned(site, ["scanned every", "told"])
