"""Load the intake, optionally while killing it, and audit what it kept.

`python -m benchmarks.intake_load --posts 1000 --concurrency 16 --workers 4 --mode queue`
starts gunicorn on 127.0.0.1 over a copy of a generated forum, posts replies (and one
new topic in twenty posts) from separate client processes, and prints accepted posts
per second. `--kill-every 0.5` also SIGKILLs, every half second, a gunicorn worker or
the running rebuild in turn (only workers in queue mode, which runs no rebuilds).
Either way the run ends with an audit once the last rebuild has finished: every post
answered 2xx must be a valid file on disk and, in publish mode, on the pages; no partial
file may be left in content/ or pending/.

Tests ask `run` for a number of kills of each kind (`min_kills`): the posting then goes
on past `posts` until they have happened, so the kills a test checks for do not depend
on how fast the machine gets through the posts.

Only loopback is ever targeted.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import multiprocessing
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as SharedEvent
from pathlib import Path
from urllib.parse import quote, urlencode

import yaml

from benchmarks.corpus import generate
from forumgen.content import TOPIC_FILE, read_post_file
from forumgen.errors import Problems

NEW_TOPIC_EVERY = 20  # one post in twenty opens a topic
KILL_CAP = 600.0  # seconds a run may go on past its posts waiting for the kills asked for
Outcome = tuple[int, str]  # (HTTP status or 0 for no complete answer, "topic/id" if 201)


@dataclass
class Audit:
    """What happened to the posts of one load run."""

    mode: str
    outcomes: list[Outcome]
    seconds: float
    kills: Counter[str]
    on_disk: set[str] = field(default_factory=set)
    invalid: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)
    rendered: set[str] = field(default_factory=set)
    last_build: dict[str, object] = field(default_factory=dict)

    @property
    def answered(self) -> set[str]:
        return {post for status, post in self.outcomes if status == 201}

    @property
    def unanswered(self) -> int:
        """Posts that got no 201: with sync workers, at most the one post each killed
        worker was handling."""
        return len(self.outcomes) - len(self.answered)

    @property
    def lost(self) -> set[str]:
        """Answered 2xx but not a valid file on disk."""
        return self.answered - self.on_disk

    @property
    def unrendered(self) -> set[str]:
        """Answered 2xx in publish mode but not on the pages after the last rebuild."""
        return self.answered - self.rendered if self.mode == "publish" else set()

    def row(self) -> str:
        statuses = Counter(status for status, _ in self.outcomes)
        others = ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items()) if s != 201)
        rendered = len(self.rendered & self.answered) if self.mode == "publish" else "-"
        return (
            f"| {self.mode} | {len(self.outcomes)} | {len(self.answered)} | "
            f"{others or '-'} | {self.kills['worker']} / {self.kills['build']} | "
            f"{len(self.on_disk)} | {len(self.lost)} | {rendered} | "
            f"{len(self.partial) + len(self.invalid)} | {self.seconds:.1f} | "
            f"{len(self.answered) / self.seconds:.0f} |"
        )


HEADER = (
    "| mode | posts | answered 2xx | other answers (0 = none) | killed workers / builds "
    "| files | lost | on pages | partial or invalid | seconds | posts/s |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


_enough: SharedEvent | None = None  # "the posts may stop", given to each client process


def _start_client(enough: SharedEvent) -> None:
    global _enough
    _enough = enough


def _client(args: tuple[int, int, int, int, list[str]]) -> list[Outcome]:
    """Send posts number first, first+step, ... below `posts`, then go on until the run
    says it has enough; one connection, reopened after a failure."""
    port, first, step, posts, slugs = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    outcomes: list[Outcome] = []
    for n in itertools.count(first, step):
        if n >= posts and (_enough is None or _enough.is_set()):
            break
        fields = {"author": f"Load {n % 50}", "body": f"Load test post number {n}."}
        if n % NEW_TOPIC_EVERY == 0:
            path = "/topics"
            fields.update(title=f"Load test topic {n}", category="general")
        else:
            path = f"/topics/{quote(slugs[n % len(slugs)])}/replies"
        try:
            conn.request(
                "POST",
                path,
                body=urlencode(fields),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                },
            )
            answer = conn.getresponse()
            body = answer.read()
            outcomes.append((answer.status, json.loads(body)["id"] if answer.status == 201 else ""))
        except (OSError, http.client.HTTPException):  # reset or cut off: no answer
            outcomes.append((0, ""))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    return outcomes


def processes() -> dict[int, tuple[int, list[bytes]]]:
    """Every process: pid -> (parent pid, command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            match = re.search(r"^PPid:\s+(\d+)$", status, re.M)
            if match:
                found[int(entry.name)] = (int(match.group(1)), args)
    return found


def _workers(master: int) -> list[int]:
    return sorted(pid for pid, (parent, _) in processes().items() if parent == master)


def _serving(pid: int) -> bool:
    """Whether a gunicorn worker has loaded the intake (it holds the intake's database
    open), rather than still starting up."""
    try:
        return any(
            os.readlink(fd).endswith("intake.sqlite") for fd in Path(f"/proc/{pid}/fd").iterdir()
        )
    except OSError:
        return False  # gone, or a descriptor closed while looking


def running_builds(site: Path) -> list[int]:
    """Running `forumgen build` processes for `site`, not their forked helpers: started
    as a command, or titled as one (the intake's builds, see intake/buildproc.py)."""
    found = processes()
    builds = set()
    for pid, (_, args) in found.items():
        line = b" ".join(args)
        words = line.split()
        if b"forumgen" in words and b"build" in words and str(site).encode() in line:
            builds.add(pid)
    return sorted(pid for pid in builds if found[pid][0] not in builds)


@dataclass
class _Killing:
    """What the killer thread is asked to do, and what it did."""

    master: int
    workers: int
    site: Path
    every: float
    kinds: tuple[str, ...]  # "worker", "build": taken in turn
    wanted: Mapping[str, int]  # kills of each kind before the posting may stop
    enough: SharedEvent  # set once they have happened, or after KILL_CAP seconds
    stop: threading.Event = field(default_factory=threading.Event)
    kills: Counter[str] = field(default_factory=Counter)

    def done(self) -> bool:
        return all(self.kills[kind] >= n for kind, n in self.wanted.items())


def _killer(job: _Killing) -> None:
    """Every `every` seconds SIGKILL a gunicorn worker, then a rebuild, then a worker...
    A worker is killed only while all of them are serving: on a slow machine, killing
    them faster than they start would leave none to take posts. Once the kills wanted
    have happened (or after KILL_CAP seconds, then the test that wanted them fails on the
    count) the posting is told it may stop."""
    rng = random.Random(7)
    turn = itertools.cycle(job.kinds)
    target = next(turn)
    cap = time.monotonic() + KILL_CAP
    while not job.stop.wait(job.every):
        if job.done() or time.monotonic() > cap:
            job.enough.set()
        if target == "worker":
            workers = [pid for pid in _workers(job.master) if _serving(pid)]
            try:
                if len(workers) >= job.workers:
                    os.kill(rng.choice(workers), signal.SIGKILL)
                    job.kills["worker"] += 1
                    target = next(turn)
            except ProcessLookupError:
                pass  # it died meanwhile: another one next time
        else:
            deadline = time.monotonic() + job.every  # wait a little for a build to run
            while not (builds := running_builds(job.site)) and time.monotonic() < deadline:
                time.sleep(0.01)
            for pid in builds[:1]:
                try:
                    os.kill(pid, signal.SIGKILL)
                    job.kills["build"] += 1
                except ProcessLookupError:
                    pass
            target = next(turn)


@contextmanager
def _gunicorn(site: Path, workers: int) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = 18000 + os.getpid() % 1000
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "critical",
            "--no-control-socket",
            "intake.wsgi:application",
        ],
        env={**os.environ, "FORUMGEN_SITE": str(site), "FORUMGEN_LOG_LEVEL": "CRITICAL"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(300):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/health")
                conn.getresponse().read()
                break
            except OSError:
                time.sleep(0.1)
        yield port, server
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()


def settle(site: Path, seconds: float, poll: float = 0.2) -> dict[str, object]:
    """The last build's state once it includes every requested rebuild, looked at every
    `poll` seconds. Read from the state file, not /health: no request may nudge the
    intake into catching up."""
    requests, states = site / ".forumgen/rebuild-requested", site / ".forumgen/rebuild-state.json"
    deadline = time.monotonic() + seconds
    while True:
        try:
            state: dict[str, object] = json.loads(states.read_text())
        except (OSError, ValueError):  # no build yet, or being replaced
            state = {}
        try:
            requested = int(requests.read_text() or 0)
        except (OSError, ValueError):  # nothing requested yet
            requested = 0
        if int(state.get("generation", 0)) >= requested:  # type: ignore[call-overload]
            return state
        if time.monotonic() > deadline:
            raise RuntimeError(f"rebuilds did not catch up within {seconds:g} s: {state}")
        time.sleep(poll)


def _audit(site: Path, audit: Audit) -> None:
    """Fill in what is on disk and on the pages."""
    topics, pending = site / "content/topics", site / "pending/topics"
    for path in sorted(list((site / "content").rglob("*")) + list(pending.rglob("*"))):
        if (
            path.name.startswith(".")
            or path.name.endswith(".tmp")
            or (path.is_dir() and not any(path.iterdir()))
            or (path.parent == topics and not (path / TOPIC_FILE).is_file())
        ):
            audit.partial.append(str(path.relative_to(site)))
    problems = Problems(site)
    for path in (topics if audit.mode == "publish" else pending).glob("*/*.md"):
        if read_post_file(path, problems) is None:
            audit.invalid.append(str(path.relative_to(site)))
        else:
            audit.on_disk.add(f"{path.parent.name}/{path.stem}")
    if audit.mode == "publish":
        for page in (site / "output/t").rglob("index.html"):
            topic = page.relative_to(site / "output/t").parts[0]
            audit.rendered.update(
                f"{topic}/{post}"
                for post in re.findall(r'<article class="post" id="p-([^"]+)"', page.read_text())
            )


def run(
    site: Path,
    posts: int,
    concurrency: int,
    workers: int,
    mode: str,
    kill_every: float = 0,
    wait: float = 600,
    min_kills: Mapping[str, int] | None = None,
) -> Audit:
    """Post `posts` posts to a gunicorn over the (built) site in `site` and audit. With
    `kill_every` and `min_kills` ({"worker": 2, "build": 1}) the posting goes on until
    that many kills of each kind have happened, bounded by KILL_CAP seconds."""
    config = yaml.safe_load((site / "forumgen.yaml").read_text())
    config["intake"] = {"moderation": mode, "rate_limit": "1000000/second"}
    (site / "forumgen.yaml").write_text(yaml.safe_dump(config))
    slugs = sorted(p.name for p in (site / "content/topics").iterdir())[:50]
    context = multiprocessing.get_context("fork")
    enough = context.Event()
    with _gunicorn(site, workers) as (port, server):
        job = _Killing(
            server.pid,
            workers,
            site,
            kill_every,
            ("worker", "build") if mode == "publish" else ("worker",),
            dict(min_kills or {}) if kill_every else {},
            enough,
        )
        if job.done():
            enough.set()
        killer = threading.Thread(target=_killer, args=(job,)) if kill_every else None
        jobs = [(port, i, concurrency, posts, slugs) for i in range(concurrency)]
        started = time.monotonic()
        if killer:
            killer.start()
        try:
            with context.Pool(concurrency, _start_client, (enough,)) as pool:
                outcomes = [o for part in pool.map(_client, jobs) for o in part]
        finally:
            job.stop.set()
            if killer:
                killer.join()
        seconds = time.monotonic() - started
        last_build = settle(site, wait) if mode == "publish" else {}
    audit = Audit(mode, outcomes, seconds, job.kills, last_build=last_build)
    _audit(site, audit)
    return audit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--topics", type=int, default=200)
    parser.add_argument("--mode", choices=("queue", "publish"), default="queue")
    parser.add_argument(
        "--kill-every",
        type=float,
        default=0,
        metavar="SECONDS",
        help="SIGKILL a worker or the rebuild in turn this often",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        generate(site, args.topics)
        subprocess.run(
            [sys.executable, "-m", "forumgen", "build", "--site", str(site)],
            check=True,
            capture_output=True,
        )
        audit = run(site, args.posts, args.concurrency, args.workers, args.mode, args.kill_every)
        print(HEADER)
        print(audit.row())
        for name, bad in (
            ("lost", audit.lost),
            ("not on the pages", audit.unrendered),
            ("partial", audit.partial),
            ("invalid", audit.invalid),
        ):
            if bad:
                print(f"{name}: {sorted(bad)[:20]}")
        if audit.last_build and not audit.last_build.get("ok"):
            print(f"last build failed: {audit.last_build.get('error')}")
        if audit.lost or audit.unrendered or audit.partial or audit.invalid:
            sys.exit(1)


if __name__ == "__main__":
    main()
