"""Build benchmarks: `python -m benchmarks.run --size S` prints a table.

Generates the corpus of the chosen size once (cached under benchmarks/.corpus/, or
--corpus DIR), then times `forumgen build` as a user runs it (a separate process) for:
a cold build, a rebuild with no change, after one new reply, after editing one post and
after a theme template change; then the time from the intake's answer to a published
reply until its topic's page shows it (`benchmarks/post_to_page.py`), and whether the
output is byte for byte what a clean build of the same site makes. Times are medians of
--runs runs; peak memory is the largest sum of proportional set size (PSS: shared pages
split between the processes sharing them, so forked workers are not counted twice) over
the build's process tree, sampled every 100 ms (reading a large process's memory map
costs the kernel several milliseconds: sampling more often would slow the build being
measured).
"""

from __future__ import annotations

import argparse
import compileall
import dataclasses
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

import forumgen
import intake
from benchmarks import post_to_page
from benchmarks.corpus import generate
from benchmarks.others import (
    GENERATORS,
    HUGO,
    HUGO_PAGES,
    PAGEFIND_INSTALL,
    Generator,
    converted,
    pagefind_command,
    pagefind_version,
)
from forumgen.config import Config
from forumgen.markup import ENGINES

SIZES = {"XS": 100, "S": 1_000, "M": 10_000, "L": 100_000}
HERE = Path(__file__).resolve().parent
SITES = {HUGO: "minimal site", HUGO_PAGES: "forumgen's pages"}
"""Hugo's two sites (see benchmarks/others.py), which Pagefind indexes, as the search
table names them."""
OTHERS_BUILT = ("public", "_site", "output", ".jekyll-cache", "resources")
"""What the other generators' builds write in their sites' folders: gone before each
cold build."""
SKIPPABLE = ("search-off", "pull", "edit", "theme", "compare")
"""Scenarios `--skip` can leave out."""
PULLED = 30
"""The "pull" scenario answers one topic in this many at once, as a `git pull` of a day's
moderated posts or an import into a live forum does."""
SEARCH_SETTING = "search" in {f.name for f in dataclasses.fields(Config)}
"""Whether this forumgen can build without its search index (`search: false`)."""


@dataclass
class Run:
    seconds: float
    peak_mb: float
    summary: str
    cpu_seconds: float = 0.0
    """User and system time of the build and its workers: unlike `seconds`, next to
    unaffected by other work on the machine."""


def tree_memory(pid: int) -> int:
    """Proportional set size in bytes of a process and all its descendants."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            pss = next(line for line in rollup.splitlines() if line.startswith("Pss:"))
            total += int(pss.split()[1]) * 1024
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
            pending += [int(c) for c in children]
        except (OSError, StopIteration):
            continue
    return total


def timed(command: list[str]) -> Run:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_memory(process.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    seconds = time.perf_counter() - started
    now = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = now.ru_utime - used.ru_utime + now.ru_stime - used.ru_stime
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{err.decode()[-3000:]}")
    counts = re.search(
        r"(\d+) written, (\d+) unchanged, (\d+) removed; (\d+) pages rendered", out.decode()
    )
    summary = (
        "written {}, unchanged {}, removed {}, rendered {}".format(*counts.groups())
        if counts
        else out.decode().strip()
    )
    return Run(seconds, peak / 2**20, summary, cpu)


def compile_bytecode() -> None:
    """Compile forumgen's modules as `pip install` does. An editable install run with
    PYTHONDONTWRITEBYTECODE set (as some machines set it) compiles them again in every
    build, 0.15 to 0.2 s that an installed forumgen never spends: a no-change rebuild
    of M took 0.84 to 0.94 s so, and 0.71 s with the bytecode."""
    for folder in (*forumgen.__path__, *intake.__path__):
        compileall.compile_dir(folder, quiet=2)


def build_command(site: Path, jobs: int | None) -> list[str]:
    command = [sys.executable, "-m", "forumgen", "build", "--site", str(site)]
    return command + (["--jobs", str(jobs)] if jobs else [])


def search_setting(site: Path, on: bool) -> None:
    """Set the site's `search` (SPEC: `false` means no index, no search page, no form)."""
    config = yaml.safe_load((site / "forumgen.yaml").read_text(encoding="utf-8"))
    config["search"] = on
    (site / "forumgen.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")


def cold_build(site: Path, jobs: int | None, runs: int, search: bool) -> Run:
    """The median of `runs` builds from nothing (no output/, no build cache), with the
    search index on or off when this forumgen has the setting; the site is left built."""
    if SEARCH_SETTING:
        search_setting(site, search)
    builds = []
    for _ in range(runs):
        shutil.rmtree(site / "output", ignore_errors=True)
        shutil.rmtree(site / ".forumgen", ignore_errors=True)
        builds.append(timed(build_command(site, jobs)))
    return median(builds)


def reply_target(site: Path, n: int) -> Path:
    """The topic folder run `n` answers: each run another one, which moves to the top of
    the listings, so the pages between its old place and the top all change, as on a
    live forum."""
    topics = sorted((site / "content/topics").iterdir())
    return topics[len(topics) // 3 + n]


def scenario_changes(site: Path, skip: Sequence[str] = ()) -> dict[str, Callable[[int], None]]:
    """Each change takes the run number, so repeated runs change something new; those
    named in `skip` (`pull`, `edit`, `theme`) are left out."""
    topics = sorted((site / "content/topics").iterdir())
    target = topics[len(topics) // 2]
    template = site / "themes/default/templates/base.html"

    def new_reply(n: int) -> None:
        (reply_target(site, n) / f"29990101T0000{n:02d}Z-bench{n % 10}.md").write_text(
            f"---\nauthor: Bench\ndate: 2999-01-01T00:00:{n:02d}Z\n---\nA new reply {n}.\n"
        )

    def pulled_replies(n: int) -> None:
        for number, folder in enumerate(topics[n::PULLED]):
            (folder / f"29990201T0000{n:02d}Z-pulled{number}.md").write_text(
                f"---\nauthor: Puller\ndate: 2999-02-01T00:00:{n:02d}Z\n---\nA pulled reply.\n"
            )

    def edit_post(n: int) -> None:
        post = target / "topic.md"
        post.write_text(post.read_text() + f"\nEdited {n}.\n")

    def theme_change(n: int) -> None:
        if not template.exists():
            template.parent.mkdir(parents=True, exist_ok=True)
            source = (
                Path(__import__("forumgen.config").config.builtin_themes())
                / "default/templates/base.html"
            )
            template.write_text(source.read_text())
        template.write_text(template.read_text().replace("</footer>", f"<!-- {n} --></footer>", 1))

    changes: dict[str, Callable[[int], None]] = {"one new reply": new_reply}
    if "pull" not in skip:
        changes[f"a reply in 1 of {PULLED} topics at once"] = pulled_replies
    if "edit" not in skip:
        changes["edit one post"] = edit_post
    if "theme" not in skip:
        changes["theme template change"] = theme_change
    return changes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="S")
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario (median)")
    parser.add_argument("--jobs", type=int, default=None, help="default: all cores")
    parser.add_argument("--corpus", type=Path, help="where to keep the generated corpus")
    parser.add_argument(
        "--no-others",
        action="store_true",
        help="do not time Hugo, Jekyll and Pelican even if installed",
    )
    parser.add_argument(
        "--posts",
        type=int,
        default=20,
        help="replies sent through the intake in the post-to-page scenario",
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default=ENGINES[0],
        help="the Markdown engine of the site (markdown.engine)",
    )
    parser.add_argument(
        "--skip",
        nargs="+",
        choices=SKIPPABLE,
        default=[],
        help="scenarios left out, to take the others at L within the hour: the cold build "
        "without search, the replies to many topics at once, editing a post, the theme "
        "change, the comparison with a clean build",
    )
    args = parser.parse_args()

    compile_bytecode()
    corpus = args.corpus or HERE / ".corpus" / args.size
    if not (corpus / "forumgen.yaml").exists():
        print(
            f"generating the {args.size} corpus ({SIZES[args.size]} topics) in {corpus} ...",
            file=sys.stderr,
        )
        generate(corpus, SIZES[args.size])
    site = corpus.parent / f"{corpus.name}-work"
    if site.exists():
        shutil.rmtree(site)
    shutil.copytree(corpus, site)
    config = yaml.safe_load((site / "forumgen.yaml").read_text())
    (site / "forumgen.yaml").write_text(
        yaml.safe_dump({**config, "markdown": {"engine": args.engine}})
    )
    # Before the first build: the config is an input of every page.
    post_to_page.publish_mode(site)
    posts = sum(1 for _ in (site / "content/topics").rglob("*.md"))

    rows: list[tuple[str, Run]] = []
    if SEARCH_SETTING and "search-off" not in args.skip:
        rows.append(("cold build, search off", cold_build(site, args.jobs, args.runs, False)))
    rows.append(("cold build", cold_build(site, args.jobs, args.runs, True)))
    rows.append(
        (
            "no-change rebuild",
            median([timed(build_command(site, args.jobs)) for _ in range(args.runs)]),
        )
    )
    for name, change in scenario_changes(site, args.skip).items():
        runs = []
        for n in range(args.runs):
            change(n)
            runs.append(timed(build_command(site, args.jobs)))
        rows.append((name, median(runs)))
    # Only now: Hugo's builds take gigabytes, and would leave the forum's files out of
    # the page cache for the rebuilds above, as no build of the forum itself does.
    colds = {} if args.no_others else cold_others(corpus, args.runs)
    print(f"sending {args.posts} replies through the intake ...", file=sys.stderr)
    skip = frozenset(reply_target(site, n).name for n in range(args.runs))
    intake = post_to_page.measure(site, args.posts, skip)
    identical = "not compared (--skip compare)"
    if "compare" not in args.skip:
        identical = same_as_clean_build(site, args.jobs)

    print(
        f"forumgen build, {args.size}: {SIZES[args.size]} topics, {posts} posts, Markdown "
        f"engine {args.engine}; {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}; median of {args.runs}"
    )
    print()
    print("| scenario | seconds | CPU seconds | peak memory (PSS) MB | files |")
    print("|---|---:|---:|---:|---|")
    for name, run in rows:
        print(
            f"| {name} | {run.seconds:.2f} | {run.cpu_seconds:.2f} | {run.peak_mb:.0f} | "
            f"{run.summary} |"
        )
    print()
    print_intake(intake)
    print()
    print(f"output/ after all of the above, compared with a clean build: {identical}")
    if not args.no_others:
        compare(dict(rows), colds, corpus, args.runs)


def print_intake(result: post_to_page.Result) -> None:
    """The post-to-page table: seconds from the intake's answer until the page shows the
    reply, and what each reply's rebuild wrote."""
    worst = result.worst
    written = result.written
    print(
        f"post to page through the intake ({len(result.replies)} JSON replies to different "
        "topics, one after another; gunicorn -w 4 gthread, publish mode, search on)"
    )
    print()
    print("| median s | p90 s | max s | slowest reply's rebuild | files written per reply |")
    print("|---:|---:|---:|---|---|")
    print(
        f"| {result.median:.2f} | {result.p90:.2f} | {worst.seconds:.2f} | "
        f"{worst.topic}: {worst.builds} build(s), the last {worst.build_seconds:.2f} s | "
        f"median {statistics.median(written):.0f}, min {written[0]}, max {written[-1]} |"
    )


def same_as_clean_build(site: Path, jobs: int | None) -> str:
    """Build a copy of the site's sources from scratch and compare its output with the
    site's, file by file (`diff -r`): exits with the differences if there are any."""
    clean = site.parent / f"{site.name}-clean"
    shutil.rmtree(clean, ignore_errors=True)
    shutil.copytree(
        site,
        clean,
        ignore=lambda folder, names: {"output", ".forumgen"} if Path(folder) == site else set(),
    )
    print("building a clean copy to compare ...", file=sys.stderr)
    timed(build_command(clean, jobs))
    diff = subprocess.run(
        ["diff", "-r", "-q", str(site / "output"), str(clean / "output")],
        capture_output=True,
        text=True,
    )
    if diff.returncode != 0:
        raise SystemExit(f"output/ differs from a clean build:\n{diff.stdout[-3000:]}{diff.stderr}")
    shutil.rmtree(clean)
    return "byte-identical (diff -r)"


@dataclass
class Cold:
    """Another generator's site and its cold builds: Hugo's with Pagefind's index after."""

    site: Path
    build: Run
    search: Run | None


def cold_others(corpus: Path, runs: int) -> dict[Generator, Cold]:
    """The cold builds of the other generators installed, timed after forumgen's builds
    and before the run deletes hundreds of thousands of files (the post-to-page scenario,
    the clean copy): a build's speed on this file system depends on what was created and
    deleted before it (ext4 looks through recently freed inodes for each new file)."""
    colds = {}
    pagefind = pagefind_version()
    for generator in GENERATORS:
        if not generator.available():
            continue
        print(f"converting the corpus for {generator.name} ...", file=sys.stderr)
        site = corpus.parent / f"{corpus.name}-{generator.name}-work"
        shutil.rmtree(site, ignore_errors=True)
        shutil.copytree(converted(generator, corpus), site)
        cold, search = [], []
        for _ in range(runs):
            for output in OTHERS_BUILT:
                shutil.rmtree(site / output, ignore_errors=True)
            cold.append(timed(generator.command(site)))
            if generator in SITES and pagefind:
                search.append(timed(pagefind_command(site / "public")))
        colds[generator] = Cold(site, median(cold), median(search) if search else None)
    return colds


def compare(ours: dict[str, Run], colds: dict[Generator, Cold], corpus: Path, runs: int) -> None:
    """Time the other generators' rebuilds on the same corpus and print them against
    forumgen with their cold builds; then the cold builds with and without a search
    index, Hugo's sites indexed by Pagefind."""
    print()
    print("| generator | scenario | seconds | peak memory (PSS) MB | forumgen / it |")
    print("|---|---|---:|---:|---:|")
    indexed: dict[Generator, tuple[Run, Run]] = {}
    for generator, cold in colds.items():
        command = generator.command(cold.site)
        times: dict[str, Run] = {"cold build": cold.build}
        if cold.search is not None:
            indexed[generator] = (cold.build, cold.search)
        times["no-change rebuild"] = median([timed(command) for _ in range(runs)])
        replies = []
        for n in range(runs):
            generator.add_reply(cold.site, reply_target(corpus, n).name, n)
            replies.append(timed(command))
        times["one new reply"] = median(replies)
        for scenario, run in times.items():
            # Their sites have no search index: their cold builds compare with forumgen's
            # without one (with one, below, against Hugo + Pagefind).
            mine = ours.get(f"{scenario}, search off", ours[scenario])
            print(
                f"| {generator.name} {generator.version()} | {scenario} | "
                f"{run.seconds:.2f} | {run.peak_mb:.0f} | "
                f"{mine.seconds / run.seconds:.2f} |"
            )
    missing = [g.name for g in GENERATORS if g not in colds]
    if missing:
        print(f"\nnot installed, so not timed: {', '.join(missing)} (see benchmarks/README.md)")
    print_search_costs(ours, indexed, pagefind_version())


def print_search_costs(
    ours: dict[str, Run], indexed: dict[Generator, tuple[Run, Run]], pagefind: str | None
) -> None:
    """Cold builds without and with a search index: each Hugo site, Pagefind run on its
    pages (timed on its own), the two together, and forumgen with `search` off and on."""
    rows: list[tuple[str, str]] = []
    for generator, (hugo, search) in indexed.items():
        site = SITES[generator]
        rows += [
            (f"Hugo {generator.version()}, {site}", f"{hugo.seconds:.2f} | {hugo.peak_mb:.0f}"),
            (
                f"Pagefind {pagefind} on Hugo's public/, {site}",
                f"{search.seconds:.2f} | {search.peak_mb:.0f}",
            ),
            (
                f"Hugo + Pagefind, {site}",
                f"{hugo.seconds + search.seconds:.2f} | {max(hugo.peak_mb, search.peak_mb):.0f}",
            ),
        ]
    off = ours.get("cold build, search off")
    rows.append(
        (
            "forumgen, search off",
            f"{off.seconds:.2f} | {off.peak_mb:.0f}"
            if off
            else "- | - (this forumgen has no `search` setting)",
        )
    )
    on = ours["cold build"]
    rows.append(("forumgen, search on", f"{on.seconds:.2f} | {on.peak_mb:.0f}"))
    print()
    print("| cold build | seconds | peak memory (PSS) MB |")
    print("|---|---:|---:|")
    for name, cells in rows:
        print(f"| {name} | {cells} |")
    if not indexed:
        why = "Hugo is not installed" if pagefind else f"Pagefind is not: {PAGEFIND_INSTALL}"
        print(f"\nHugo + Pagefind not timed: {why} (see benchmarks/README.md)")


def median(runs: list[Run]) -> Run:
    ordered = sorted(runs, key=lambda r: r.seconds)
    middle = ordered[len(ordered) // 2]
    return Run(
        statistics.median(r.seconds for r in runs),
        middle.peak_mb,
        middle.summary,
        statistics.median(r.cpu_seconds for r in runs),
    )


if __name__ == "__main__":
    main()
