"""Incremental builds stay exact: after each kind of change, the output equals a clean
build of the same content in a fresh copy, and only the affected files were written."""

from __future__ import annotations

import multiprocessing
import re
import shutil
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from forums import set_config

import forumgen.build
import forumgen.pages
from benchmarks.corpus import generate
from conftest import SiteFactory, files_of, snapshot
from forumgen.authors import PAGES_SHOWN
from forumgen.cli import main
from forumgen.output import clock_of, folder_mtimes, vouched
from forumgen.owner import Kind, Owner


def build(site: Path, *extra: str) -> str:
    result = CliRunner().invoke(main, ["build", "--site", str(site), "--jobs", "1", *extra])
    assert result.exit_code == 0, result.output
    return result.output


def clean_copy_output(site: Path, where: Path) -> dict[str, bytes]:
    copy_content(site, where)
    build(where)
    return files_of(where / "output")


def copy_content(site: Path, where: Path) -> None:
    """The site as written, without what its builds made."""
    shutil.copytree(site, where, ignore=shutil.ignore_patterns("output", ".forumgen"))


class CleanBuilds:
    """Clean builds of copies of a forum, to compare with its incremental output: each in
    a process forked from the test (it sees what the test monkeypatched), two at a time,
    beside the test's own builds."""

    RUNNING = 2

    def __init__(self) -> None:
        self.running: list[tuple[str, dict[str, bytes], Path, BaseProcess]] = []

    def start(self, name: str, site: Path, where: Path, output: dict[str, bytes]) -> None:
        """Build a copy of `site` in `where`; its output must equal `output`."""
        copy_content(site, where)
        process = multiprocessing.get_context("fork").Process(target=build, args=(where,))
        process.start()
        self.running.append((name, output, where, process))
        if len(self.running) >= self.RUNNING:
            self.check_one()

    def check_one(self) -> None:
        name, output, where, process = self.running.pop(0)
        process.join()
        assert process.exitcode == 0, f"{name}: the clean build failed (its output is above)"
        assert output == files_of(where / "output"), name

    def check_all(self) -> None:
        while self.running:
            self.check_one()


def topic_dirs(site: Path) -> list[Path]:
    return sorted((site / "content/topics").iterdir())


def edit(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")


def new_reply(site: Path) -> None:
    folder = topic_dirs(site)[5]
    (folder / "29990101T000000Z-abcdef.md").write_text(
        "---\nauthor: Late Larry\ndate: 2999-01-01T00:00:00Z\nreply_to: topic\n---\nLate.\n"
    )


def edit_post(site: Path) -> None:
    post = next(p for p in topic_dirs(site)[7].glob("*.md") if p.name != "topic.md")
    post.write_text(post.read_text() + "\nAn edit with **bold**.\n")


def delete_reply(site: Path) -> None:
    folder = max(topic_dirs(site), key=lambda d: len(list(d.iterdir())))
    replies = sorted(p for p in folder.glob("*.md") if p.name != "topic.md")
    referenced = {
        line.split(":", 1)[1].strip()
        for p in replies
        for line in p.read_text().splitlines()
        if line.startswith("reply_to:")
    }
    victim = next(p for p in replies if p.stem not in referenced)
    victim.unlink()


def hide_post(site: Path) -> None:
    post = next(p for p in topic_dirs(site)[9].glob("*.md") if p.name != "topic.md")
    edit(post, "---\n", "---\nhidden: true\n")


def new_topic(site: Path) -> None:
    folder = site / "content/topics/brand-new"
    folder.mkdir()
    (folder / "topic.md").write_text(
        "---\ntitle: Brand new\nauthor: Newcomer\n"
        "date: 2999-02-01T00:00:00Z\ncategory: flask\n"
        "tags: [fresh]\npinned: true\n---\nHello.\n"
    )


def drop_the_last_topic_of_a_tag(site: Path) -> None:
    """The topic of `new_topic` is the only one tagged `fresh`: the tag goes, its page,
    its feed and its line in the index of tags with it."""
    edit(site / "content/topics/brand-new/topic.md", "tags: [fresh]\n", "")


def reply_by_a_member(site: Path) -> None:
    """A reply by someone who wrote before: only their count changes in the indexes."""
    folder = topic_dirs(site)[6]
    (folder / "29990103T000000Z-abcdef.md").write_text(
        "---\nauthor: Member 3\ndate: 2999-01-03T00:00:00Z\n---\nAgain.\n"
    )


def move_category(site: Path) -> None:
    topic = topic_dirs(site)[3] / "topic.md"
    text = topic.read_text()
    category = next(line for line in text.splitlines() if line.startswith("category:"))
    topic.write_text(text.replace(category, "category: deploy"))


def retitle_and_pin(site: Path) -> None:
    """Listings, feeds and every author page that names the topic show its title."""
    topic = topic_dirs(site)[2] / "topic.md"
    text = topic.read_text()
    title = next(line for line in text.splitlines() if line.startswith("title:"))
    text = re.sub(r"^tags:.*\n(?:- .*\n)*", "", text, count=1, flags=re.M)
    topic.write_text(text.replace(title, "title: A new title\npinned: true\ntags: [retagged]"))


def last_post_of_an_author(site: Path) -> None:
    """Late Larry wrote only the reply of `new_reply`: deleting it removes his page."""
    next((site / "content/topics").glob("*/29990101T000000Z-abcdef.md")).unlink()


def delete_topic(site: Path) -> None:
    shutil.rmtree(topic_dirs(site)[11])


def add_redirects(site: Path) -> None:
    """Old URLs on a topic and on a reply: redirect pages and the redirect maps change."""
    folder = topic_dirs(site)[4]
    edit(folder / "topic.md", "---\n", "---\nredirect_from: [/t/old-4/4]\n")
    reply = sorted(p for p in folder.glob("*.md") if p.name != "topic.md")[-1]
    edit(reply, "---\n", "---\nredirect_from: [/t/old-4/4/9]\n")


def rename_category(site: Path) -> None:
    edit(site / "content/categories.yaml", "name: Servers", "name: WSGI servers")


def author_profile(site: Path) -> None:
    (site / "content/authors.yaml").write_text("Member 3:\n  bio: Keeps the lights on.\n")


PROLIFIC = "u/prolific-pat/"
"""The page of a member who writes more replies than their page lists."""


def cap(site: Path) -> int:
    """How many replies an author's page lists: `topics_per_page` times `PAGES_SHOWN`."""
    per_page = yaml.safe_load((site / "forumgen.yaml").read_text()).get("topics_per_page", 30)
    return int(per_page) * PAGES_SHOWN


def replies_by_pat(site: Path, first: int, count: int, since: datetime) -> None:
    """Replies `first`... by Prolific Pat, one an hour from `since` (all in its month),
    spread over ten topics."""
    for n in range(first, first + count):
        when = since + timedelta(hours=n - first)
        folder = topic_dirs(site)[20 + n % 10]
        (folder / f"{when:%Y%m%dT%H%M%S}Z-pat{n:03d}.md").write_text(
            f"---\nauthor: Prolific Pat\ndate: {when:%Y-%m-%dT%H:%M:%S}Z\n---\nReply {n}.\n"
        )


def replies_up_to_the_cap(site: Path) -> None:
    """As many replies as an author's page lists, in November: no archive yet."""
    replies_by_pat(site, 0, cap(site), datetime(2998, 11, 1))


def author_crosses_the_cap(site: Path) -> None:
    """One reply more: the page lists the newest ones and links to the archive."""
    replies_by_pat(site, cap(site), 1, datetime(2998, 12, 1))


def reply_by_an_author_over_the_cap(site: Path) -> None:
    """Their page, their archive's index and the end of December change."""
    replies_by_pat(site, cap(site) + 1, 1, datetime(2998, 12, 2))


def author_back_within_the_cap(site: Path) -> None:
    """Two of their replies go: the archive goes."""
    for path in sorted((site / "content/topics").glob("*/*-pat*.md"))[:2]:
        path.unlink()


def change_title(site: Path) -> None:
    """Every thread is laid out again, while a topic goes away in the same build."""
    shutil.rmtree(topic_dirs(site)[1])
    set_config(site, title="Renamed forum", posts_per_page=7)


def override_template(site: Path) -> None:
    from forumgen.config import builtin_themes

    source = (builtin_themes() / "default/templates/base.html").read_text()
    target = site / "themes/default/templates/base.html"
    target.parent.mkdir(parents=True)
    target.write_text(source.replace("</footer>", "<p>custom</p></footer>"))


def lost_rendered_markdown(site: Path) -> None:
    """The cache keeps no post bodies: without cached HTML, bodies are read again."""
    with sqlite3.connect(site / ".forumgen/cache.sqlite") as conn:
        conn.execute("DELETE FROM html")
    edit(site / "themes/default/templates/base.html", "<p>custom</p>", "<p>custom 2</p>")


CHANGES: list[Callable[[Path], None]] = [
    new_reply,
    reply_by_a_member,
    edit_post,
    delete_reply,
    hide_post,
    new_topic,
    drop_the_last_topic_of_a_tag,
    move_category,
    retitle_and_pin,
    last_post_of_an_author,
    delete_topic,
    add_redirects,
    rename_category,
    author_profile,
    replies_up_to_the_cap,
    author_crosses_the_cap,
    reply_by_an_author_over_the_cap,
    author_back_within_the_cap,
    change_title,
    override_template,
    lost_rendered_markdown,
]


def more_listing_pages(site: Path) -> None:
    """Pages that led to the archive become listing pages again, and the reverse."""
    set_config(site, listing_pages=3, topics_per_page=3)


def new_old_topic(site: Path) -> None:
    """A topic started long ago (an import): it joins an old month of the archive."""
    folder = site / "content/topics/imported"
    folder.mkdir()
    (folder / "topic.md").write_text(
        "---\ntitle: Imported\nauthor: Archivist\ndate: 2015-03-02T00:00:00Z\n"
        "category: flask\ntags: [gunicorn, nginx]\n---\nFrom an old list.\n"
    )


def opening_of_an_old_topic(site: Path) -> Path:
    return topic_dirs(site)[30] / "topic.md"


def retitle_old_topic(site: Path) -> None:
    """What an archive page shows of a topic, one thing at a time: its title..."""
    topic = opening_of_an_old_topic(site)
    text = re.sub(r"^title:.*\n(?:  .*\n)*", "title: Retitled\n", topic.read_text(), flags=re.M)
    topic.write_text(text)


def reauthor_old_topic(site: Path) -> None:
    """...the author of its opening post..."""
    topic = opening_of_an_old_topic(site)
    topic.write_text(re.sub(r"^author:.*$", "author: Someone Else", topic.read_text(), flags=re.M))


def redate_old_topic(site: Path) -> None:
    """...and when it started: a minute earlier, in a month of several topics where it
    stays the first and the month's newest start is another's."""
    started: dict[str, list[tuple[datetime, Path]]] = {}
    for folder in topic_dirs(site):  # the generated ones, whose dates are quoted
        found = re.search(r"^date: '(.*)'$", (folder / "topic.md").read_text(), flags=re.M)
        if found is None:
            continue
        when = datetime.fromisoformat(found.group(1))
        started.setdefault(f"{when:%Y-%m}", []).append((when, folder / "topic.md"))
    when, topic = next(min(month) for month in started.values() if len(month) > 1)
    earlier = when - timedelta(minutes=1)
    assert f"{earlier:%Y-%m}" == f"{when:%Y-%m}"
    edit(topic, when.isoformat(), earlier.isoformat())


@pytest.fixture(scope="module")
def forum(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("incremental") / "site"
    generate(site, 60, seed=11)
    build(site)
    return site


@pytest.fixture(scope="module")
def archived(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Listings of 2 pages of 2 topics: every category and most tags overflow into their
    archives, some months take more than one page."""
    site = tmp_path_factory.mktemp("archived") / "site"
    generate(site, 60, seed=11)
    set_config(site, topics_per_page=2, listing_pages=2)
    build(site)
    return site


def test_each_change_gives_a_clean_builds_output(forum: Path, tmp_path: Path) -> None:
    check_each_change(forum, tmp_path, CHANGES)


def test_each_change_gives_a_clean_builds_output_with_archives(
    archived: Path, tmp_path: Path
) -> None:
    assert len(list((archived / "output/c/flask/archive").iterdir())) > 3
    assert list((archived / "output/tag").glob("*/archive/index.html"))
    changes = [
        *CHANGES[:-3],
        new_old_topic,
        retitle_old_topic,
        reauthor_old_topic,
        redate_old_topic,
        more_listing_pages,
        *CHANGES[-3:],
    ]
    check_each_change(archived, tmp_path, changes)


@pytest.fixture(scope="module")
def told(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A forum whose every change is built with `--changed` and the files it touched."""
    site = tmp_path_factory.mktemp("told") / "site"
    generate(site, 60, seed=11)
    build(site)
    return site


def test_each_change_told_gives_a_clean_builds_output(told: Path, tmp_path: Path) -> None:
    check_each_change(told, tmp_path, CHANGES, told=True)


ARCHIVE_CHANGES = [
    new_reply,
    new_old_topic,
    move_category,
    retitle_old_topic,
    redate_old_topic,
    retitle_and_pin,
    delete_topic,
    last_post_of_an_author,
]
"""Changes that move topics into, out of and within listings and their archive months."""


def test_each_change_told_gives_a_clean_builds_output_with_archives(
    tmp_path: Path,
) -> None:
    """A build told what changed plans only the listings the changed topics were or are
    in, and only the archive months they were or are in: the rest is as a clean build
    makes it, the topic moved between categories and tags included."""
    site = tmp_path / "site"
    generate(site, 60, seed=11)
    set_config(site, topics_per_page=2, listing_pages=2)
    build(site)
    check_each_change(site, tmp_path, ARCHIVE_CHANGES, told=True)


def test_told_builds_keep_a_split_sitemap_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the sitemap split into parts, a build told what changed writes again only
    the parts listing pages that changed, from the build cache; a new topic that makes
    the topics' pages one part too many splits them again, and a deleted one joins
    them back."""
    site = tmp_path / "site"
    topics = generated_topic_pages(site)
    monkeypatch.setattr(forumgen.pages, "SITEMAP_PART", topics)
    build(site, "--clean")
    output = site / "output"
    assert (output / "sitemap-topics-1.xml").is_file()
    assert not (output / "sitemap-topics-2.xml").exists()
    check_each_change(site, tmp_path / "grown", [new_reply, new_topic], told=True)
    assert (output / "sitemap-topics-2.xml").is_file()
    check_each_change(site, tmp_path / "shrunk", [edit_post, delete_topic], told=True)
    assert not (output / "sitemap-topics-2.xml").exists()


def test_a_part_more_rewrites_two_parts_of_the_sitemap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the topics' pages outgrow their parts by one, a build told what changed
    splits one part in two: the other parts of topics keep their bytes, and the output
    is what a clean build makes."""
    site = tmp_path / "site"
    topics = generated_topic_pages(site)
    part = topics // 5
    monkeypatch.setattr(forumgen.pages, "SITEMAP_PART", part)
    parts = -(-topics // part)
    for number in range(part * parts - topics):  # as many topics as the parts can hold
        one_more_topic(site, f"more-{number}")
    build(site, "--clean")
    output = site / "output"
    before = {p.name: p.read_bytes() for p in output.glob("sitemap-topics-*.xml")}
    assert len(before) == parts >= 5

    def the_topic_past_the_parts(site: Path) -> None:
        one_more_topic(site, "one-too-many")

    check_each_change(site, tmp_path / "grown", [the_topic_past_the_parts], told=True)
    after = {p.name: p.read_bytes() for p in output.glob("sitemap-topics-*.xml")}
    assert len(after) == parts + 1
    changed = [name for name in after if before.get(name) != after[name]]
    # The part split, the new one, and the part listing the new topic's page.
    assert 2 <= len(changed) <= 3, changed


def generated_topic_pages(site: Path) -> int:
    """Generate and build a forum of 60 topics; returns how many topic pages its
    sitemap lists (what the sizes of sitemap parts are set from)."""
    generate(site, 60, seed=11)
    build(site)
    with sqlite3.connect(site / ".forumgen/cache.sqlite") as conn:
        (topics,) = conn.execute(
            "SELECT COUNT(*) FROM pages WHERE lastmod IS NOT NULL AND path LIKE 't/%'"
        ).fetchone()
    return int(topics)


def one_more_topic(site: Path, slug: str) -> None:
    folder = site / "content/topics" / slug
    folder.mkdir()
    (folder / "topic.md").write_text(
        f"---\ntitle: Topic {slug}\nauthor: Newcomer\n"
        "date: 2999-02-01T00:00:00Z\ncategory: flask\n---\nHello.\n"
    )


def test_a_plain_build_makes_again_the_files_deleted_by_hand(told: Path, tmp_path: Path) -> None:
    """A build told what changed reads the records of what it plans again, not of every
    file: a plain build looks at every file the last one wrote, and makes again those
    someone deleted."""
    build(told)
    output = told / "output"
    folder = topic_dirs(told)[20]
    deleted = [f"t/{folder.name}/index.html", "sitemap.xml", "feed.xml", "index.html"]
    for file in deleted:
        (output / file).unlink()
    files = inputs(told)
    edit_post(told)
    build(told, *[arg for path in touched(files, told) for arg in ("--changed", path)])
    summary = build(told)
    assert "removed" in summary
    after = {k: v[0] for k, v in snapshot(output).items()}
    assert after == clean_copy_output(told, tmp_path / "clean")


def recorded_folders(site: Path, *, vouched_for: bool) -> set[str]:
    """The output folders the build cache records with an mtime that vouches for their
    files, or (vouched_for=False) with none."""
    where = "mtime >= 0" if vouched_for else "mtime < 0"
    with sqlite3.connect(site / ".forumgen/cache.sqlite") as conn:
        rows = conn.execute(f"SELECT folder FROM output_folders WHERE {where}").fetchall()
    return {folder for (folder,) in rows}


def test_a_plain_build_finds_files_deleted_from_folders_it_vouches_for(
    told: Path, tmp_path: Path
) -> None:
    """A plain build looks at the files of an output folder only when the folder's mtime
    changed since the last build recorded it: a deletion changes it. Folders written too
    recently for their mtime to vouch for anything are looked at whatever it says."""
    build(told, "--clean")  # records the mtime of every folder it wrote in
    output = told / "output"
    trusted = recorded_folders(told, vouched_for=True)
    topics = sorted(f for f in trusted if f.startswith("t/") and f.count("/") == 1)
    assert len(topics) > len(topic_dirs(told)) // 2, trusted
    page = output / topics[0] / "index.html"
    page.unlink()
    build(told)
    assert page.is_file()
    folder = output / topics[1]
    shutil.rmtree(folder)
    build(told)
    assert (folder / "index.html").is_file()
    after = {k: v[0] for k, v in snapshot(output).items()}
    assert after == clean_copy_output(told, tmp_path / "clean")


def test_a_build_that_changes_nothing_vouches_for_the_folders_it_looked_at(
    told: Path, tmp_path: Path
) -> None:
    """A build told what changed vouches for none of the folders it wrote in, so the
    next plain build looks at each of their files. Finding them all, and nothing
    changed, it records their mtimes: the build after it looks at none of them, and
    still finds a file deleted from one since."""
    build(told)
    files = inputs(told)
    edit_post(told)
    build(told, *[arg for path in touched(files, told) for arg in ("--changed", path)])
    looked_at = recorded_folders(told, vouched_for=False)
    assert any(folder.startswith("t/") for folder in looked_at), looked_at
    assert " 0 written" in build(told)
    assert recorded_folders(told, vouched_for=False) == set()
    folder = sorted(f for f in looked_at if f.startswith("t/"))[0]
    page = told / "output" / folder / "index.html"
    page.unlink()
    assert " 1 written" in build(told)
    assert page.is_file()
    after = {k: v[0] for k, v in snapshot(told / "output").items()}
    assert after == clean_copy_output(told, tmp_path / "clean")


def test_a_folder_is_vouched_for_once_the_file_systems_clock_passed_its_mtime(
    tmp_path: Path,
) -> None:
    """The file system's own clock decides which folders' mtimes vouch for their files
    (as git's index does): a folder changed before the clock was read is vouched for,
    however recently; one as recent as the reading may change again unseen, and is not.
    The machine's clock is no judge of a file server's, nor of a file system's ticks."""
    before = tmp_path / "before"
    before.mkdir()
    clock = clock_of(tmp_path)
    assert clock is not None
    after = tmp_path / "after"
    after.mkdir()
    mtimes = folder_mtimes(tmp_path, ["before", "after", "gone"])
    assert mtimes["before"] is not None and mtimes["before"] <= clock
    assert mtimes["after"] is not None and mtimes["after"] >= clock
    assert vouched({"early": clock - 1, "tick": clock, "gone": None}, clock) == {
        "early": clock - 1,
        "tick": -1,
        "gone": None,
    }
    assert clock_of(tmp_path / "missing") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["after", "before"]


def inputs(site: Path) -> dict[str, tuple[int, int]]:
    """Every file of the site but what the build writes, with its mtime and size."""
    found = {}
    for path in site.rglob("*"):
        relative = path.relative_to(site)
        if path.is_file() and relative.parts[0] not in ("output", ".forumgen"):
            stat = path.stat()
            found[relative.as_posix()] = (stat.st_mtime_ns, stat.st_size)
    return found


def touched(before: dict[str, tuple[int, int]], site: Path) -> list[str]:
    """The files a change wrote, added or deleted, as a writer would name them."""
    after = inputs(site)
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def check_each_change(
    forum: Path, tmp_path: Path, changes: list[Callable[[Path], None]], told: bool = False
) -> None:
    cleans = CleanBuilds()
    for number, change in enumerate(changes):
        before = snapshot(forum / "output")
        files = inputs(forum)
        change(forum)
        jobs = ["--jobs", str(1 + number % 2)]  # serial and parallel alike
        if told:
            jobs += [arg for path in touched(files, forum) for arg in ("--changed", path)]
        summary = build(forum, *jobs)
        written = snapshot(forum / "output")
        after = {k: v[0] for k, v in written.items()}
        cleans.start(change.__name__, forum, tmp_path / f"clean-{number}", after)
        # Every file counts, those left alone without reading their records too.
        assert f"\n{len(after)} files in " in f"\n{summary}", (change.__name__, summary)
        if change is add_redirects:
            assert "/t/old-4/4/9 /t/" in after["_redirects"].decode(), after["_redirects"]
            assert "t/old-4/4/9/index.html" in after and "t/old-4/4/index.html" in after
        if change is last_post_of_an_author:
            assert "u/late-larry/index.html" in before and "u/late-larry/index.html" not in after
        rewritten = [k for k, v in written.items() if before.get(k) != v]
        if change in (new_reply, reply_by_a_member, edit_post):
            assert 0 < len(rewritten) < len(after) // 4, (change.__name__, rewritten)
            assert rendered(summary) < len(after) // 4, summary
            # No listing's archive (an author's shows their edited post).
            assert not [k for k in rewritten if "archive/" in k and k[:2] != "u/"], rewritten
        check_indexes(change, before, after, rewritten)
        check_prolific(change, before, after, rewritten)
    cleans.check_all()


def check_indexes(
    change: Callable[[Path], None],
    before: dict[str, tuple[bytes, int]],
    after: dict[str, bytes],
    rewritten: list[str],
) -> None:
    """What the changes do to the indexes of tags, categories and authors: a reply
    changes no topic count, and one author's post count (a new author's first post
    moves those after them by name)."""
    if change in (new_reply, reply_by_a_member, edit_post):
        assert not [k for k in rewritten if k.startswith(("tags/", "categories/"))], rewritten
    authors_index = [k for k in rewritten if k == "u/index.html" or k.startswith("u/page/")]
    if change is reply_by_a_member:
        assert len(authors_index) == 1, authors_index
    if change is edit_post:
        assert not authors_index, authors_index
    if change is new_reply:
        assert authors_index and b"Late Larry" in b"".join(after[k] for k in authors_index)
    if change is new_topic:
        assert b"/tag/fresh/" in tags_index(after) and "tag/fresh/feed.xml" in after
    if change is drop_the_last_topic_of_a_tag:
        assert b"/tag/fresh/" in tags_index({k: v[0] for k, v in before.items()})
        assert b"/tag/fresh/" not in tags_index(after)
        assert not [k for k in after if k.startswith("tag/fresh/")]


def tags_index(output: dict[str, bytes]) -> bytes:
    """Every page of the index of tags."""
    return b"".join(
        v for k, v in output.items() if k == "tags/index.html" or k[:10] == "tags/page/"
    )


def check_prolific(
    change: Callable[[Path], None],
    before: dict[str, tuple[bytes, int]],
    after: dict[str, bytes],
    rewritten: list[str],
) -> None:
    """What the changes by Prolific Pat do to their pages."""
    archive = f"{PROLIFIC}archive/index.html"
    if change is author_crosses_the_cap:
        assert archive not in before and archive in after
    if change is author_back_within_the_cap:
        assert archive in before and not [k for k in after if k.startswith(f"{PROLIFIC}archive")]
    if change is reply_by_an_author_over_the_cap:
        theirs = [k for k in rewritten if k.startswith(PROLIFIC)]
        assert theirs[-3:] == [archive, f"{PROLIFIC}feed.xml", f"{PROLIFIC}index.html"], theirs
        assert theirs[:-3] and all(k.startswith(f"{PROLIFIC}archive/2998/12/") for k in theirs[:-3])


def test_timings_name_each_phase_as_it_ran_the_topics_pages_before_the_sites(
    tmp_path: Path,
) -> None:
    """`build --timings` prints how long each phase took, in the order they ran, adding
    up to no more than the whole build: a build told of a reply renders the topic's pages
    (what the reply's writer waits for) before the site's, and a build that finds
    nothing changed stops after the scan. A build without it prints no phase."""
    site = tmp_path / "site"
    generate(site, 12, seed=5)
    build(site)
    files = inputs(site)
    new_reply(site)
    told = build(
        site, "--timings", *[a for path in touched(files, site) for a in ("--changed", path)]
    )
    phases = re.findall(r"^  (\S.*?) +(\d+\.\d{3}) s$", told, flags=re.M)
    assert [name for name, _ in phases] == [
        "scan",
        "read topics",
        "plan topics and authors",
        "prepare templates, static files and search",
        "render topics and authors",
        "plan site pages",
        "render site pages",
        "write the search index",
        "sitemaps",
        "assets, removals and the build cache",
    ], told
    found = re.search(r"rendered in (\d+\.\d\d) s$", told, flags=re.M)
    assert found is not None, told
    assert sum(float(seconds) for _, seconds in phases) <= float(found.group(1)) + 0.02
    unchanged = build(site, "--timings")
    names = re.findall(r"^  (\S.*?) +\d+\.\d{3} s$", unchanged, flags=re.M)
    assert names == ["scan", "check the output is up to date"], unchanged
    assert "  scan " not in build(site)


def test_topics_written_comes_after_the_topics_pages_and_before_the_listings(
    tmp_path: Path,
) -> None:
    """`build --topics-written FILE` makes FILE once the changed topic's pages are
    written, while the listings still show the forum from before (what the intake waits
    for before answering a browser); a build with nothing to write makes none."""
    site = tmp_path / "site"
    generate(site, 12, seed=5)
    build(site)
    front = (site / "output/index.html").read_bytes()
    seen: list[tuple[bool, bool]] = []

    def written() -> None:
        page = (site / "output/t" / topic_dirs(site)[5].name / "index.html").read_text()
        seen.append(("Late Larry" in page, (site / "output/index.html").read_bytes() == front))

    files = inputs(site)
    new_reply(site)
    forumgen.build.build(site, changed=touched(files, site), topics_written=written)
    assert seen == [(True, True)]
    assert (site / "output/index.html").read_bytes() != front
    signal = tmp_path / "signal"
    new_reply_elsewhere = topic_dirs(site)[7] / "29990102T000000Z-abcdef.md"
    new_reply_elsewhere.write_text("---\nauthor: Ann\ndate: 2999-01-02T00:00:00Z\n---\nHi.\n")
    build(site, "--changed", str(new_reply_elsewhere), "--topics-written", str(signal))
    assert signal.is_file()
    signal.unlink()
    build(site, "--topics-written", str(signal))
    assert not signal.exists()


def test_a_build_told_what_changed_scans_nothing_else(forum: Path, tmp_path: Path) -> None:
    """Only the named files' folders are scanned: a file changed without being named is
    seen by the next plain build, which makes the output a clean build makes."""
    build(forum)
    named, silent = topic_dirs(forum)[13] / "topic.md", topic_dirs(forum)[14] / "topic.md"
    edit(named, "---\n", "---\npinned: true\n")
    edit(silent, "---\n", "---\nlocked: true\n")
    build(forum, "--changed", str(named))
    output = forum / "output"
    pinned = f"t/{named.parent.name}/index.html"
    locked = f"t/{silent.parent.name}/index.html"
    clean = clean_copy_output(forum, tmp_path / "clean")
    assert (output / pinned).read_bytes() == clean[pinned]
    assert (output / locked).read_bytes() != clean[locked]
    build(forum)
    assert {k: v[0] for k, v in snapshot(output).items()} == clean


def test_a_build_told_of_a_reply_lays_out_every_topic_after_an_untold_layout_change(
    forum: Path, tmp_path: Path
) -> None:
    """Posts per page changed without the build being told (a hand edit while the
    intake runs): the build told of one reply still lays out every topic again, taking
    the folders it was not told of from the last scan."""
    build(forum)
    set_config(forum, posts_per_page=3)
    folder = topic_dirs(forum)[21]
    reply = folder / "29980101T000000Z-told.md"
    reply.write_text("---\nauthor: Told Reply\ndate: 2998-01-01T00:00:00Z\n---\nHello.\n")
    build(forum, "--changed", str(reply))
    after = {k: v[0] for k, v in snapshot(forum / "output").items()}
    assert after == clean_copy_output(forum, tmp_path / "clean")


def test_a_told_folder_named_like_another_but_for_case_is_refused(forum: Path) -> None:
    """A new topic folder told of whose name differs from an untold one's only in case
    is refused as a full scan refuses it, and nothing is written."""
    build(forum)
    before = snapshot(forum / "output")
    existing = topic_dirs(forum)[22]
    twin = existing.with_name(existing.name.upper())
    shutil.copytree(existing, twin)
    result = CliRunner().invoke(
        main, ["build", "--site", str(forum), "--changed", str(twin / "topic.md")]
    )
    assert result.exit_code == 1 and "differs only in case" in result.output, result.output
    assert snapshot(forum / "output") == before
    shutil.rmtree(twin)
    build(forum, "--changed", str(twin / "topic.md"))


@pytest.mark.parametrize("why", ["no cache", "another output", "left out"])
def test_a_build_told_what_changed_scans_all_without_a_scan_to_trust(
    forum: Path, tmp_path: Path, why: str
) -> None:
    """Without the last build's scan of this output, or when that build left something
    out, a build told what changed scans everything: it misses nothing."""
    build(forum)
    first = {"no cache": 15, "another output": 17, "left out": 19}[why]
    named, silent = (topic_dirs(forum)[n] / "topic.md" for n in (first, first + 1))
    if why == "left out":  # a reply: its topic is built, and cached, without it
        broken = sorted(silent.parent.glob("*.md"))[0]
        good = broken.read_text()
        broken.write_text(good.replace("date:", "date: [unclosed", 1))
        result = CliRunner().invoke(main, ["build", "--site", str(forum), "--keep-going"])
        assert result.exit_code == 1 and broken.name in result.output, result.output
        broken.write_text(good)
    elif why == "another output":
        build(forum, "--output", str(tmp_path / "elsewhere"))
    else:
        (forum / ".forumgen/cache.sqlite").unlink()
    edit(named, "---\n", "---\npinned: true\n")
    edit(silent, "---\n", "---\nlocked: true\n")
    build(forum, "--changed", str(named.relative_to(forum)))
    after = {k: v[0] for k, v in snapshot(forum / "output").items()}
    assert after == clean_copy_output(forum, tmp_path / "clean")


def test_unchanged_rebuild_renders_nothing(forum: Path) -> None:
    build(forum)
    output = build(forum)
    assert ": 0 written," in output and rendered(output) == 0


def rendered(summary: str) -> int:
    match = re.search(r"; (\d+) pages rendered in", summary)
    assert match, summary
    return int(match.group(1))


def test_a_build_stopped_by_a_problem_leaves_the_next_one_exact(
    forum: Path, tmp_path: Path
) -> None:
    """Topics read before the problem was found are staged, never cached: after the fix,
    the next build still sees them as changed."""
    new_reply(forum)
    broken = topic_dirs(forum)[20] / "topic.md"
    good = broken.read_text()
    broken.write_text(good.replace("title:", "title: [unclosed", 1))
    result = CliRunner().invoke(main, ["build", "--site", str(forum), "--jobs", "2"])
    assert result.exit_code == 1 and f"{broken.parent.name}/topic.md:" in result.output
    broken.write_text(good)
    build(forum, "--jobs", "2")
    after = {k: v[0] for k, v in snapshot(forum / "output").items()}
    assert after == clean_copy_output(forum, tmp_path / "clean")


def test_changing_the_markdown_engine_renders_every_post_again(
    site: SiteFactory, tmp_path: Path
) -> None:
    """Rendered Markdown is cached by the post's source: the engine and its extensions
    are part of what makes it stale."""
    site.topic(
        "dialects", body="~~struck~~ and a list:\n- [x] done\n\nTerm\n: definition\n", replies=3
    )
    site.reply("dialects", "r9999", body="[a link](https://example.org/a b)")
    engines = [
        {"engine": "python-markdown"},
        {"engine": "commonmark"},
        {"engine": "python-markdown", "extensions": ["def_list"]},
        {"engine": "python-markdown"},
    ]
    outputs = []
    for number, engine in enumerate(engines):
        site.save_config(markdown=engine)
        build(site.root)
        after = {k: v[0] for k, v in snapshot(site.output).items()}
        assert after == clean_copy_output(site.root, tmp_path / f"clean-{number}"), engine
        outputs.append(after["t/dialects/index.html"])
    assert len(set(outputs)) == 3 and outputs[0] == outputs[3]
    assert b"<del>struck</del>" in outputs[1] and b"<dt>Term</dt>" in outputs[2]


@pytest.mark.parametrize(
    ("text", "owner"),
    [
        ("", Owner(Kind.SITE)),
        ("t/hello", Owner(Kind.TOPIC, "hello")),
        ("u/ann-smith", Owner(Kind.AUTHOR, "ann-smith")),
        ("search:", Owner(Kind.SEARCH)),
        ("search:i", Owner(Kind.SEARCH_SHARDS)),
        ("search:t/hello", Owner(Kind.SEARCH_TOPIC, "hello")),
        ("search:q/t/x", Owner(Kind.SEARCH_TERM, "t/x")),
        ("search:x/mar", Owner(Kind.SEARCH_PREFIX, "mar")),
    ],
)
def test_owners_read_back_as_the_cache_stores_them(text: str, owner: Owner) -> None:
    """The build cache keeps each output file's owner in its text form, the one it always
    had; read back, it is the same owner, whatever its key holds."""
    assert owner.text == text
    assert Owner.parse(text) == owner
