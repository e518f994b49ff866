"""Post to page through the intake: how long a published reply takes to reach its page.

`benchmarks.run` calls `measure` on its built site: it starts the intake under gunicorn
on 127.0.0.1 as the README's production command does (publish mode, the site's search
index on as it is by default), sends JSON replies to different topics one after another
(spread from the topic with the oldest activity to the newest) and times, for each, from
the intake's 2xx answer until the topic's page file in output/ holds the reply, polling
the file every 10 ms. The next reply is sent once the previous one is on its page and its
rebuild has finished, so each reply is timed on its own, as a visitor's would be on a
quiet forum. Each reply's rebuild is read from the intake's rebuild state: how long it
took and what it wrote.

Only loopback is ever targeted.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, unquote, urlencode, urlsplit

import yaml

from benchmarks.intake_load import settle

POLL = 0.01  # seconds between looks at the page file
GIVE_UP = 900.0  # seconds a reply may take to reach its page before the run fails
WRITTEN = re.compile(r"(\d+) written, (\d+) unchanged, (\d+) removed; (\d+) pages rendered")
WORKERS = 4  # gunicorn worker processes, as in the README's production command
THREADS = 32  # threads of each


@dataclass
class Published:
    """One reply: from the intake's answer to its page, and the rebuild that put it there."""

    topic: str
    seconds: float
    build_seconds: float
    builds: int
    """Rebuilds that ended between the answer and the reply's page (1 when nothing else ran)."""
    written: int
    summary: str


@dataclass
class Result:
    replies: list[Published] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(p.seconds for p in self.replies)

    @property
    def p90(self) -> float:
        return quantile([p.seconds for p in self.replies], 0.9)

    @property
    def worst(self) -> Published:
        return max(self.replies, key=lambda p: p.seconds)

    @property
    def written(self) -> list[int]:
        return sorted(p.written for p in self.replies)


def quantile(values: list[float], q: float) -> float:
    """The value below which a fraction `q` of `values` lies (one of the values)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def publish_mode(site: Path) -> None:
    """Turn on publish mode for the benchmark's client, which posts faster than any
    visitor may."""
    config = yaml.safe_load((site / "forumgen.yaml").read_text(encoding="utf-8"))
    config["intake"] = {
        **config.get("intake", {}),
        "moderation": "publish",
        "rate_limit": "1000000/second",
    }
    (site / "forumgen.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")


def _last_activity(folder: Path) -> str:
    """When a topic was last active, as a post id starts (`20150304T050600Z`): the newest
    reply's id, or the opening post's date."""
    replies = [p.stem for p in folder.glob("*.md") if p.name != "topic.md"]
    if replies:
        return max(replies)
    found = re.search(r"^date: '?([^'\n]+)", (folder / "topic.md").read_text("utf-8"), re.M)
    return f"{datetime.fromisoformat(found.group(1)):%Y%m%dT%H%M%SZ}" if found else ""


def targets(site: Path, count: int, skip: frozenset[str] = frozenset()) -> list[str]:
    """`count` topics evenly spread from the least to the most recently active."""
    folders = [f for f in (site / "content/topics").iterdir() if f.name not in skip]
    ordered = sorted(folders, key=lambda f: (_last_activity(f), f.name))
    step = (len(ordered) - 1) / max(1, count - 1)
    return [ordered[round(n * step)].name for n in range(count)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def intake(site: Path, log: Path) -> Iterator[int]:
    """gunicorn serving the intake of `site`, as the README's production command runs
    it, logging to `log`; yields its port."""
    port = _free_port()
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-w",
                str(WORKERS),
                "--worker-class",
                "gthread",
                "--threads",
                str(THREADS),
                "-b",
                f"127.0.0.1:{port}",
                "--access-logfile",
                "-",
                "--no-control-socket",
                "intake.wsgi:application",
            ],
            env={**os.environ, "FORUMGEN_SITE": str(site), "FORUMGEN_LOG_LEVEL": "INFO"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_up(port, server)
            yield port
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait()


def _wait_up(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the intake exited with status {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/health")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the intake did not answer within 120 s")


def _post(port: int, slug: str, body: str) -> str:
    """Send a JSON reply; returns the URL of the post from the 2xx answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(
            "POST",
            f"/topics/{quote(slug)}/replies",
            body=urlencode({"author": "Bench Poster", "body": body}),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
        answer = conn.getresponse()
        data = answer.read()
    finally:
        conn.close()
    if not 200 <= answer.status < 300:
        raise SystemExit(f"the intake answered {answer.status} to a reply to {slug}: {data!r}")
    return str(json.loads(data)["url"])


def page_file(site: Path, url: str) -> Path:
    """The file in output/ that serves the page of a post's URL."""
    path = unquote(urlsplit(url).path).lstrip("/")
    return site / "output" / (path + "index.html" if path.endswith("/") or not path else path)


def _number(state: dict[str, object], key: str) -> float:
    value = state.get(key, 0)
    return float(value) if isinstance(value, (int, float)) else 0.0


def settled(site: Path) -> dict[str, object]:
    """The build state once every requested rebuild has finished."""
    return settle(site, GIVE_UP, poll=POLL)


def _reply(port: int, site: Path, slug: str, n: int) -> Published:
    before = _number(settled(site), "builds")
    token = f"benchreply{n}x{time.time_ns()}"
    url = _post(port, slug, f"Post to page reply {n}: {token}.")
    answered = time.perf_counter()
    target = page_file(site, url)
    needle = token.encode()
    while True:
        try:
            if needle in target.read_bytes():
                break
        except OSError:
            pass  # not written yet
        if time.perf_counter() - answered > GIVE_UP:
            raise SystemExit(f"reply {n} to {slug} was not on {target} after {GIVE_UP:g} s")
        time.sleep(POLL)
    seconds = time.perf_counter() - answered
    state = settled(site)
    summary = str(state.get("summary", ""))
    counts = WRITTEN.search(summary)
    return Published(
        slug,
        seconds,
        _number(state, "duration"),
        int(_number(state, "builds") - before),
        int(counts.group(1)) if counts else -1,
        summary,
    )


def measure(site: Path, count: int = 20, skip: frozenset[str] = frozenset()) -> Result:
    """Time `count` replies from the intake's answer to their page (see the module), on
    a site built in publish mode (`publish_mode`): switching it on changes the config,
    which every page depends on, so the first rebuild after it would render them all."""
    result = Result()
    with intake(site, site.parent / f"{site.name}-intake.log") as port:
        for n, slug in enumerate(targets(site, count, skip)):
            result.replies.append(_reply(port, site, slug, n))
            print(
                f"  reply {n + 1}/{count} to {slug}: {result.replies[-1].seconds:.2f} s",
                file=sys.stderr,
            )
        settled(site)
    return result
