"""Load the intake: `python -m benchmarks.intake_load --posts 1000 --concurrency 16
--workers 4 --mode queue` starts gunicorn on 127.0.0.1 over a copy of a generated forum,
posts replies from separate client processes, and prints accepted posts per second.

Only loopback is ever targeted.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import yaml

from benchmarks.corpus import generate


def _client(args: tuple[int, int, int, list[str]]) -> list[int]:
    port, first, count, slugs = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    statuses = []
    for n in range(first, first + count):
        body = urlencode({"author": f"Load {n % 50}", "body": f"Load test post number {n}."})
        try:
            conn.request("POST", f"/topics/{slugs[n % len(slugs)]}/replies", body=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded",
                                  "Accept": "application/json"})
            answer = conn.getresponse()
            answer.read()
            statuses.append(answer.status)
        except OSError:
            statuses.append(0)
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--topics", type=int, default=200)
    parser.add_argument("--mode", choices=("queue", "publish"), default="queue")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        generate(site, args.topics)
        config = yaml.safe_load((site / "forumgen.yaml").read_text())
        config["intake"] = {"moderation": args.mode, "rate_limit": "1000000/second"}
        (site / "forumgen.yaml").write_text(yaml.safe_dump(config))
        subprocess.run([sys.executable, "-m", "forumgen", "build", "--site", str(site)],
                       check=True, capture_output=True)
        slugs = sorted(p.name for p in (site / "content/topics").iterdir())[:50]
        port = 18000 + os.getpid() % 1000
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(args.workers), "-b",
             f"127.0.0.1:{port}", "--log-level", "warning", "intake.wsgi:application"],
            env={**os.environ, "FORUMGEN_SITE": str(site), "FORUMGEN_LOG_LEVEL": "WARNING"},
            start_new_session=True)
        try:
            for _ in range(100):
                try:
                    http.client.HTTPConnection("127.0.0.1", port, timeout=1).request(
                        "GET", "/health")
                    break
                except OSError:
                    time.sleep(0.1)
            share = args.posts // args.concurrency
            jobs = [(port, i * share, share, slugs) for i in range(args.concurrency)]
            started = time.monotonic()
            with multiprocessing.Pool(args.concurrency) as pool:
                statuses = [s for part in pool.map(_client, jobs) for s in part]
            seconds = time.monotonic() - started
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait()
        accepted = sum(1 for s in statuses if s == 201)
        print("| mode | workers | concurrency | posts | accepted | failed | seconds | posts/s |")
        print("|---|---|---|---|---|---|---|---|")
        print(f"| {args.mode} | {args.workers} | {args.concurrency} | {len(statuses)} | "
              f"{accepted} | {len(statuses) - accepted} | {seconds:.2f} | "
              f"{accepted / seconds:.0f} |")


if __name__ == "__main__":
    main()
