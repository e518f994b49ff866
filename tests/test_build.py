"""Incremental, deterministic builds: unchanged files keep their bytes and mtime, stale
pages go, --clean starts over, parallel equals serial."""

from __future__ import annotations

import itertools
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
import lxml.html
import pytest
import yaml

from benchmarks.corpus import generate
from conftest import (
    SiteFactory,
    clean_build_of_a_copy,
    files_of,
    html_files,
    internal_links,
    snapshot,
)
from forumgen import theme
from forumgen.build import load
from forumgen.config import builtin_themes
from forumgen.loader import prefetch

BUILD = [sys.executable, "-m", "forumgen", "build", "--jobs", "1", "--site"]


def test_second_build_rewrites_nothing(site: SiteFactory) -> None:
    site.topic("hello", replies=3)
    first = site.build()
    assert " 0 unchanged, 0 removed" in first.output
    before = snapshot(site.output)
    second = site.build()
    assert ": 0 written," in second.output
    assert snapshot(site.output) == before


def test_one_new_reply_rewrites_only_affected_files(site: SiteFactory) -> None:
    site.topic("hello", replies=3)
    site.topic("other", date="2023-01-01T00:00:00Z")
    site.build()
    before = snapshot(site.output)
    site.reply("hello", "new-one", date="2024-06-01T00:00:00Z", author="Ann Smith")
    site.build()
    after = snapshot(site.output)
    changed = {k for k in after if before.get(k) != after[k]}
    assert "t/hello/index.html" in changed and "t/hello/feed.xml" in changed
    assert "t/other/index.html" not in changed
    assert "t/other/feed.xml" not in changed
    assert all(after[k][1] == before[k][1] for k in after.keys() - changed)


def test_removed_topic_pages_are_deleted_and_dotfiles_kept(site: SiteFactory) -> None:
    site.topic("hello")
    site.topic("gone", tags=["only-here"])
    site.build()
    (site.output / ".git").mkdir()
    (site.output / ".git" / "HEAD").write_text("ref: refs/heads/gh-pages\n")
    (site.output / ".nojekyll").write_text("")
    shutil.rmtree(site.root / "content/topics/gone")
    result = site.build()
    assert not (site.output / "t/gone").exists()
    assert not (site.output / "tag/only-here").exists()
    assert (site.output / ".git/HEAD").is_file() and (site.output / ".nojekyll").is_file()
    assert "removed" in result.output and " 0 removed" not in result.output


def test_a_category_dropped_from_categories_yaml_stops_the_topics_still_in_it(
    site: SiteFactory, tmp_path: Path
) -> None:
    """When only categories.yaml changed, no topic is read again: the topics the last
    build read are checked against it all the same, by the category it kept of each."""
    site.topic("kept", category="general")
    site.topic("stranded", category="help", tags=["Ops"])
    site.topic("also-stranded", category="help", replies=2)
    site.build()
    before = snapshot(site.output)
    site.write("content/categories.yaml", yaml.safe_dump(site.categories[:1]))

    failed = site.cli("build", "--jobs", "1")
    assert failed.exit_code == 1 and "nothing was written" in failed.output, failed.output
    for slug in ("stranded", "also-stranded"):
        assert f"content/topics/{slug}/topic.md:5: unknown category 'help'" in failed.output
    assert "topics/kept/" not in failed.output
    assert snapshot(site.output) == before

    left = site.cli("build", "--jobs", "1", "--keep-going")
    assert left.exit_code == 1 and "left out, the rest was built" in left.output, left.output
    assert (site.output / "t/kept/index.html").exists()
    assert not (site.output / "t/stranded").exists()
    assert not (site.output / "tag/ops").exists()

    site.write("content/categories.yaml", yaml.safe_dump(site.categories))
    site.build()  # what was left out is read again
    assert (site.output / "t/stranded/index.html").exists()
    assert files_of(site.output) == clean_build_of_a_copy(site, tmp_path / "copy")


def test_clean_rewrites_everything(site: SiteFactory) -> None:
    site.topic("hello")
    site.build()
    stray = site.output / "t/hello/stray.txt"
    stray.write_text("x")
    result = site.build("--clean")
    assert " 0 unchanged" in result.output
    assert not stray.exists()


def test_builds_are_byte_identical_and_parallel_equals_serial(
    site: SiteFactory, tmp_path: Path
) -> None:
    for n in range(12):
        site.topic(
            f"topic-{n}",
            date=f"2024-01-{n + 1:02d}T00:00:00Z",
            replies=n,
            tags=[f"t{n % 3}"],
            body=f"```python\nx = {n}\n```\n\n> quote {n}",
        )
    one, two = tmp_path / "one", tmp_path / "two"
    assert site.cli("build", "--jobs", "1", "--output", str(one)).exit_code == 0
    assert site.cli("build", "--jobs", "2", "--output", str(two)).exit_code == 0
    files_one = {k: v[0] for k, v in snapshot(one).items()}
    files_two = {k: v[0] for k, v in snapshot(two).items()}
    assert files_one == files_two
    assert len(files_one) > 40


def test_build_killed_midway_is_repaired_by_the_next(tmp_path: Path) -> None:
    generate(tmp_path / "site", 120, seed=3)
    site = tmp_path / "site"
    assert subprocess.run(BUILD + [str(site)], capture_output=True).returncode == 0
    for topic in list((site / "content/topics").iterdir())[:40]:  # change many pages
        post = topic / "topic.md"
        post.write_text(post.read_text() + "\nEdited.\n")
    build = subprocess.Popen(BUILD + [str(site)], start_new_session=True)
    scratch = site / ".forumgen/output-tmp"  # where page files are written before renaming
    deadline = time.monotonic() + 60
    while (
        build.poll() is None
        and time.monotonic() < deadline
        and not (scratch.is_dir() and any(scratch.iterdir()))
    ):
        time.sleep(0.001)  # killed once it writes pages, however long it took to get there
    kill_group(build)
    assert subprocess.run(BUILD + [str(site)], capture_output=True).returncode == 0
    assert not [p for p in (site / "output").rglob("*") if p.name.endswith(".tmp")]
    fresh = tmp_path / "fresh"
    assert (
        subprocess.run(BUILD + [str(site), "--output", str(fresh)], capture_output=True).returncode
        == 0
    )
    assert {k: v[0] for k, v in snapshot(site / "output").items()} == {
        k: v[0] for k, v in snapshot(fresh).items()
    }


def test_refuses_to_build_into_the_site_itself(site: SiteFactory) -> None:
    site.topic("hello")
    for target in (site.root, site.root / "content", site.root.parent):
        result = site.cli("build", "--output", str(target))
        assert result.exit_code == 1
        assert "refusing to build into" in result.output
    assert (site.root / "content/topics/hello/topic.md").is_file()


def test_site_theme_overrides_one_template(site: SiteFactory) -> None:
    site.topic("hello")
    site.write(
        "themes/default/templates/404.html",
        "{% extends 'base.html' %}{% block main %}<h1>Lost?</h1>{% endblock %}",
    )
    site.write("themes/default/static/extra.css", "body{}")
    site.build()
    assert "<h1>Lost?</h1>" in (site.output / "404.html").read_text()
    assert 'class="skip-link"' in (site.output / "404.html").read_text()  # base.html kept
    assert (site.output / "static/extra.css").is_file()
    assert (site.output / "static/pygments.css").is_file()


def test_theme_template_change_rebuilds_pages(site: SiteFactory) -> None:
    site.topic("hello")
    site.build()
    mtime = os.stat(site.output / "index.html").st_mtime_ns
    site.write(
        "themes/default/templates/list.html",
        "{% extends 'base.html' %}{% block main %}custom list{% endblock %}",
    )
    site.build()
    assert "custom list" in (site.output / "index.html").read_text()
    assert os.stat(site.output / "index.html").st_mtime_ns != mtime


def test_broken_theme_override_fails_with_location_and_output_untouched(site: SiteFactory) -> None:
    site.topic("hello")
    site.build()
    before = snapshot(site.output)
    site.write(
        "themes/default/templates/topic.html",
        "{% extends 'base.html' %}\n{% block main %}\n{{ topic.title }\n{% endblock %}",
    )
    result = site.cli("build")
    assert result.exit_code == 1
    assert "themes/default/templates/topic.html:3: template error" in result.output
    site.write(
        "themes/default/templates/topic.html",
        "{% extends 'base.html' %}\n{% block main %}\n{{ no_such_thing.x }}\n{% endblock %}",
    )
    result = site.cli("build")
    assert result.exit_code == 1
    assert "topic.html:3: template error while rendering /t/hello/" in result.output
    assert "'no_such_thing' is undefined" in result.output
    assert snapshot(site.output) == before


def test_a_corrupt_cache_is_thrown_away_and_a_busy_one_waited_for(site: SiteFactory) -> None:
    site.topic("hello", replies=3)
    site.build()
    before = snapshot(site.output)
    cache = site.root / ".forumgen/cache.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(f"{cache}{suffix}").unlink(missing_ok=True)
    cache.write_bytes(b"not a database" * 100)
    assert rendered(site.build().output) > 0  # everything again, from a new cache
    assert snapshot(site.output) == before
    # Another connection writing (as a build's workers do) makes the build wait, and
    # what the cache holds survives: the next build renders nothing.
    holder = sqlite3.connect(cache, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    timer = threading.Timer(1.0, holder.execute, ["COMMIT"])
    timer.start()
    output = site.build().output
    timer.join()
    holder.close()
    assert rendered(output) == 0, output


def rendered(summary: str) -> int:
    match = re.search(r"; (\d+) pages rendered in", summary)
    assert match, summary
    return int(match.group(1))


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process started in a new session and its children; return once every
    one of them is gone (a killed build's workers must not write after it)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it finished first: the files must then all be whole all the more
    process.wait()
    deadline = time.monotonic() + 60
    while running_in_group(process.pid):
        assert time.monotonic() < deadline, f"processes of group {process.pid} outlived SIGKILL"
        time.sleep(0.01)


def running_in_group(group: int) -> bool:
    """Whether a process of the process group is still running (zombies do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _parent, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if int(pgrp) == group and state != "Z":
            return True
    return False


def test_builds_killed_at_random_moments_leave_only_whole_files(tmp_path: Path) -> None:
    """SIGKILL to the build and its workers at random moments while a theme change
    rewrites every page: each file is always the old or the new version, whole."""
    site = tmp_path / "site"
    generate(site, 150, seed=8)
    assert subprocess.run(BUILD + [str(site)], capture_output=True).returncode == 0
    old = {k: v[0] for k, v in snapshot(site / "output").items()}
    copy = tmp_path / "copy"  # with its cache: its build is the one about to be killed
    shutil.copytree(site, copy)
    for root in (site, copy):
        template = root / "themes/default/templates/base.html"
        template.parent.mkdir(parents=True)
        template.write_text(
            (builtin_themes() / "default/templates/base.html")
            .read_text()
            .replace("</footer>", "<p>new</p></footer>")
        )
    started = time.monotonic()
    assert subprocess.run(BUILD + [str(copy), "--jobs", "2"], capture_output=True).returncode == 0
    took = time.monotonic() - started
    new = {k: v[0] for k, v in snapshot(copy / "output").items()}
    rewritten = sum(new.get(f) != old.get(f) for f in new)
    pristine = tmp_path / "pristine"  # to start again from once a build got through
    shutil.copytree(site, pristine)
    mixed = 0  # kills that caught the build with some pages rewritten and some not
    scratch = site / ".forumgen/output-tmp"  # where page files are written before renaming
    # Six kills, and more (a bounded number) until one has caught the build midway: on a
    # busy machine a kill at a random moment may come before the first page is renamed.
    for n in itertools.count():
        if n >= 6 and mixed or n == 60:
            break
        build = subprocess.Popen(
            BUILD + [str(site), "--jobs", "2"],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while (
            build.poll() is None
            and time.monotonic() < deadline
            and not (scratch.is_dir() and any(scratch.iterdir()))
        ):
            time.sleep(0.001)  # until pages are being written
        time.sleep(random.Random(n).uniform(0, took / 4))
        kill_group(build)
        now = {k: v[0] for k, v in snapshot(site / "output").items()}
        torn = [f for f, data in now.items() if data not in (old.get(f), new.get(f))]
        assert torn == [], (n, torn[:5])
        assert not [p for p in (site / "output").rglob("*") if ".tmp" in p.name]
        mixed += 0 < sum(now.get(f) == data != old.get(f) for f, data in new.items()) < rewritten
        if now == new:  # the build got through before the kill: nothing left to catch
            shutil.rmtree(site)
            shutil.copytree(pristine, site)
    assert mixed
    assert subprocess.run(BUILD + [str(site)], capture_output=True).returncode == 0
    assert {k: v[0] for k, v in snapshot(site / "output").items()} == new


@pytest.mark.parametrize("how", ["flag", "config"])
def test_a_new_address_leaves_no_link_to_the_old_one(
    site: SiteFactory, tmp_path: Path, how: str
) -> None:
    """Templates are compiled once and kept in .forumgen/: what they hold must not depend
    on the address of the build that compiled them."""
    site.topic("hello", replies=3, tags=["first"])
    site.topic("other", category="help")
    site.build()
    new = "https://example.org/archive/"
    args: tuple[str, ...] = ("--base-url", new) if how == "flag" else ()
    if how == "config":
        site.save_config(base_url=new)
    site.build(*args)
    assert files_of(site.output) == clean_build_of_a_copy(site, tmp_path / "fresh", *args)
    links = list(internal_links(site.output, "/archive/"))
    assert len(links) > 100
    outside = [(page.name, link) for page, link in links if not link.startswith("/archive/")]
    assert outside == []
    for page in html_files(site.output):
        doc = lxml.html.fromstring(page.read_bytes())
        for form in doc.iter("form"):
            assert form.get("action", "").startswith("/archive/"), (page, form.get("action"))
        for _element, _attr, link, _pos in doc.iterlinks():
            if urlsplit(link).scheme:
                assert not link.startswith("http://forum.test"), (page, link)


def test_a_new_language_and_time_zone_leave_no_old_text(site: SiteFactory, tmp_path: Path) -> None:
    site.topic("hello", replies=2, date="2024-01-01T23:30:00Z")
    site.build()
    site.save_config(language="zh-CN", timezone="Asia/Shanghai")
    site.build()
    after = files_of(site.output)
    assert after == clean_build_of_a_copy(site, tmp_path / "fresh")
    page = after["t/hello/index.html"].decode()
    assert "2024年1月2日 07:30" in page and 'lang="zh-CN"' in page


def test_templates_compiled_with_an_address_folded_in_are_never_used(site: SiteFactory) -> None:
    """What an older forumgen left in .forumgen/: templates compiled with the filters of
    the time, which Jinja2 ran at compile time on constant paths."""
    site.topic("hello")
    site.build()
    compiled = site.root / ".forumgen/templates"
    shutil.rmtree(compiled)
    compiled.mkdir()
    folded = theme.environment(load(site.root)[0])
    folded.bytecode_cache = jinja2.FileSystemBytecodeCache(str(compiled))
    folded.filters["url"] = lambda path: f"/stale/{path}"
    for name in folded.list_templates():
        folded.get_template(name)
    site.build("--clean")
    stale = [name for name, data in files_of(site.output).items() if b"/stale/" in data]
    assert stale == []


def _resident(path: Path) -> int:
    """Bytes of the file in the page cache (util-linux's fincore)."""
    found = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(found.stdout.strip())


def test_the_post_files_of_folders_read_whole_are_fetched_from_disk_in_one_go(
    tmp_path: Path,
) -> None:
    """A cold build waited on the disk once per post file (11 s of reading at the
    benchmarks' M size on a virtual disk, 1.1 s when the kernel is told of them all
    first): `prefetch` starts the kernel reading every post file of the folders given,
    skips what is not a post file, and takes folders that vanished in stride."""
    if not hasattr(os, "posix_fadvise") or shutil.which("fincore") is None:
        pytest.skip("needs posix_fadvise and util-linux's fincore (Linux)")
    folder = tmp_path / "topic"
    folder.mkdir()
    files = [folder / f"{n:03}.md" for n in range(12)] + [folder / "notes.txt"]
    for path in files:
        with path.open("wb") as f:
            f.write(os.urandom(64 * 1024))
            f.flush()
            os.fsync(f.fileno())  # clean pages: the advice below can drop them
        descriptor = os.open(path, os.O_RDONLY)
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(descriptor)
    if any(_resident(path) for path in files):
        pytest.skip("this file system keeps every file in memory (tmpfs): nothing to fetch")
    prefetch([str(tmp_path / "gone"), str(folder)])
    posts = files[:-1]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(_resident(p) == 64 * 1024 for p in posts):
        time.sleep(0.05)
    assert [_resident(p) for p in posts] == [64 * 1024] * len(posts)
    assert _resident(files[-1]) == 0
