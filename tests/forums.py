"""The forums that outside programs check (the Nu HTML Checker, feedparser, linkchecker,
the sitemap schemas): the bundled example forum and generated ones, each built once per
test session, wherever the modules that check it run.

Each is built with `base_url` on a free port of 127.0.0.1, so canonical links, feeds and
the sitemap point at the address the link checker serves the output from.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from benchmarks.corpus import generate
from forumgen.cli import main
from servers import ROOT, free_port

GENERATED_TOPICS = 400
"""Past the 300 topics the latest listings keep (10 pages of 30), so the rest are in the
archive."""


@dataclass(frozen=True)
class Forum:
    root: Path
    port: int

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


_built: dict[str, Forum] = {}


def _build(root: Path) -> Forum:
    forum = Forum(root, free_port())
    result = CliRunner().invoke(
        main, ["build", "--site", str(root), "--jobs", "2", "--base-url", forum.base_url]
    )
    assert result.exit_code == 0, result.output
    return forum


def example(factory: pytest.TempPathFactory) -> Forum:
    """The repository's own site, copied (so no build state lands in the repository)."""
    if "example" not in _built:
        root = factory.mktemp("example-forum")
        shutil.copy(ROOT / "forumgen.yaml", root)
        shutil.copytree(ROOT / "content", root / "content")
        _built["example"] = _build(root)
    return _built["example"]


REDIRECTED = ("old/viewtopic-0.html", "forum/topic/0/")
"""The old URLs the first generated topic keeps (redirect pages are checked like the rest)."""


def generated(
    factory: pytest.TempPathFactory, topics: int = GENERATED_TOPICS, posts_per_page: int = 0
) -> Forum:
    """A generated forum of `topics` topics (heavy-tailed threads, some Chinese), its
    first topic with redirects from old URLs; `posts_per_page` other than the default's
    if given."""
    key = f"generated-{topics}-{posts_per_page}"
    if key not in _built:
        root = factory.mktemp(key)
        generate(root, topics, seed=26)
        if posts_per_page:
            set_config(root, posts_per_page=posts_per_page)
        first = sorted((root / "content" / "topics").iterdir())[0] / "topic.md"
        old = ", ".join(f"/{path}" for path in REDIRECTED)
        first.write_text(
            first.read_text(encoding="utf-8").replace("---\n", f"---\nredirect_from: [{old}]\n", 1),
            encoding="utf-8",
        )
        _built[key] = _build(root)
    return _built[key]


def set_config(root: Path, **changes: object) -> None:
    """Change keys of the forum's forumgen.yaml."""
    config = yaml.safe_load((root / "forumgen.yaml").read_text(encoding="utf-8"))
    config.update(changes)
    (root / "forumgen.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")


def archived(factory: pytest.TempPathFactory) -> Forum:
    """A generated forum of 200 topics whose listings keep 2 pages of 3 topics: the latest
    topics, every category, most tags and most authors overflow into archives, and some
    months take more than one page."""
    if "archived" not in _built:
        root = factory.mktemp("archived")
        generate(root, 200, seed=27)
        set_config(root, topics_per_page=3, listing_pages=2)
        _built["archived"] = _build(root)
    return _built["archived"]
