"""A forum with a share of its files broken in varied ways, and a build over it.

`python -m benchmarks.broken --topics 10000 --share 0.01` generates the corpus, breaks 1%
of its post files (13 kinds of damage, each in a different topic), runs `forumgen build`
and `forumgen build --keep-going`, and prints a table: files, broken, reported at the
right line, exit codes, whether output/ was left as it was, and the times.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.corpus import generate


def _replace_line(key: str, value: str) -> Callable[[str], str]:
    return lambda text: re.sub(rf"^{key}:.*$", f"{key}: {value}", text, count=1, flags=re.M)


# (what is wrong, how to break a file's text, which file: topic.md or a reply, the line
# the problem must be reported on: a number, or the key whose line it is; 0 for the line
# after the last)
BREAKAGES: list[tuple[str, Callable[[str], str], str, int | str]] = [
    ("unclosed flow list", _replace_line("author", "[Unclosed"), "reply", "author"),
    (
        "front matter not closed",
        lambda t: t.replace("---\n", "", 2).replace("author", "---\nauthor", 1),
        "reply",
        1,
    ),
    ("unknown category", _replace_line("category", "no-such-category"), "topic", "category"),
    ("missing author", lambda t: re.sub(r"^author:.*\n", "", t, flags=re.M), "reply", 2),
    ("bad date", _replace_line("date", "the day after tomorrow"), "reply", "date"),
    (
        "dangling reply_to",
        lambda t: (
            _replace_line("reply_to", "nobody")(t)
            if "\nreply_to:" in t
            else t.replace("---\n", "---\nreply_to: nobody\n", 1)
        ),
        "reply",
        "reply_to",
    ),
    ("empty body", lambda t: t[: t.index("---", 3) + 4], "reply", 0),
    ("unknown key", lambda t: t.replace("---\n", "---\nmood: happy\n", 1), "reply", "mood"),
    (
        "tags not a list",
        lambda t: re.sub(r"^tags:.*\n(- .*\n)*", "tags: {a: 1}\n", t, count=1, flags=re.M),
        "topic",
        "tags",
    ),
    (
        "hidden not a flag",
        lambda t: t.replace("---\n", "---\nhidden: perhaps\n", 1),
        "reply",
        "hidden",
    ),
    (
        "missing title",
        lambda t: re.sub(r"^title:.*\n(?:[ \t].*\n)*", "", t, flags=re.M),
        "topic",
        2,
    ),
    ("not UTF-8", lambda t: t.replace("---\n", "---\n# caf\udce9\n", 1), "reply", 2),
    ("missing topic.md", lambda t: "", "topic", 1),
]
KINDS = [kind for kind, *_ in BREAKAGES]


def break_files(site: Path, count: int) -> dict[Path, tuple[str, int]]:
    """Break `count` post files, each in a different topic with at least three posts,
    going round the kinds of damage; returns each broken file with (kind, line)."""
    folders = sorted(
        f for f in (site / "content/topics").iterdir() if len(list(f.glob("*.md"))) >= 3
    )
    if count > len(folders):
        raise ValueError(f"only {len(folders)} topics have three posts; cannot break {count}")
    broken: dict[Path, tuple[str, int]] = {}
    for n, folder in enumerate(folders[:count]):
        kind, damage, which, where = BREAKAGES[n % len(BREAKAGES)]
        path = (
            folder / "topic.md"
            if which == "topic"
            else sorted(p for p in folder.glob("*.md") if p.name != "topic.md")[-1]
        )
        text = damage(path.read_text(encoding="utf-8"))
        if kind == "missing topic.md":
            path.unlink()
        else:  # surrogateescape turns the lone surrogate back into the byte 0xE9
            path.write_bytes(text.encode("utf-8", "surrogateescape"))
        line = (
            where
            if isinstance(where, int)
            else next(
                n for n, row in enumerate(text.splitlines(), 1) if row.startswith(f"{where}:")
            )
        )
        broken[path] = (kind, line or len(text.splitlines()) + 1)
    return broken


def reported_lines(site: Path, output: str, path: Path) -> list[int]:
    """The lines a build's output reports `path` at."""
    where = path.relative_to(site).as_posix()
    return [int(n) for n in re.findall(rf"^{re.escape(where)}:(\d+): ", output, re.M)]


def output_digest(output: Path) -> str:
    digest = hashlib.sha1()
    for path in sorted(output.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(output).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _build(site: Path, *extra: str) -> tuple[int, str, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "forumgen", "build", "--site", str(site), *extra],
        capture_output=True,
        text=True,
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--share", type=float, default=0.01)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        generate(site, args.topics)
        code, output, _ = _build(site)
        assert code == 0, output
        before = output_digest(site / "output")
        files = sum(1 for _ in (site / "content/topics").rglob("*.md"))
        broken = break_files(site, round(files * args.share))
        code, output, seconds = _build(site)
        exact = sum(
            1 for path, (kind, line) in broken.items() if line in reported_lines(site, output, path)
        )
        named = sum(1 for path in broken if reported_lines(site, output, path))
        untouched = output_digest(site / "output") == before
        going, _, going_seconds = _build(site, "--keep-going")
        print(
            "| topics | files | broken | named | at the exact line | exit | output/ "
            "untouched | seconds | --keep-going exit | seconds |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        print(
            f"| {args.topics} | {files} | {len(broken)} | {named} | {exact} | {code} | "
            f"{'yes' if untouched else 'NO'} | {seconds:.1f} | {going} | "
            f"{going_seconds:.1f} |"
        )


if __name__ == "__main__":
    main()
