"""Loading a whole site: categories, authors and every topic, with every problem
collected. The build reads only the topic folders whose files changed (names, mtimes and
sizes), reusing the cached parse of the unchanged files in them."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .config import Config, suggest
from .content import (
    TOPIC_FILE,
    TOPIC_ID,
    ReplyReader,
    decode,
    key_line,
    read_opening_file,
    read_post_file,
    read_reply_file,
    read_topic,
)
from .errors import Problems
from .model import (
    FILE_NAME_BYTES,
    Author,
    Category,
    Post,
    Site,
    Topic,
    is_safe_slug,
    slugify,
)
from .parallel import fork_map, slices
from .redirects import clashes, topic_of
from .yamlfile import YamlError, parse_mapping, parse_sequence_lines

FileStats = tuple[tuple[str, int, int], ...]
"""(name, mtime_ns, size) of each post file of a topic folder, sorted by name."""
Folder = tuple[str, str]
"""A topic folder's name and the signature of its files' stats."""


def read_categories(config: Config, problems: Problems) -> list[Category]:
    path = config.content_dir / "categories.yaml"
    if not path.is_file():
        problems.add(path, 1, "missing: list the forum's categories here (slug, name)")
        return []
    try:
        parsed = parse_sequence_lines(decode(path.read_bytes()))
    except YamlError as exc:
        problems.add(path, exc.line, exc.message)
        return []
    except UnicodeDecodeError:
        problems.add(path, 1, "not UTF-8 text")
        return []
    if parsed is None:
        problems.add(path, 1, "no categories: a forum needs at least one")
        return []
    categories: list[Category] = []
    for item, line in zip(*parsed, strict=True):
        if not isinstance(item, dict) or not isinstance(item.get("slug"), str):
            problems.add(path, line, "each category needs at least 'slug' and 'name'")
            continue
        unknown = set(item) - {"slug", "name", "description"}
        slug = item["slug"]
        if unknown:
            problems.add(path, line, f"unknown category key '{sorted(unknown)[0]}'")
        elif not is_safe_slug(slug):
            problems.add(
                path,
                line,
                f"unsafe category slug {slug!r}: use letters and digits "
                f"joined by '-', at most {FILE_NAME_BYTES} bytes",
            )
        elif any(c.slug == slug for c in categories):
            problems.add(path, line, f"duplicate category slug '{slug}'")
        else:
            categories.append(
                Category(slug, str(item.get("name") or slug), str(item.get("description") or ""))
            )
    return categories


def read_authors(config: Config, problems: Problems) -> dict[str, Author]:
    path = config.content_dir / "authors.yaml"
    if not path.is_file():
        return {}
    try:
        mapping = parse_mapping(decode(path.read_bytes()))
    except YamlError as exc:
        problems.add(path, exc.line, exc.message)
        return {}
    except UnicodeDecodeError:
        problems.add(path, 1, "not UTF-8 text")
        return {}
    authors: dict[str, Author] = {}
    if mapping is None:  # an empty file
        return authors
    for name, profile in mapping.values.items():
        line = mapping.line_of(name)
        profile = profile or {}
        if not isinstance(profile, dict) or set(profile) - {"bio", "url"}:
            problems.add(path, line, f"author {name!r}: give a mapping with 'bio' and/or 'url'")
            continue
        url = str(profile.get("url") or "")
        if url and not re.match(r"https?://", url):
            problems.add(path, line, f"author {name!r}: url must start with http:// or https://")
            continue
        slug = slugify(name)
        authors[slug] = Author(name, slug, str(profile.get("bio") or ""), url)
    return authors


def topic_folders(config: Config) -> Iterator[os.DirEntry[str]]:
    topics_dir = config.content_dir / "topics"
    if not topics_dir.is_dir():
        return iter(())
    with os.scandir(topics_dir) as entries:
        found = [e for e in entries if not e.name.startswith(".") and e.is_dir()]
    return iter(sorted(found, key=lambda e: e.name))


def file_stats(folder: str) -> FileStats:
    # Listed through the folder's descriptor: each file is then stat'ed by its name in
    # the folder, not by its whole path (a tenth of a plain build's scan).
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        found = []
        for entry in _post_files(descriptor):
            stat = entry.stat()
            found.append((entry.name, stat.st_mtime_ns, stat.st_size))
    finally:
        os.close(descriptor)
    return tuple(sorted(found))


def _post_files(folder: int) -> list[os.DirEntry[str]]:
    """The post files of the topic folder open as descriptor `folder`."""
    with os.scandir(folder) as entries:
        return [e for e in entries if e.name.endswith(".md") and not e.name.startswith(".")]


def prefetch(folders: Iterable[str]) -> None:
    """Ask the kernel to start reading every post file of these folders now, before they
    are read one at a time. Read one at a time, each file the page cache lacks costs a
    disk round trip (the 118,224 posts of the benchmarks' M forum took 11 s on a virtual
    disk); told of them all at once, the kernel fetches them in few merged requests (1.1
    s). Advice only: where the system takes none (macOS) or a file cannot be opened,
    reading them finds what it finds."""
    if not hasattr(os, "posix_fadvise"):
        return
    for folder in folders:
        try:
            descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            for entry in _post_files(descriptor):
                try:
                    fd = os.open(entry.name, os.O_RDONLY, dir_fd=descriptor)
                except OSError:
                    continue
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
                finally:
                    os.close(fd)
        finally:
            os.close(descriptor)


def _signature(stats: FileStats) -> str:
    return hashlib.sha1(repr(stats).encode()).hexdigest()


def _signatures(folders: Sequence[str]) -> dict[str, str]:
    return {folder: _signature(file_stats(folder)) for folder in folders}


def _reusing(previous: dict[str, tuple[int, int, Post]], stats: FileStats) -> ReplyReader:
    """A reply reader that returns the cached post when its file is unchanged."""
    current = {name: (mtime, size) for name, mtime, size in stats}

    def read(path: Path, topic: str, config: Config, problems: Problems) -> Post | None:
        cached = previous.get(path.name)
        if cached is not None and current.get(path.name) == cached[:2]:
            return cached[2]
        return read_reply_file(path, topic, config, problems)

    return read


@dataclass(frozen=True)
class Scan:
    """Topic folders with a signature of their files' names, mtimes and sizes: a folder
    whose signature is unchanged need not be read again."""

    folders: list[Folder]
    """By name: every topic folder, or (`whole` False) only those a build told what
    changed looked at again, the others being as the last build's scan left them."""
    signature: str
    """Of every topic folder, told or not (see `folders_digest`)."""
    whole: bool = True


def folders_digest(folders: Iterable[Folder]) -> int:
    """A sum of one hash per folder: what a scan of every folder finds, which a scan of
    a few folders updates by their hashes alone (no pass over the forum)."""
    return sum(map(_folder_hash, folders)) % _DIGEST_SPACE


def _folder_hash(folder: Folder) -> int:
    data = f"{folder[0]}\0{folder[1]}".encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=16).digest(), "big")


_DIGEST_SPACE = 1 << 128


def _hex(digest: int) -> str:
    return f"{digest:032x}"


def scan(config: Config, jobs: int = 1) -> Scan:
    """Stat every post file. On a large forum this is most of what a small incremental
    build costs (one system call per file), so it runs on all the build's cores."""
    entries = list(topic_folders(config))
    paths = [e.path for e in entries]
    if len(paths) >= 2000:
        parts = slices(paths, jobs, most=2000)
    else:
        parts = [paths]
    signatures: dict[str, str] = {}
    for part in fork_map(_signatures, parts, jobs):
        signatures.update(part)
    folders = [(e.name, signatures[e.path]) for e in entries]
    return Scan(folders, _hex(folders_digest(folders)))


def rescan(config: Config, signature: str, before: dict[str, str], names: Iterable[str]) -> Scan:
    """The topic folders in `names` looked at again, after a scan of signature
    `signature` that found those of them in `before` (name -> signature): what `scan`
    would find if nothing else changed, for the cost of those folders alone. A folder
    that is gone (or is no topic folder: hidden, not a folder) leaves the scan."""
    digest = int(signature, 16) - folders_digest(before.items())
    folders = []
    for name in sorted(set(names)):
        path = config.content_dir / "topics" / name
        if not name.startswith(".") and path.is_dir():
            folders.append((name, _signature(file_stats(str(path)))))
    return Scan(folders, _hex((digest + folders_digest(folders)) % _DIGEST_SPACE), whole=False)


CachedTopic = tuple[Topic, dict[str, tuple[int, int, Post]]]
"""What the build cache keeps of a topic: the topic without post bodies, and its replies by
file name with the mtime and size they were read at."""


def lean(topic: Topic) -> Topic:
    """The topic without its post bodies, which are big and only needed to render Markdown
    that is not cached yet (see `post_body`)."""
    return dataclasses.replace(topic, posts=[dataclasses.replace(p, body="") for p in topic.posts])


def cacheable(topic: Topic, stats: FileStats) -> CachedTopic:
    slim = lean(topic)
    mtimes = {name: (mtime, size) for name, mtime, size in stats}
    by_file = {
        f"{p.id}.md": (*mtimes[f"{p.id}.md"], p)
        for p in slim.posts
        if p.id != TOPIC_ID and f"{p.id}.md" in mtimes
    }
    return slim, by_file


def post_body(config: Config, post: Post) -> str:
    """A post's Markdown source, read again from its file if the model came from the
    cache without it."""
    if post.body:
        return post.body
    parsed = read_post_file(config.site_dir / post.path, Problems(config.site_dir))
    return parsed.body if parsed is not None else ""


def distinct_folders(config: Config, scanned: Scan, problems: Problems) -> list[Folder]:
    """The scanned topic folders, less those whose names differ from another's only in
    case (a problem: their URLs would collide on case-insensitive hosts)."""
    seen: dict[str, str] = {}
    kept = []
    for name, signature in scanned.folders:
        key = name.casefold()
        if key in seen:
            problems.add(
                config.content_dir / "topics" / name / TOPIC_FILE,
                1,
                f"topic slug '{name}' differs only in case from '{seen[key]}': URLs "
                "would collide on many hosts",
            )
            continue
        seen[key] = name
        kept.append((name, signature))
    return kept


def read_folder(
    config: Config,
    problems: Problems,
    name: str,
    previous: CachedTopic | None = None,
    keep_going: bool = False,
) -> tuple[Topic | None, FileStats]:
    """One topic folder, reusing the replies of `previous` whose files did not change,
    and the stats of its files (taken before reading: a file that changes meanwhile has
    a newer mtime than the one recorded, so the next build reads it again). Draft
    replies are in the topic if the config asks for drafts; a draft topic is marked."""
    folder = config.content_dir / "topics" / name
    stats = file_stats(str(folder))
    return read_topic(
        folder,
        config,
        problems,
        _reusing(previous[1], stats) if previous else None,
        keep_going,
        config.drafts,
    ), stats


def check_category(
    config: Config, slug: str, category: str, line: int, known: set[str], problems: Problems
) -> bool:
    """Whether topic `slug` names a known category; a problem at `line` if not."""
    if category in known:
        return True
    problems.add(
        config.content_dir / "topics" / slug / TOPIC_FILE,
        line,
        f"unknown category '{category}'{suggest(category, sorted(known))}",
    )
    return False


def load_site(config: Config, problems: Problems) -> Site:
    """Read every content file; problems go to `problems` (those of drafts too), the rest
    into the Site (drafts only if the config asks for them)."""
    categories = read_categories(config, problems)
    authors = read_authors(config, problems)
    known = {c.slug for c in categories}
    topics = []
    for name, _ in distinct_folders(config, scan(config), problems):
        topic, _ = read_folder(config, problems, name)
        if (
            topic is not None
            and check_category(
                config, topic.slug, topic.category, topic.category_line, known, problems
            )
            and published(config, topic)
        ):
            topics.append(topic)
    check_redirects(
        config,
        [
            (t.slug, [*t.redirect_from, *(old for p in t.posts for old in p.redirect_from)])
            for t in topics
        ],
        {t.slug for t in topics},
        problems,
    )
    return Site(categories=categories, topics=topics, authors=authors)


def published(config: Config, topic: Topic) -> bool:
    """Whether the topic is in this build: it is no draft, or drafts are built."""
    return config.drafts or not topic.draft


def check_redirects(
    config: Config,
    claims: Iterable[tuple[str, Iterable[str]]],
    topics: Container[str],
    problems: Problems,
) -> set[str]:
    """Problems for redirects two topics claim or that would replace a page (`claims`:
    see redirects.clashes); returns the topics concerned. Located at the topic's
    redirect_from, where most old URLs are."""
    failed = set()
    for slug, _old, message in clashes(claims, topics):
        path = config.content_dir / "topics" / slug / TOPIC_FILE
        problems.add(path, key_line(path, "redirect_from"), message)
        failed.add(slug)
    return failed


class ReplyCache:
    """Parsed replies of a long-running process (the intake), keyed by file name, mtime
    and size, so re-reading a topic after one new post parses only that post."""

    LIMIT = 100_000

    def __init__(self) -> None:
        self._posts: dict[tuple[str, int, int], Post] = {}

    def read(self, path: Path, topic: str, config: Config, problems: Problems) -> Post | None:
        try:
            stat = path.stat()
        except OSError:
            return read_reply_file(path, topic, config, problems)
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        post = self._posts.get(key)
        if post is None:
            post = read_reply_file(path, topic, config, problems)
            if post is not None:
                if len(self._posts) >= self.LIMIT:
                    self._posts.clear()
                self._posts[key] = post
        return post


class RedirectClaims:
    """Topic slugs that old URLs lead into (`t/<slug>/...` in any post's redirect_from),
    casefolded, each with a topic that keeps such a URL: a new topic taking one would put
    its pages where the redirect pages are, and every build would fail. A long-running
    process (the intake) keeps what each topic folder claims and reads a folder again
    only when its files changed, so a new topic costs a scan of file stats, as a build
    does, not a read of the whole forum."""

    def __init__(self) -> None:
        self._folders: dict[str, tuple[str, frozenset[str]]] = {}

    def find(self, config: Config) -> dict[str, str]:
        found: dict[str, str] = {}
        folders = {}
        for name, signature in scan(config).folders:
            known = self._folders.get(name)
            if known is None or known[0] != signature:
                known = (signature, _claims_in(config, config.content_dir / "topics" / name))
            folders[name] = known
            for slug in sorted(known[1]):
                found.setdefault(slug, name)
        self._folders = folders
        return found


def _claims_in(config: Config, folder: Path) -> frozenset[str]:
    """The slugs (casefolded) the old URLs of the posts in `folder` lead into; read
    leniently: a broken file is the build's to report."""
    found = set()
    for path in sorted(folder.glob("*.md")):
        try:
            if path.name.startswith(".") or b"redirect_from" not in path.read_bytes():
                continue
        except OSError:
            continue
        post = read_post_file(path, Problems(config.site_dir))
        if post:
            olds = post.front.values.get("redirect_from")
        else:
            olds = None
        for old in olds if isinstance(olds, list) else [olds]:
            if isinstance(old, (str, int)):
                slug = topic_of(str(old))
            else:
                slug = None
            if slug:
                found.add(slug.casefold())
    return frozenset(found)


@dataclass(frozen=True)
class TopicInfo:
    """What accepting a reply needs to know about a topic, without reading the forum."""

    slug: str
    title: str
    locked: bool
    post_ids: frozenset[str]


def topic_info(config: Config, slug: str) -> TopicInfo | None:
    """The topic `slug` as its files say, or None if there is no such (readable) topic
    or it is a draft: a draft is not published, so nobody can answer it yet."""
    if not is_safe_slug(slug):
        return None
    folder = config.content_dir / "topics" / slug
    post_file = read_opening_file(folder, Problems(config.site_dir))
    if post_file is None or post_file.front.values.get("draft") is True:
        return None
    ids = {p.stem for p in folder.glob("*.md") if p.name != TOPIC_FILE}
    return TopicInfo(
        slug,
        str(post_file.front.values.get("title", slug)),
        post_file.front.values.get("locked") is True,
        frozenset(ids | {TOPIC_ID}),
    )


def load_topic(config: Config, slug: str, cache: ReplyCache | None = None) -> Topic | None:
    """One topic read in full (for its permalinks), or None if it has problems."""
    folder = config.content_dir / "topics" / slug
    if not is_safe_slug(slug):
        return None
    return read_topic(folder, config, Problems(config.site_dir), cache.read if cache else None)
