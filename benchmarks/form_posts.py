"""Browser form posts under load: how long a visitor's reply form takes to answer.

`python -m benchmarks.form_posts --topics 1000 --posts 160 --clients 16` generates a
forum (`benchmarks/corpus.py`) in a temporary folder, sets publish mode before its cold
build (`post_to_page.publish_mode`), starts gunicorn on 127.0.0.1 as the README's
production command runs it (`post_to_page.intake`), and has `--clients` processes post
`--posts` replies to topics spread over the forum, as a browser's reply form does:
form-encoded, `Accept: text/html`, from the site's origin, a new connection each. In
publish mode the intake answers a browser only once the rebuild holding its post has
finished (or after 10 s, with a 202 page): each post's latency runs from sending it until
its whole answer, which is not followed. It prints a Markdown table, then, once the last
rebuild has finished, looks for every post answered 303 on the page its Location names,
and exits 1 naming any post that is not there or was not answered 303.

Only loopback is ever targeted.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import yaml

from benchmarks.corpus import generate
from benchmarks.post_to_page import (
    THREADS,
    WORKERS,
    intake,
    page_file,
    publish_mode,
    quantile,
    settled,
    targets,
)

ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"  # Firefox's
HEADER = (
    "| topics | posts | clients | gunicorn workers | p50 s | p90 s | max s | posts/s "
    "| answered 303 | other answers | rebuilds | 303 but not on its page |\n"
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"
)
LOG_TAIL = 30  # lines of the intake's log shown when a run fails


@dataclass(frozen=True)
class Answer:
    """One form post and the intake's answer to it."""

    topic: str
    token: str
    """A word found only in this post's body: what shows that a page holds the post."""
    status: int
    """The HTTP status, or 0 when no complete answer came."""
    location: str
    seconds: float


@dataclass
class Report:
    """What a run's posts were answered, how fast, and whether they reached their pages."""

    topics: int
    clients: int
    answers: list[Answer]
    seconds: float
    """From the first post sent until the last answer."""
    rebuilds: int
    last_build: dict[str, object]
    missing: list[Answer] = field(default_factory=list)
    """Answered 303, but not on the page the Location names once the rebuilds are done."""

    @property
    def redirected(self) -> list[Answer]:
        return [a for a in self.answers if a.status == 303]

    @property
    def others(self) -> list[Answer]:
        """Every post not answered 303: refused, too late for its rebuild (202), or cut off."""
        return [a for a in self.answers if a.status != 303]

    def table(self) -> str:
        """The Markdown table; the latencies are over every post, whatever its answer, so
        a post that waited 10 s for a 202 counts as the wait its visitor had."""
        latencies = [a.seconds for a in self.answers]
        statuses = Counter(a.status for a in self.others)
        others = ", ".join(f"{status}: {n}" for status, n in sorted(statuses.items()))
        row = (
            f"| {self.topics} | {len(self.answers)} | {self.clients} | {WORKERS} | "
            f"{statistics.median(latencies):.2f} | {quantile(latencies, 0.9):.2f} | "
            f"{max(latencies):.2f} | {len(self.answers) / self.seconds:.1f} | "
            f"{len(self.redirected)} | {others or '-'} | {self.rebuilds} | {len(self.missing)} |"
        )
        return f"{HEADER}\n{row}"

    def problems(self) -> list[str]:
        """One line for each post not answered 303 or not on its page, and a failed rebuild."""
        lines = [
            f"not answered 303: {a.topic} ({a.status or 'no complete answer'})" for a in self.others
        ]
        lines += [
            f"answered 303 but not on its page: {a.topic} -> {a.location}" for a in self.missing
        ]
        if self.last_build.get("ok") is False:
            lines.append(f"the last rebuild failed: {self.last_build.get('error')}")
        return lines


def prepare(site: Path, topics: int) -> None:
    """Generate a forum of `topics` topics in `site`, in publish mode, and build it cold."""
    generate(site, topics)
    publish_mode(site)  # before the first build: the config is an input of every page
    built = subprocess.run(
        [sys.executable, "-m", "forumgen", "build", "--site", str(site)],
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        raise SystemExit(f"the cold build failed:\n{built.stderr[-3000:]}")


def _origin(site: Path) -> str:
    """The origin a browser names when it posts a form from the site's pages."""
    config = yaml.safe_load((site / "forumgen.yaml").read_text("utf-8"))
    parts = urlsplit(config["base_url"])
    return f"{parts.scheme}://{parts.netloc}"


def _form(token: str) -> str:
    """The reply form's fields in its order (themes/default/templates/topic.html): the
    author, "reply to" left on the topic, the body and the honeypot left empty."""
    body = f"A reply sent from the form ({token})."
    return urlencode({"author": "Form Poster", "reply_to": "", "body": body, "website": ""})


def _client(job: tuple[int, str, list[tuple[str, str]]]) -> list[Answer]:
    """Send one client's posts one after another, each on a new connection, as nginx
    passes each request to gunicorn; never follow the 303."""
    port, origin, posts = job
    answers = []
    for slug, token in posts:
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request(
                "POST",
                f"/topics/{quote(slug)}/replies",
                body=_form(token),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": ACCEPT,
                    "Origin": origin,
                },
            )
            answer = conn.getresponse()
            answer.read()
            status, location = answer.status, answer.getheader("Location", "")
        except (OSError, http.client.HTTPException):  # reset or cut off: no answer
            status, location = 0, ""
        finally:
            conn.close()
        answers.append(Answer(slug, token, status, location, time.perf_counter() - started))
    return answers


def on_its_page(site: Path, answer: Answer) -> bool:
    """Whether the page file the 303's Location names holds the post's body and the
    anchor its fragment scrolls to. The anchor alone proves nothing: a queued post's
    303 names #awaiting-moderation, which every topic page has."""
    try:
        page = page_file(site, answer.location).read_text("utf-8")
    except OSError:
        return False
    fragment = urlsplit(answer.location).fragment
    return answer.token in page and (not fragment or f'id="{fragment}"' in page)


def _builds(state: dict[str, object]) -> int:
    """The rebuilds the intake has run, from its build state (none before the first)."""
    builds = state.get("builds", 0)
    return builds if isinstance(builds, int) else 0


def run(site: Path, posts: int, clients: int) -> Report:
    """Post `posts` replies from `clients` processes to the intake of the built `site`;
    then, once every rebuild asked for has finished, look for each post answered 303 on
    its page. The intake's log goes next to `site`."""
    nonce = time.time_ns()
    work = [(slug, f"formpost{n}x{nonce}") for n, slug in enumerate(targets(site, posts))]
    origin = _origin(site)
    with intake(site, log_file(site)) as port:
        before = _builds(settled(site))
        jobs = [(port, origin, work[i::clients]) for i in range(clients)]
        with multiprocessing.get_context("fork").Pool(clients) as pool:
            started = time.monotonic()
            parts = pool.map(_client, jobs, chunksize=1)
            seconds = time.monotonic() - started
        last = settled(site)
    topics = sum(1 for _ in (site / "content/topics").iterdir())
    answers = [a for part in parts for a in part]
    report = Report(topics, clients, answers, seconds, _builds(last) - before, last)
    report.missing = [a for a in report.redirected if not on_its_page(site, a)]
    return report


def log_file(site: Path) -> Path:
    return site.parent / f"{site.name}-intake.log"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topics", type=_positive, default=1000, help="topics of the forum")
    parser.add_argument("--posts", type=_positive, default=160, help="replies to send")
    parser.add_argument("--clients", type=_positive, default=16, help="concurrent clients")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="form-posts-") as folder:
        site = Path(folder) / "site"
        print(f"generating {args.topics} topics and building them cold ...", file=sys.stderr)
        prepare(site, args.topics)
        print(f"posting {args.posts} replies from {args.clients} clients ...", file=sys.stderr)
        load = os.getloadavg()
        report = run(site, args.posts, args.clients)
        print(
            f"browser form posts to the intake (gunicorn -w {WORKERS} gthread --threads "
            f"{THREADS}, publish mode, search on), seconds from sending each post until its "
            f"whole answer; load average before the run {load[0]:.2f}, {os.cpu_count()} cores"
        )
        print()
        print(report.table())
        problems = report.problems()
        if problems:
            print()
            print("\n".join(problems))
            log = log_file(site).read_text("utf-8", "replace").splitlines()
            print("\n".join(log[-LOG_TAIL:]), file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
