"""Markdown rendering per post, for each engine: `python -m benchmarks.markdown --size S`.

Renders the body of every post of the benchmark corpus (the same files `benchmarks.run`
builds) with forumgen.markup, once per engine, in one process, and prints a table:
CPU seconds, microseconds per post and posts per second of one core. CPU time, not
wall time: other work on the machine barely changes it. This is the work a cold build
does per post before any page is rendered (highlighting and sanitizing included); the
build spreads it over all cores and renders each distinct body once.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from benchmarks.corpus import generate
from benchmarks.run import HERE, SIZES
from forumgen.markup import COMMONMARK, PYTHON_MARKDOWN, Engine, render


def bodies(site: Path, limit: int | None) -> list[str]:
    """The Markdown of every post of the site, in file order (front matter cut off)."""
    posts = sorted((site / "content/topics").rglob("*.md"))[:limit]
    return [p.read_text(encoding="utf-8").split("---\n", 2)[2] for p in posts]


def seconds(engine: Engine, sources: list[str]) -> float:
    """CPU seconds this process spent rendering `sources`."""
    started = time.process_time()
    for source in sources:
        render(source, engine)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="S")
    parser.add_argument("--runs", type=int, default=3, help="runs per engine (median)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N posts")
    parser.add_argument("--corpus", type=Path, help="where to keep the generated corpus")
    args = parser.parse_args()

    corpus = args.corpus or HERE / ".corpus" / args.size
    if not (corpus / "forumgen.yaml").exists():
        print(
            f"generating the {args.size} corpus ({SIZES[args.size]} topics) in {corpus} ...",
            file=sys.stderr,
        )
        generate(corpus, SIZES[args.size])
    sources = bodies(corpus, args.limit)
    size = sum(len(s.encode()) for s in sources)
    print(
        f"Markdown rendering, {args.size} corpus: {len(sources)} posts, {size / 2**20:.1f} MiB "
        f"of Markdown; one process ({os.cpu_count()} cores), "
        f"{platform.python_implementation()} {platform.python_version()}; "
        f"median of {args.runs}"
    )
    print()
    print("| engine | CPU seconds | µs per post | posts/s | MiB/s |")
    print("|---|---:|---:|---:|---:|")
    for engine in (COMMONMARK, PYTHON_MARKDOWN):
        seconds(engine, sources[:50])  # warm up: lexers, the renderer, caches
        median = statistics.median(seconds(engine, sources) for _ in range(args.runs))
        print(
            f"| {engine.name} | {median:.2f} | {median / len(sources) * 1e6:.0f} | "
            f"{len(sources) / median:,.0f} | {size / 2**20 / median:.1f} |"
        )


if __name__ == "__main__":
    main()
