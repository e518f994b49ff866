"""Test fixtures: tiny sites built in tmp_path, and helpers that read the output the way
a browser or a link checker would."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import lxml.etree
import lxml.html
import pytest
import yaml
from click.testing import CliRunner, Result

import servers
from forumgen.cli import main


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A test that fails while a fixture's server runs gets the end of its log in its
    report (a server the test started itself prints it as it stops)."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for log in servers.LIVE_LOGS:
            report.sections.append((f"the end of a server's log ({log})", servers.log_tail(log)))


def pytest_configure(config: pytest.Config) -> None:
    """Let the servers the tests start be stopped with Ctrl-C (SIGINT), as a user's are.

    A suite started in the background by a shell without job control (`pytest &`,
    `nohup`, some CI steps) inherits SIGINT ignored, and so would every process it starts:
    Python leaves an ignored SIGINT ignored, so `forumgen serve` would never see the
    tests' Ctrl-C. A handled signal is reset to its default in a started program."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


class SiteFactory:
    """Writes a site's files; every test gets its own in tmp_path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config: dict[str, Any] = {"title": "Test forum", "base_url": "http://forum.test/"}
        self.categories = [
            {"slug": "general", "name": "General"},
            {"slug": "help", "name": "Help", "description": "Questions"},
        ]
        self.save_config()
        self.write("content/categories.yaml", yaml.safe_dump(self.categories))

    def save_config(self, **changes: Any) -> None:
        self.config.update(changes)
        self.write("forumgen.yaml", yaml.safe_dump(self.config, allow_unicode=True))

    def write(self, relative: str, text: str | bytes) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def post(self, relative: str, body: str = "Some text.", **front: Any) -> Path:
        text = "---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False) + "---\n"
        return self.write(relative, text + body + "\n")

    def topic(
        self,
        slug: str,
        title: str | None = None,
        category: str = "general",
        date: str = "2024-01-01T10:00:00Z",
        author: str = "Ann Smith",
        body: str = "Opening post.",
        replies: int = 0,
        **front: Any,
    ) -> Path:
        path = self.post(
            f"content/topics/{slug}/topic.md",
            body,
            title=title or slug.title(),
            author=author,
            date=date,
            category=category,
            **front,
        )
        for n in range(replies):
            self.reply(
                slug,
                f"r{n:04d}",
                author=f"Member {n % 3}",
                date=f"2024-02-01T10:{n // 60 % 60:02d}:{n % 60:02d}Z",
                body=f"Reply number {n}.",
            )
        return path

    def reply(
        self,
        slug: str,
        post_id: str,
        body: str = "A reply.",
        author: str = "Bob",
        date: str = "2024-01-02T10:00:00Z",
        **front: Any,
    ) -> Path:
        return self.post(
            f"content/topics/{slug}/{post_id}.md", body, author=author, date=date, **front
        )

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(main, [*args, "--site", str(self.root)])

    def build(self, *args: str) -> Result:
        result = self.cli("build", "--jobs", "1", *args)
        assert result.exit_code == 0, result.output
        return result

    @property
    def output(self) -> Path:
        return self.root / "output"

    def page(self, path: str) -> lxml.html.HtmlElement:
        file = self.output / path
        if path.endswith("/") or not path:
            file = file / "index.html"
        return lxml.html.fromstring(file.read_bytes())


@pytest.fixture
def site(tmp_path: Path) -> SiteFactory:
    return SiteFactory(tmp_path / "site")


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under folder with its bytes and mtime, to prove nothing changed."""
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file under folder with its bytes."""
    return {name: data for name, (data, _mtime) in snapshot(folder).items()}


def clean_build_of_a_copy(site: SiteFactory, where: Path, *args: str) -> dict[str, bytes]:
    """The output of a first build of the same sources, without the last build's state:
    what any sequence of incremental builds must end up equal to."""
    shutil.copytree(site.root, where, ignore=shutil.ignore_patterns("output", ".forumgen"))
    copy = SiteFactory.__new__(SiteFactory)
    copy.root = where
    copy.build(*args)
    return files_of(copy.output)


def html_files(output: Path) -> Iterator[Path]:
    yield from sorted(output.rglob("*.html"))


def internal_links(output: Path, base_path: str = "/") -> Iterator[tuple[Path, str]]:
    """(page, link) for every href/src in every page that points into the site."""
    for file in html_files(output):
        doc = lxml.html.fromstring(file.read_bytes())
        for element, _attr, link, _pos in doc.iterlinks():
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//") or element.tag == "form":
                continue
            if link.startswith("#"):  # same page: make it a full site-relative link
                page = file.relative_to(output).as_posix().removesuffix("index.html")
                link = base_path + page + link
            yield file, link


def resolve(output: Path, link: str, base_path: str = "/") -> Path:
    """The file a site-relative link is served from."""
    path = unquote(urlsplit(link).path)
    assert path.startswith(base_path), f"{link} is outside {base_path}"
    target = output / path[len(base_path) :]
    return target / "index.html" if path.endswith("/") else target


def sitemap_lastmods(output: Path) -> dict[str, str]:
    """What sitemap.xml lists: each page's path under the site, with its lastmod."""
    tree = lxml.etree.parse(str(output / "sitemap.xml"))
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    return {
        loc.removeprefix("http://forum.test/"): lastmod
        for loc, lastmod in zip(
            tree.xpath("//s:loc/text()", namespaces=ns),
            tree.xpath("//s:lastmod/text()", namespaces=ns),
            strict=True,
        )
    }
