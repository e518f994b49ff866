"""Redirect maps for web servers, from every topic's redirects: an nginx `map` and a
Netlify `_redirects` file, so old URLs answer with a real 301 where the host allows it
(the redirect pages in output/ cover every other host).

Both files are written into output/ by the build, from the same (old path, new path)
pairs as the redirect pages, so they can never disagree with them.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Iterator
from urllib.parse import quote

from .model import FILE_NAME_BYTES

NGINX_MAP = "redirects.nginx.map"
NETLIFY = "_redirects"
VARIABLE = "$forumgen_redirect"

# Paths nginx's map cannot hold as they are (its keys are decoded paths): control
# characters and spaces, and `$`, which names a variable in an nginx string.
_UNWRITABLE = re.compile(r"[\x00-\x20\x7f$]")


def paths(olds: Iterable[str]) -> Iterator[str]:
    """The output paths of the redirect pages for the old URLs of a redirect_from:
    site-relative, a folder ('old/12/') unless the old URL named an .html file."""
    for old in olds:
        path = old.strip("/")
        if path and "://" not in old and ".." not in path.split("/"):
            yield path + ("/" if not path.endswith(".html") else "")


def topic_of(old: str) -> str | None:
    """The topic slug an old URL's redirect page lies under ('/t/1234' and '/t/1234/5' ->
    '1234'), None if it lies outside t/. A new topic must not take such a slug: its pages
    would stand where the redirect pages are."""
    for path in paths([old]):
        parts = path.split("/")
        if parts[0] == "t" and len(parts) > 1 and parts[1]:
            return parts[1]
    return None


# Files the build writes at the top of the site (see pages.site_pages): no redirect may
# take one, or pass through one as if it were a folder.
_SITE_FILES = {
    "index.html",
    "404.html",
    "robots.txt",
    "feed.xml",
    "sitemap.xml",
    NGINX_MAP,
    NETLIFY,
    "favicon.ico",
}
# Folders (and file name beginnings) the build writes into.
_SITE_PREFIXES = (
    "static/",
    "page/",
    "archive/",
    "c/",
    "tag/",
    "u/",
    "tags/",
    "categories/",
    "sitemap-",
    "new/",
    "search/",
)
# What no file name may hold on the hosts output/ is copied to.
_UNNAMEABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def clashes(
    claims: Iterable[tuple[str, Iterable[str]]], topics: Container[str]
) -> list[tuple[str, str, str]]:
    """(topic, old URL, why) for each redirect that two topics claim, that would take
    the place of a page of the site, or that no file can hold; `claims` are (topic slug,
    its redirect_from and its replies') of the topics that have any, `topics` the slug of
    every topic. Left alone, one page would silently overwrite the other, or the build
    would stop when writing the redirect page."""
    claims = [(slug, list(olds)) for slug, olds in claims]
    owner: dict[str, str] = {}
    found = []
    for slug, olds in sorted(claims):
        for old in olds:
            for path in paths([old]):
                parts = path.split("/")
                if _UNNAMEABLE.search(path) or any(
                    len(part.encode()) > FILE_NAME_BYTES for part in parts
                ):
                    found.append(
                        (
                            slug,
                            old,
                            f"redirect_from {old!r} cannot name a file: no "
                            f"control characters, at most {FILE_NAME_BYTES} bytes "
                            "between slashes",
                        )
                    )
                elif (
                    parts[0] in _SITE_FILES
                    or path.startswith(_SITE_PREFIXES)
                    or (
                        parts[0] == "t"
                        and len(parts) > 1
                        and parts[1] in topics
                        and (len(parts) == 3 or parts[2] in ("page", "feed.xml"))
                    )
                ):
                    found.append(
                        (slug, old, f"redirect_from '{old}' is the address of a page of this site")
                    )
                elif owner.setdefault(path, slug) != slug:
                    found.append(
                        (
                            slug,
                            old,
                            f"redirect_from '{old}' is also claimed by topic '{owner[path]}'",
                        )
                    )
    return found


def variants(path: str) -> list[str]:
    """The request paths that reach a redirect page: 'a/b/' is asked for as /a/b/ and /a/b."""
    if path.endswith("/"):
        return [path, path.rstrip("/")]
    return [path]


def rules(pairs: Iterable[tuple[str, str]], base_path: str) -> list[tuple[str, str]]:
    """(request path, Location) for each redirect, in path order; `pairs` are site-relative
    (old path, target) as pages.py plans them, the first claim on a path wins. The request
    path is decoded (as nginx's $uri is); the Location is percent-encoded."""
    seen: dict[str, str] = {}
    for old, target in pairs:
        for path in variants(old):
            seen.setdefault(base_path + path, base_path + quote(target, safe="/#"))
    return sorted(seen.items())


def nginx_map(found: list[tuple[str, str]]) -> str:
    lines = [
        "# Written by `forumgen build`: old URLs and where they moved. Include this file",
        "# in nginx's http block, and in the server block add:",
        f"#     if ({VARIABLE}) {{ return 301 {VARIABLE}; }}",
        f"map $uri {VARIABLE} {{",
    ]
    lines += [
        f'    "{_nginx_quoted(path)}" "{location}";'
        for path, location in found
        if not _UNWRITABLE.search(path)
    ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def netlify(found: list[tuple[str, str]]) -> str:
    # `301!`: the redirect pages exist as files, and Netlify serves an existing file
    # instead of redirecting unless the rule is forced.
    return "".join(f"{quote(path, safe='/')} {location} 301!\n" for path, location in found)


def _nginx_quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
