"""Every HTML page of the example forum and of a generated 400-topic forum passes the
W3C Nu HTML Checker (vnu.jar) without an error, checked by one Java process per forum."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import forums
import pytest
from tools import npm_file, require

from conftest import html_files


def nu_check(files: list[Path], *options: str) -> list[dict[str, object]]:
    """The checker's messages for `files`, from one run over all of them."""
    require([] if shutil.which("java") else ["java"], "apt-get install default-jre-headless")
    vnu = npm_file("vnu-jar", "build/dist/vnu.jar")
    run = subprocess.run(
        ["java", "-jar", str(vnu), "--format", "json", "--stdout", *options, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(run.stdout)
    assert run.returncode in (0, 1), run.stderr  # 1: errors were reported
    return list(report["messages"])


def errors_in(files: list[Path]) -> list[str]:
    """The checker's errors; its warnings are counted on standard output (`pytest -rP`)."""
    messages = nu_check(files)
    warnings = Counter(str(m.get("message")) for m in messages if m.get("subType") == "warning")
    for message, count in warnings.most_common():
        print(f"{count} x warning: {message}")
    return [
        f"{m.get('url')}:{m.get('lastLine')}: {m.get('message')}"
        for m in messages
        if m.get("type") != "info"
    ]


def test_the_checker_finds_errors(tmp_path: Path) -> None:
    """A page with a stray end tag and a duplicate id fails, so a clean run means
    something."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><html lang="en"><head><title>x</title></head>'
        '<body><p id="a">one</p><p id="a">two</p></div></body></html>'
    )
    good = tmp_path / "good.html"
    good.write_text(
        '<!DOCTYPE html><html lang="en"><head><title>x</title></head>'
        "<body><p>fine</p></body></html>"
    )
    found = errors_in([bad, good])
    assert len(found) == 2 and all("bad.html" in e for e in found), found


@pytest.mark.parametrize("name", ["example", "generated", "archived"])
def test_every_page_is_valid_html(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    forum = getattr(forums, name)(tmp_path_factory)
    pages = list(html_files(forum.output))
    assert len(pages) > {"example": 100, "generated": 600, "archived": 500}[name]
    # Every kind of page is among them: the checker sees the whole theme.
    kinds = {p.relative_to(forum.output).parts[0] for p in pages}
    assert {"index.html", "404.html", "c", "t", "tag", "u", "new", "page", "archive"} <= kinds
    for index in ("tags/index.html", "categories/index.html", "u/index.html"):
        assert (forum.output / index).is_file(), index
    if name == "archived":  # archives of categories, tags and authors, months of pages,
        # and an index of authors of more than one page
        for pattern in (
            "c/*/archive/*/*/index.html",
            "tag/*/archive/*/*/index.html",
            "u/*/archive/index.html",
            "u/*/archive/*/*/page/2/index.html",
            "u/page/2/index.html",
        ):
            assert list(forum.output.glob(pattern)), pattern
        assert list(forum.output.glob("archive/*/*/page/2/index.html"))
    assert errors_in(pages) == []
