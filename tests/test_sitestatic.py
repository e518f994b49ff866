"""The site's static/ folder: copied as it is to the root of output/, kept by --clean,
written only when changed, removed with its source, never in place of a page; --clean
names the hand-placed files it removes."""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

from conftest import SiteFactory, snapshot
from forumgen import serve


def files_of(folder: Path) -> dict[str, bytes]:
    return {name: data for name, (data, _mtime) in snapshot(folder).items()}


def rendered(summary: str) -> int:
    match = re.search(r"; (\d+) pages rendered in", summary)
    assert match, summary
    return int(match.group(1))


def counts(summary: str) -> tuple[int, int, int]:
    match = re.search(r": (\d+) written, (\d+) unchanged, (\d+) removed;", summary)
    assert match, summary
    written, unchanged, removed = map(int, match.groups())
    return written, unchanged, removed


def clean_build_of_a_copy(site: SiteFactory, where: Path) -> dict[str, bytes]:
    shutil.copytree(site.root, where, ignore=shutil.ignore_patterns("output", ".forumgen"))
    copy = SiteFactory.__new__(SiteFactory)
    copy.root = where
    copy.build()
    return files_of(copy.output)


def test_static_files_are_copied_to_the_root_and_kept_up_to_date(
    site: SiteFactory, tmp_path: Path
) -> None:
    site.topic("hello", replies=2)
    site.write("static/CNAME", "forum.example.org\n")
    site.write("static/google123.html", "google-site-verification: google123.html")
    site.write("static/files/guide.pdf", b"%PDF-1.4 \x00\xff binary")
    site.write("static/.gitkeep", "")
    site.write("static/files/.DS_Store", "x")
    site.write("static/.git/config", "[core]")
    site.write("static/.well-known/security.txt", "Contact: mailto:a@example.org\n")
    site.build()
    assert (site.output / "CNAME").read_text() == "forum.example.org\n"
    assert (site.output / "google123.html").read_text().startswith("google-site-verification")
    assert (site.output / "files/guide.pdf").read_bytes() == b"%PDF-1.4 \x00\xff binary"
    assert (site.output / ".well-known/security.txt").is_file()
    for hidden in (".gitkeep", "files/.DS_Store", ".git"):
        assert not (site.output / hidden).exists()

    # Unchanged: nothing written, nothing rendered, mtimes kept.
    before = snapshot(site.output)
    assert counts(site.build().output)[0] == 0
    assert snapshot(site.output) == before

    # A changed file is copied again, and no page is rendered for it.
    site.write("static/CNAME", "archive.example.org\n")
    summary = site.build().output
    assert (site.output / "CNAME").read_text() == "archive.example.org\n"
    assert rendered(summary) == 0 and counts(summary)[0] == 1, summary
    assert {k for k, v in snapshot(site.output).items() if before[k] != v} == {"CNAME"}

    # A removed source takes its copy (and the folder left empty) with it.
    (site.root / "static/files/guide.pdf").unlink()
    summary = site.build().output
    assert counts(summary)[2] == 1 and rendered(summary) == 0, summary
    assert not (site.output / "files").exists()
    assert files_of(site.output) == clean_build_of_a_copy(site, tmp_path / "fresh")

    # --clean keeps them: they are the build's own files.
    summary = site.build("--clean").output
    assert "removed output/" not in summary and counts(summary)[2] == 0, summary
    assert (site.output / "CNAME").read_text() == "archive.example.org\n"


def test_clean_names_the_files_it_removes_that_the_build_did_not_make(site: SiteFactory) -> None:
    site.topic("hello")
    site.topic("gone")
    site.build()
    (site.output / "CNAME").write_text("forum.example.org\n")
    (site.output / "extra").mkdir()
    (site.output / "extra/notes.txt").write_text("by hand")
    # An ordinary build leaves files it did not make alone.
    assert counts(site.build().output)[2] == 0
    assert (site.output / "CNAME").is_file()

    shutil.rmtree(site.root / "content/topics/gone")
    before = set(files_of(site.output))
    result = site.build("--clean")
    gone = before - set(files_of(site.output))
    assert {"CNAME", "extra/notes.txt", "t/gone/index.html", "t/gone/feed.xml"} <= gone
    lines = result.output.splitlines()
    assert "removed output/CNAME (not made by the build; put it in static/ to keep it)" in lines
    assert (
        "removed output/extra/notes.txt (not made by the build; put it in static/ to keep "
        "it)" in lines
    )
    # The pages of the topic that went were made by the build: counted, not named.
    assert not any("t/gone" in line for line in lines)
    assert counts(result.output)[2] == len(gone), result.output
    assert not (site.output / "CNAME").exists() and not (site.output / "t/gone").exists()


def test_clean_into_a_folder_never_built_into_names_what_it_removes(
    site: SiteFactory, tmp_path: Path
) -> None:
    site.topic("hello")
    elsewhere = tmp_path / "pages-checkout"
    elsewhere.mkdir()
    (elsewhere / "CNAME").write_text("x\n")
    result = site.cli("build", "--jobs", "1", "--output", str(elsewhere))
    assert result.exit_code == 0, result.output
    assert (
        f"removed {elsewhere}/CNAME (not made by the build; put it in static/ to keep "
        "it)" in result.output.splitlines()
    )
    assert counts(result.output)[2] == 1


def test_a_static_file_in_place_of_a_page_or_asset_stops_the_build(site: SiteFactory) -> None:
    site.topic("hello", redirect_from=["/old/1"])
    site.reply("hello", "r1", author="Bob")
    site.build()
    before = snapshot(site.output)
    site.write("static/robots.txt", "User-agent: *\n")
    clashing = {
        "index.html": "output/index.html",
        "feed.xml": "output/feed.xml",
        "static/style.css": "output/static/style.css",
        "t/hello/page/2/index.html": "output/t/hello/",
        "u/bob/index.html": "output/u/bob/index.html",
        # Bob has no archive yet: he has one the day he writes more than his page lists.
        "u/bob/archive/2024/01/index.html": "output/u/bob/archive/",
        "old/1/index.html": "output/old/1/index.html",
        "search/i/0.json": "output/search/",
        "sitemap-topics-1.xml": "output/sitemap-topics-1.xml",
        "c": "output/c/",
        "favicon.ico": "output/favicon.ico",
    }
    for name in clashing:
        site.write(f"static/{name}", "mine")
    result = site.cli("build")
    assert result.exit_code == 1
    for name, taken in clashing.items():
        assert f"static/{name}:1: {taken} is made by the build" in result.output, name
    assert "static/robots.txt:1: output/robots.txt is made by the build" in result.output
    assert "put it in themes/default/static/style.css instead" in result.output
    assert "put it in themes/default/static/favicon.ico instead" in result.output
    assert "override the template in themes/default/templates/robots.txt" in result.output
    assert snapshot(site.output) == before

    # --keep-going builds the rest, leaving the clashing files out.
    for name in clashing:
        (site.root / "static" / name).unlink()
    site.write("static/ok.txt", "fine")
    result = site.cli("build", "--keep-going")
    assert result.exit_code == 1
    assert "static/robots.txt:1:" in result.output
    assert (site.output / "ok.txt").read_text() == "fine"
    assert b"mine" not in (site.output / "robots.txt").read_bytes()
    assert (site.output / "robots.txt").read_bytes() == before["robots.txt"][0]


def test_serve_rebuilds_when_a_static_file_changes(site: SiteFactory) -> None:
    site.topic("hello")
    site.write("static/CNAME", "one\n")
    rebuilt = threading.Event()
    stop = serve.watch(site.root, lambda changed: rebuilt.set(), debounce=0.05)
    try:
        site.write("static/CNAME", "two\n")
        assert rebuilt.wait(30)
    finally:
        stop()
