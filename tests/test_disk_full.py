"""A real full disk: the site on a 6 MB tmpfs filled to the last byte. The intake refuses
posts with 503 and loses none it accepted; `forumgen build` says so in one line and
leaves output/ whole; once space is freed both carry on."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import SiteFactory, snapshot
from servers import gunicorn


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)],
            capture_output=True,
            text=True,
        )
        if os.geteuid() == 0
        else None
    )
    if mounted is None or mounted.returncode:
        pytest.skip(
            "a full disk is simulated on a small tmpfs, which needs root and the "
            f"right to mount ({mounted.stderr.strip() if mounted else 'not root'})"
        )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """Take every free byte of `disk` but `leave`; returns the file to delete to free
    them."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (65536, 1):  # then the last few bytes
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
        os.ftruncate(fd, os.fstat(fd).st_size - leave)
    finally:
        os.close(fd)
    return filler


def partial_files(site: Path) -> list[Path]:
    return [
        p
        for folder in ("content", "pending")
        for p in (site / folder).rglob("*")
        if p.name.startswith(".")
        or p.name.endswith(".tmp")
        or (p.is_dir() and not any(p.iterdir()))
    ]


def test_full_disk_refuses_posts_and_loses_none(small_disk: Path) -> None:
    site = SiteFactory(small_disk / "site")
    site.save_config(intake={"moderation": "publish", "rate_limit": "1000/second"})
    site.topic("hello", replies=3)
    assert site.build().exit_code == 0
    with gunicorn(site.root, workers=2) as server:
        before = server.post(
            "/topics/hello/replies", {"author": "Ann", "body": "Before."}, json_api=True
        )
        assert before.status == 201
        filler = fill(small_disk)
        refused = [
            server.post(
                "/topics/hello/replies", {"author": "Bob", "body": f"Full {n}."}, json_api=True
            )
            for n in range(5)
        ]
        refused.append(
            server.post(
                "/topics",
                {
                    "author": "Bob",
                    "body": "A new topic.",
                    "title": "On a full disk",
                    "category": "general",
                },
                json_api=True,
            )
        )
        refused.append(server.post("/topics/hello/replies", {"author": "Cy", "body": "Form."}))
        assert [r.status for r in refused] == [503] * 7, [r.body[:200] for r in refused]
        assert all(r.headers.get("retry-after") for r in refused)
        assert "No space left on device" in refused[0].json()["error"]
        assert b"could not store your post" in refused[-1].body  # an HTML page for browsers
        assert partial_files(site.root) == []
        assert not (site.root / "content/topics/on-a-full-disk").exists()
        filler.unlink()
        after = server.post(
            "/topics/hello/replies", {"author": "Bob", "body": "Full 0."}, json_api=True
        )
        assert after.status == 201  # the same post, accepted once there is room
    posts = {p.stem for p in (site.root / "content/topics/hello").glob("*.md")}
    for answer in (before, after):
        assert answer.json()["id"].split("/")[1] in posts
    assert len(posts) == 1 + 3 + 2


@pytest.mark.parametrize("room", [200_000, 900_000])  # the cache fills it; the pages do
def test_full_disk_stops_a_build_in_one_line_and_the_next_finishes(
    small_disk: Path, room: int
) -> None:
    site = SiteFactory(small_disk / "site")
    site.topic("hello", replies=3)
    assert site.build().exit_code == 0
    for n in range(60):
        site.topic(f"more-{n}", body="Words. " * 400)
    kept = snapshot(site.output)
    filler = fill(small_disk, leave=room)
    build = [sys.executable, "-m", "forumgen", "build", "--site", str(site.root)]
    failed = subprocess.run(build, capture_output=True, text=True)
    assert failed.returncode == 1, failed.stdout
    assert failed.stderr.startswith("cannot build: ")
    assert re.search(r"No space left on device|disk I/O error|disk is full", failed.stderr)
    assert "Traceback" not in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
    # Every page is the old one or a whole new one; nothing partial was left.
    for name, (data, _) in snapshot(site.output).items():
        if name in kept and kept[name][0] != data:
            assert data.endswith(b"</html>\n") or not name.endswith(".html"), name
    assert not [p for p in site.output.rglob("*") if p.name.endswith(".tmp")]
    filler.unlink()
    finished = subprocess.run(build, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert (site.output / "t/more-59/index.html").is_file()
