"""Abuse of the intake under gunicorn on 127.0.0.1: slow clients, path tricks in slugs and
fields, floods from many addresses."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from conftest import SiteFactory, snapshot
from servers import Server, gunicorn

# The production command the README gives: threads, so a slow client holds a thread.
THREADED = ("--worker-class", "gthread", "--threads", "32")
READ_TIMEOUT = 4


def prepare(site: SiteFactory, **intake: object) -> SiteFactory:
    site.save_config(intake={"rate_limit": "1000/second", "read_timeout": READ_TIMEOUT, **intake})
    site.topic("hello", title="Hello", replies=2)
    site.build()
    return site


class SlowClient(threading.Thread):
    """Sends the request line, the headers and a part of the body, then one more byte
    every 0.3 s until the server answers."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port
        self.answer = b""
        self.answered_at = 0.0

    def run(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port)) as sock:
            sock.sendall(
                b"POST /topics/hello/replies HTTP/1.1\r\nHost: forum.test\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 500\r\n\r\nauthor=A&body="
            )
            sock.settimeout(0.3)
            for _ in range(200):
                try:
                    sock.sendall(b"b")
                    self.answer = sock.recv(4096)
                    self.answered_at = time.monotonic()
                    return
                except TimeoutError:
                    continue
                except OSError:
                    return


@pytest.fixture
def threaded(site: SiteFactory) -> Iterator[tuple[SiteFactory, Server]]:
    prepare(site)
    with gunicorn(site.root, workers=2, options=THREADED) as server:
        yield site, server


def test_slow_bodies_are_cut_off_and_hold_no_one_up(threaded: tuple[SiteFactory, Server]) -> None:
    site, server = threaded
    slow = [SlowClient(server.port) for _ in range(24)]
    started = time.monotonic()
    for client in slow:
        client.start()
    time.sleep(1)
    answer = server.post(
        "/topics/hello/replies", {"author": "Ann", "body": "Still here."}, json_api=True
    )
    answered = time.monotonic()
    for client in slow:
        client.join()
    assert answer.status == 201
    # Every slow body got a 408 once its time was up, not before...
    assert all(c.answer.startswith(b"HTTP/1.1 408") for c in slow), [c.answer[:40] for c in slow]
    assert all(c.answered_at - started >= READ_TIMEOUT - 0.5 for c in slow)
    # ...and the honest post did not wait for them.
    assert answered < min(c.answered_at for c in slow)
    assert len(list((site.root / "pending").rglob("*.md"))) == 1


def test_a_slow_body_is_cut_off_under_sync_workers_too(site: SiteFactory) -> None:
    prepare(site)
    with gunicorn(site.root, workers=1) as server:
        client = SlowClient(server.port)
        client.start()
        client.join()
        assert client.answer.startswith(b"HTTP/1.1 408")
        # The worker is free again.
        assert (
            server.post(
                "/topics/hello/replies", {"author": "Ann", "body": "Hi."}, json_api=True
            ).status
            == 201
        )


# Path tricks: each a topic slug in the URL (percent-encoded as sent) or a field value.
SLUGS = [
    "..",
    "%2e%2e",
    "..%2f..%2fetc",
    "%2e%2e%2f%2e%2e%2fetc",
    "..%5c..%5cetc",
    "hello%2f..%2f..%2f..",
    "hello%00",
    "%00",
    "hello%2500",
    "%252e%252e%252f",
    "%ef%bc%8e%ef%bc%8e%ef%bc%8fetc",  # fullwidth "..／"
    "%e2%80%a4%e2%80%a4%e2%88%95etc",  # one-dot leaders and a division slash
    "hello%e2%81%84..",  # fraction slash
    "%c0%ae%c0%ae%c0%af",  # overlong UTF-8 "../"
    "%ef%bd%88%ef%bd%85%ef%bd%8c%ef%bd%8c%ef%bd%8f",  # fullwidth "hello"
    "HELLO",
    "hello%20",
    "%20hello",
    "hello%0a",
    "hello%e2%80%8b",  # zero-width space
    "hello%e2%80%ae",
]  # right-to-left override
FIELD_VALUES = [
    "../../etc/passwd",
    "..\\..\\etc",
    "hello/../..",
    "\x00",
    "hello\x00",
    "．．／etc",
    "․․∕etc",
    "../pending/x",
    "%2e%2e%2f",
    "hello\u202e",
    "/etc/passwd",
    "..",
    ".",
]


def tree(site: SiteFactory) -> dict[str, tuple[bytes, int]]:
    """Every file of the site and next to it, but the intake's own state."""
    return {k: v for k, v in snapshot(site.root.parent).items() if "/.forumgen/" not in k}


def test_path_tricks_in_slugs_and_fields_write_nothing(
    threaded: tuple[SiteFactory, Server],
) -> None:
    site, server = threaded
    before = tree(site)
    ok = {"author": "Ann", "body": "Hello."}
    statuses = {}
    for slug in SLUGS:
        statuses[slug] = server.request(
            "POST",
            f"/topics/{slug}/replies",
            b"author=Ann&body=Hello.",
            {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        ).status
    for value in FIELD_VALUES:
        statuses[f"reply_to={value!r}"] = server.post(
            "/topics/hello/replies", {**ok, "reply_to": value}, json_api=True
        ).status
        statuses[f"category={value!r}"] = server.post(
            "/topics", {**ok, "title": "A title", "category": value}, json_api=True
        ).status
    assert all(status in (400, 404) for status in statuses.values()), statuses
    assert tree(site) == before
    # A title full of them is only a title: it gets an ordinary slug.
    answer = server.post(
        "/topics", {**ok, "title": "../../etc/passwd", "category": "general"}, json_api=True
    )
    assert answer.status == 201 and answer.json()["id"] == "etc-passwd/topic"
    assert (site.root / "pending/topics/etc-passwd/topic.md").is_file()


def test_floods_from_many_addresses_meet_the_total_limit(site: SiteFactory) -> None:
    """Each address stays under its own limit; the total limit still holds, across
    workers. Addresses come from X-Forwarded-For, believed from a proxy on 127.0.0.1."""
    # Per hour: the posts never outlast the window, however slow the machine.
    prepare(site, rate_limit="2/hour", total_rate_limit="20/hour")
    with gunicorn(site.root, workers=2, options=THREADED) as server:
        statuses = [
            server.post(
                "/topics/hello/replies",
                {"author": "Bot", "body": f"Spam {n}"},
                json_api=True,
                headers={"X-Forwarded-For": f"203.0.113.{n}"},
            ).status
            for n in range(60)
        ]
        repeat = server.post(
            "/topics/hello/replies",
            {"author": "Bot", "body": "Again"},
            json_api=True,
            headers={"X-Forwarded-For": "203.0.113.1"},
        )
        assert server.get("/health").status == 200
    assert statuses == [201] * 20 + [429] * 40
    assert repeat.status == 429 and "retry-after" in repeat.headers
    assert len(list((site.root / "pending").rglob("*.md"))) == 20


def test_per_address_limit_without_a_total(site: SiteFactory) -> None:
    prepare(site, rate_limit="2/hour")
    with gunicorn(site.root, workers=2) as server:
        statuses = [
            server.post(
                "/topics/hello/replies",
                {"author": "Bot", "body": f"Hi {n}"},
                json_api=True,
                headers={"X-Forwarded-For": f"198.51.100.{n % 30}"},
            ).status
            for n in range(90)
        ]
    assert statuses == [201] * 60 + [429] * 30


def test_an_ipv6_client_is_counted_by_its_64(site: SiteFactory) -> None:
    """A client given an IPv6 /64 can send each post from another of its addresses: the
    per-address limit counts the /64. An IPv4-mapped IPv6 address is its IPv4 address.
    Addresses come from X-Forwarded-For, as nginx on this machine sends them."""
    prepare(site, rate_limit="2/hour")
    with gunicorn(site.root, workers=2) as server:

        def post(address: str) -> int:
            return server.post(
                "/topics/hello/replies",
                {"author": "Bot", "body": f"From {address}"},
                json_api=True,
                headers={"X-Forwarded-For": address},
            ).status

        one_network = [
            post(a)
            for a in (
                "2001:db8:1:2::1",
                "2001:db8:1:2::2",
                "2001:db8:1:2:ffff:ffff:ffff:ffff",
                "2001:db8:1:2:a::",
            )
        ]
        next_network = [post(a) for a in ("2001:db8:1:3::1", "2001:db8:1:3::2", "2001:db8:1:3::3")]
        ipv4 = [post(a) for a in ("198.51.100.7", "::ffff:198.51.100.7", "::ffff:c633:6407")]
    assert one_network == [201, 201, 429, 429]
    assert next_network == [201, 201, 429]
    assert ipv4 == [201, 201, 429]


def test_a_request_cannot_forge_lines_in_the_log(site: SiteFactory, tmp_path: Path) -> None:
    """The intake logs every refusal with the path and the reason, both from the
    request: a %0A in a slug or a newline in a field would start a line of the
    attacker's choosing, and an ESC would act on the terminal reading the log. They are
    logged escaped."""
    prepare(site)
    log = tmp_path / "intake.log"
    forged = "2026-01-01 00:00:00,000 1 intake INFO rebuilt generation 9 in 0.10 s"
    with gunicorn(site.root, workers=1, log=log) as server:
        slug = quote(f"hello\n{forged}\x1b[2J")  # no "/": a slug of the reply route
        path = server.request(
            "POST",
            f"/topics/{slug}/replies",
            b"author=Ann&body=Hi.",
            {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
        field = server.post(
            "/topics",
            {"author": "Ann", "title": "T", "body": "Hi.", "category": f"x\r\n{forged}\x9b2J"},
            json_api=True,
        )
    assert (path.status, field.status) == (404, 404)
    text = log.read_text(encoding="utf-8")
    assert f"hello\\n{forged}\\x1b[2J" in text
    assert f"x\\r\\n{forged}\\x9b2J" in text
    assert not [line for line in text.splitlines() if line.startswith("2026-01-01")]
    assert not set(text) & {"\x1b", "\x9b", "\r"}
