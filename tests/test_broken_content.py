"""A large forum with about 1% of its files broken in varied ways: one run names every
broken file and line and leaves output/ as it was; --keep-going builds the rest, still
exits 1, and once the files are fixed the output is that of a clean build."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.corpus import generate
from conftest import snapshot
from forumgen.cli import main


def replace_line(key: str, value: str) -> Callable[[str], str]:
    return lambda text: re.sub(rf"^{key}:.*$", f"{key}: {value}", text, count=1, flags=re.M)


# (what is wrong, how to break a file's text, which file: topic.md or a reply, the line
# the problem must be reported on: a number, or the key whose line it is)
BREAKAGES: list[tuple[str, Callable[[str], str], str, int | str]] = [
    ("unclosed flow list", replace_line("author", "[Unclosed"), "reply", "author"),
    ("front matter not closed", lambda t: t.replace("---\n", "", 2).replace(
        "author", "---\nauthor", 1), "reply", 1),
    ("unknown category", replace_line("category", "no-such-category"), "topic", "category"),
    ("missing author", lambda t: re.sub(r"^author:.*\n", "", t, flags=re.M), "reply", 2),
    ("bad date", replace_line("date", "the day after tomorrow"), "reply", "date"),
    ("dangling reply_to", lambda t: t.replace("---\n", "---\nreply_to: nobody\n", 1), "reply",
     "reply_to"),
    ("empty body", lambda t: t[:t.index("---", 3) + 4], "reply", 0),
    ("unknown key", lambda t: t.replace("---\n", "---\nmood: happy\n", 1), "reply", "mood"),
    ("tags not a list", lambda t: re.sub(r"^tags:.*\n(- .*\n)*", "tags: {a: 1}\n", t,
                                         count=1, flags=re.M), "topic", "tags"),
    ("hidden not a flag", lambda t: t.replace("---\n", "---\nhidden: perhaps\n", 1), "reply",
     "hidden"),
    ("missing title", lambda t: re.sub(r"^title:.*\n", "", t, flags=re.M), "topic", 2),
]


def run(site: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["build", "--site", str(site), "--jobs", "2", *extra])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def forum(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("broken") / "site"
    generate(site, 120, seed=5)
    assert run(site)[0] == 0
    return site


def break_files(site: Path) -> dict[Path, tuple[str, int]]:
    """Break one file per kind (in different topics) plus a non-UTF-8 file and a folder
    without its topic.md; returns each broken file with (kind, expected line)."""
    folders = sorted(f for f in (site / "content/topics").iterdir()
                     if len(list(f.glob("*.md"))) >= 3)
    broken: dict[Path, tuple[str, int]] = {}
    for folder, (kind, damage, which, where) in zip(folders, BREAKAGES, strict=False):
        path = folder / "topic.md" if which == "topic" else \
            sorted(p for p in folder.glob("*.md") if p.name != "topic.md")[-1]
        text = damage(path.read_text(encoding="utf-8"))
        path.write_text(text, encoding="utf-8")
        line = where if isinstance(where, int) else next(
            n for n, row in enumerate(text.splitlines(), 1) if row.startswith(f"{where}:"))
        broken[path] = (kind, line or len(text.splitlines()) + 1)
    reply = sorted(p for p in folders[len(BREAKAGES)].glob("*.md") if p.name != "topic.md")[0]
    reply.write_bytes(reply.read_bytes().replace(b"---\n", b"---\n# caf\xe9\n", 1))
    broken[reply] = ("not UTF-8", 2)
    orphan = folders[len(BREAKAGES) + 1] / "topic.md"
    orphan.unlink()
    broken[orphan] = ("missing topic.md", 1)
    return broken


def test_every_broken_file_named_then_keep_going_then_fixed(forum: Path,
                                                            tmp_path: Path) -> None:
    posts = sum(1 for _ in (forum / "content/topics").rglob("*.md"))
    originals = {p: p.read_bytes() for p in (forum / "content/topics").rglob("*.md")}
    before = snapshot(forum / "output")
    broken = break_files(forum)
    assert 0.005 < len(broken) / posts < 0.02  # about 1% of the files

    code, output = run(forum)
    assert code == 1 and "nothing was written" in output
    for path, (kind, line) in broken.items():
        where = path.relative_to(forum).as_posix()
        reported = re.findall(rf"^{re.escape(where)}:(\d+): ", output, re.M)
        assert reported, (kind, where, output)
        # Files whose damage is at a known line are reported there.
        if kind not in ("empty body", "front matter not closed"):
            assert int(reported[0]) == line, (kind, reported, line)
    assert snapshot(forum / "output") == before  # untouched

    code, output = run(forum, "--keep-going")
    assert code == 1 and "left out, the rest was built" in output
    assert all(path.relative_to(forum).as_posix() in output for path in broken)
    pages = "".join(p.read_text(encoding="utf-8") for p in (forum / "output/t").rglob("*.html"))
    for path, (kind, _) in broken.items():
        if path.name == "topic.md" and kind in ("unknown category", "tags not a list",
                                                "missing title", "missing topic.md"):
            assert not (forum / "output/t" / path.parent.name).exists(), kind
        elif kind not in ("dangling reply_to",):  # kept, as an answer to a hidden post
            assert f'id="p-{path.stem}"' not in pages, kind
    good = [p for p in originals if p not in broken and p.parent not in
            {b.parent for b, (k, _) in broken.items() if b.name == "topic.md"}]
    assert all(f'id="p-{p.stem}"' in pages for p in good if p.name != "topic.md")
    # Left out again (and reported again) until fixed.
    assert run(forum, "--keep-going")[0] == 1

    for path, data in originals.items():
        path.write_bytes(data)
    assert run(forum)[0] == 0
    shutil.copytree(forum, tmp_path / "clean", ignore=shutil.ignore_patterns(
        "output", ".forumgen"))
    assert run(tmp_path / "clean")[0] == 0
    assert {k: v[0] for k, v in snapshot(forum / "output").items()} == \
        {k: v[0] for k, v in snapshot(tmp_path / "clean/output").items()}
