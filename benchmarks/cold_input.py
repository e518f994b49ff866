"""Cold builds whose input is not in memory: `python -m benchmarks.cold_input --size M`.

`benchmarks.run` times a cold build with whatever of the corpus the page cache holds.
A forum's files are out of it after a reboot, on a fresh CI runner's disk, or when the
forum is larger than the memory left for files: each post file then costs a disk read.
For forumgen and each Hugo site `benchmarks.run` builds (`benchmarks/others.py`), this
times a cold build (no output, no cache) twice: with every input file read just before
(in the page cache), then with every input file dropped from the page cache (synced,
then `posix_fadvise(POSIX_FADV_DONTNEED)`; no root needed, Linux only). It prints a
table of seconds and peak memory. The corpus is the one `benchmarks.run` keeps.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks.corpus import generate
from benchmarks.others import GENERATORS, converted
from benchmarks.run import (
    HERE,
    OTHERS_BUILT,
    SIZES,
    Run,
    build_command,
    compile_bytecode,
    search_setting,
    timed,
)


def input_files(site: Path) -> list[Path]:
    """Every file a build of `site` reads from its content folder."""
    return sorted(path for path in (site / "content").rglob("*") if path.is_file())


def read_all(files: list[Path]) -> None:
    """Put the files in the page cache."""
    for path in files:
        path.read_bytes()


def drop_all(files: list[Path]) -> None:
    """Take the files out of the page cache (only clean pages can go: sync first)."""
    os.sync()
    for path in files:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(descriptor)


OUTPUTS = (".forumgen", *OTHERS_BUILT)
"""What a build of any of the sites writes in its folder (forumgen's build cache and
output/ included): gone before each cold build."""


def both(site: Path, command: list[str], files: list[Path]) -> tuple[Run, Run]:
    """A cold build of `site` with its input `files` cached, then with them dropped."""
    runs = []
    for prepare in (read_all, drop_all):
        for output in OUTPUTS:
            shutil.rmtree(site / output, ignore_errors=True)
        prepare(files)
        runs.append(timed(command))
    return runs[0], runs[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="S")
    parser.add_argument("--corpus", type=Path, help="where the generated corpus is kept")
    args = parser.parse_args()
    if not hasattr(os, "posix_fadvise"):
        raise SystemExit("needs posix_fadvise (Linux) to drop files from the page cache")
    compile_bytecode()
    corpus = args.corpus or HERE / ".corpus" / args.size
    if not (corpus / "forumgen.yaml").exists():
        print(f"generating the {args.size} corpus in {corpus} ...", file=sys.stderr)
        generate(corpus, SIZES[args.size])
    sites: list[tuple[str, Path, Callable[[Path], list[str]]]] = [
        ("forumgen, search: false", corpus, lambda site: build_command(site, None))
    ]
    for generator in GENERATORS:
        if generator.name.startswith("hugo") and generator.available():
            sites.append((generator.name, converted(generator, corpus), generator.command))
    rows = []
    for name, source, command in sites:
        print(f"building {name} ...", file=sys.stderr)
        site = source.parent / f"{source.name}-cold-input"
        shutil.rmtree(site, ignore_errors=True)
        shutil.copytree(source, site, ignore=shutil.ignore_patterns(*OUTPUTS))
        if (site / "forumgen.yaml").exists():
            search_setting(site, False)  # Hugo's sites have no search index either
        files = input_files(site)
        cached, dropped = both(site, command(site), files)
        rows.append(
            f"| {name} | {len(files):,} | {cached.seconds:.1f} s | "
            f"{dropped.seconds:.1f} s | {max(cached.peak_mb, dropped.peak_mb):.0f} |"
        )
        shutil.rmtree(site)
    print("| site | input files | cold build, input cached | input not cached | peak MB |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
