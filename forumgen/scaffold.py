"""Creating things in a site: a new site (`init`), a new topic, a new reply.

The CLI's `init`/`new` commands and the intake both come here, so a post written by hand
and a post sent through a form get the same file name rules and the same checks.
"""

from __future__ import annotations

import errno
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .config import CONFIG_FILE, Config, suggest
from .content import (
    TOPIC_FILE,
    TOPIC_ID,
    format_date,
    new_post_id,
    render_post,
    utcnow,
    write_post,
)
from .files import atomic_write, fsync_dir
from .loader import RedirectClaims
from .locks import STATE_DIR
from .markup import COMMONMARK
from .model import FILE_NAME_BYTES, is_safe_slug, slugify
from .pages import topic_address
from .yamlfile import dump

MAX_SLUG = 60


class ScaffoldError(Exception):
    """A request that cannot be carried out, worded for the person who made it."""


@dataclass(frozen=True)
class NewPost:
    path: Path
    topic: str
    id: str


def init_site(folder: Path, title: str = "My forum") -> list[Path]:
    """A new site with config, two categories and a welcome topic; returns what it wrote."""
    if (folder / CONFIG_FILE).exists():
        raise ScaffoldError(f"{folder / CONFIG_FILE} already exists: this is a site already")
    written = []
    config = {
        "title": title,
        "description": "",
        "base_url": "http://127.0.0.1:8000/",
        "language": "en",
        "timezone": "UTC",
        "markdown": {"engine": COMMONMARK.name},
    }
    files = {
        CONFIG_FILE: "# forumgen site configuration; every key is listed in the README.\n"
        + dump(config),
        "content/categories.yaml": "# The categories, in display order.\n"
        + dump(
            [
                {"slug": "general", "name": "General", "description": "Anything about this forum."},
                {"slug": "help", "name": "Help", "description": "Questions and answers."},
            ]
        ),
        ".gitignore": "output/\n.forumgen/\npending/\n",
    }
    for name, text in files.items():
        path = folder / name
        atomic_write(path, text.encode())
        written.append(path)
    topic = folder / "content" / "topics" / "welcome" / TOPIC_FILE
    write_post(
        topic,
        {
            "title": f"Welcome to {title}",
            "author": "forumgen",
            "date": format_date(utcnow()),
            "category": "general",
        },
        "This forum is a folder of Markdown files. Edit `content/`, then run `forumgen build`.\n",
        durable=False,
    )
    written.append(topic)
    return written


def scratch_dir(config: Config) -> Path:
    """Where post writers keep their temporary files: never inside content/ or pending/."""
    return config.site_dir / STATE_DIR / "tmp"


def pending_root(config: Config) -> Path:
    """Where posts wait for moderation: `pending/topics/<slug>/<id>.md`."""
    return config.site_dir / "pending" / "topics"


def taken_slugs(
    config: Config, claims: RedirectClaims | None = None, pending: bool = True
) -> dict[str, str]:
    """Every slug a new topic may not take, casefolded, with why: a topic's folder (one
    waiting for moderation too, unless not `pending`), or an old URL (redirect_from) that
    leads into t/<slug>/. `claims` lets a long-running process read only what changed."""
    return _taken(config, _redirected(config, claims), pending)


def _taken(config: Config, redirected: dict[str, str], pending: bool = True) -> dict[str, str]:
    if pending:
        waiting = _folders(pending_root(config), "waits for moderation")
    else:
        waiting = {}
    return {**redirected, **waiting, **_folders(config.content_dir / "topics")}


def _redirected(config: Config, claims: RedirectClaims | None) -> dict[str, str]:
    return {
        slug: f"{topic_address(slug)} is an old address that topic '{owner}' redirects from "
        "(its redirect_from)"
        for slug, owner in (claims or RedirectClaims()).find(config).items()
    }


def _folders(root: Path, state: str = "already exists") -> dict[str, str]:
    return {p.name.casefold(): f"a topic '{p.name}' {state}" for p in root.glob("*")}


def topic_slug(title: str, taken: set[str]) -> str:
    """A slug for a new topic from its title, unique against `taken` (compared without
    case, as hosts on case-insensitive file systems would)."""
    base = slugify(title)[:MAX_SLUG].strip("-") or "topic"
    folded = {t.casefold() for t in taken}
    slug, n = base, 2
    while slug.casefold() in folded:
        slug, n = f"{base}-{n}", n + 1
    return slug


def new_topic(
    config: Config,
    title: str,
    category: str,
    author: str,
    body: str,
    tags: list[str] | None = None,
    slug: str | None = None,
    when: datetime | None = None,
    root: Path | None = None,
    durable: bool = True,
    claims: RedirectClaims | None = None,
) -> NewPost:
    """Write a topic's opening post. `root` is where topic folders go: content/topics by
    default, pending/ for posts that wait for moderation. The slug is `slug`, else made
    from the title and free (see taken_slugs); `claims` lets a long-running process
    find the old URLs without reading the whole forum each time."""
    if slug is not None:
        _check_slug(slug)
    front: dict[str, object] = {
        "title": title,
        "author": author,
        "date": format_date(when or utcnow()),
        "category": category,
    }
    if tags:
        front["tags"] = tags
    folder = _place_topic_folder(
        config,
        root or config.content_dir / "topics",
        title,
        slug,
        render_post(front, body),
        durable,
        _redirected(config, claims),
    )
    return NewPost(folder / TOPIC_FILE, folder.name, TOPIC_ID)


def place_topic(
    config: Config, slug: str, opening: bytes, durable: bool = False, pending: bool = True
) -> Path:
    """Create content/topics/<slug>/ holding `opening` as its topic.md, whole or not at
    all (importers write through this); ScaffoldError if the slug is taken, by a topic
    waiting for moderation too unless not `pending` (the waiting topic being approved
    holds its own slug there)."""
    _check_slug(slug)
    return _place_topic_folder(
        config, config.content_dir / "topics", slug, slug, opening, durable, {}, pending
    )


def check_topic_slug(config: Config, slug: str) -> None:
    """ScaffoldError if `slug` cannot name a new topic (unsafe or taken): asked before an
    author writes the post, so the text is not lost to a refusal afterwards."""
    _check_slug(slug)
    taken = taken_slugs(config)
    if slug.casefold() in taken:
        raise ScaffoldError(taken[slug.casefold()])


def check_reply(config: Config, topic: str, reply_to: str = "") -> None:
    """ScaffoldError unless topic `topic` exists and `reply_to` (when given) names one of
    its posts; the error lists the opening post and the latest replies to choose from."""
    folder = _topic_folder(config, topic)
    ids = sorted(
        p.stem for p in folder.glob("*.md") if p.name != TOPIC_FILE and not p.name.startswith(".")
    )
    if not reply_to or reply_to == TOPIC_ID or reply_to in ids:
        return
    shown = [TOPIC_ID, *ids[-5:]]
    if len(ids) > 5:
        more = f" and {len(ids) - 5} more"
    else:
        more = ""
    raise ScaffoldError(
        f"no post '{reply_to}' in topic '{topic}'"
        f"{suggest(reply_to, [TOPIC_ID, *ids])}; its posts: "
        f"{', '.join(shown)}{more}"
    )


def _topic_folder(config: Config, topic: str) -> Path:
    folder = config.content_dir / "topics" / topic
    if not is_safe_slug(topic) or not (folder / TOPIC_FILE).is_file():
        raise ScaffoldError(f"no topic '{topic}' in {folder.parent}")
    return folder


def _check_slug(slug: str) -> None:
    if not is_safe_slug(slug):
        raise ScaffoldError(
            f"unsafe slug {slug!r}: use letters and digits joined by '-', "
            f"at most {FILE_NAME_BYTES} bytes"
        )


def _place_topic_folder(
    config: Config,
    root: Path,
    title: str,
    wanted: str | None,
    opening: bytes,
    durable: bool,
    redirected: dict[str, str],
    pending: bool = True,
) -> Path:
    """Create the new topic's folder under `root` with its opening post already inside,
    under a slug no topic (published or waiting) has and no old URL in `redirected` uses.

    The folder is filled in the scratch folder and renamed into place whole, so a writer
    killed midway leaves nothing under `root` (an empty topic folder would stop every
    build). The rename is also the claim on the slug: it fails if another writer's
    folder got there first, so two workers given the same title at the same moment still
    end up with two different slugs.
    """
    root.mkdir(parents=True, exist_ok=True)
    scratch = scratch_dir(config)
    scratch.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=scratch, prefix=".topic.", suffix=".tmp"))
    try:
        staging.chmod(0o755)  # mkdtemp's 0700 would follow the folder into content/
        atomic_write(staging / TOPIC_FILE, opening, durable=durable)
        while True:
            # `root` is content/topics or pending/topics
            taken = _taken(config, redirected, pending)
            slug = wanted or topic_slug(title, set(taken))
            if wanted and slug.casefold() in taken:
                raise ScaffoldError(taken[slug.casefold()])
            try:
                staging.rename(root / slug)
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                if wanted:
                    raise ScaffoldError(f"a topic '{slug}' already exists") from None
                continue
            if durable:
                fsync_dir(root)
            return root / slug
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # only left if the rename never happened


def new_reply(
    config: Config,
    topic: str,
    author: str,
    body: str,
    reply_to: str = "",
    when: datetime | None = None,
    root: Path | None = None,
    durable: bool = True,
) -> NewPost:
    """Write a reply under a collision-free id built from its time."""
    _topic_folder(config, topic)
    when = when or utcnow()
    front: dict[str, object] = {"author": author, "date": format_date(when)}
    if reply_to:
        front["reply_to"] = reply_to
    while True:
        post_id = new_post_id(when)
        path = (root or config.content_dir / "topics") / topic / f"{post_id}.md"
        if not path.exists():
            break
    write_post(path, front, body, durable=durable, scratch=scratch_dir(config))
    return NewPost(path, topic, post_id)
