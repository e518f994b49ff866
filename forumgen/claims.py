"""What a build writes into output/, known before anything is written, and where it
must never write: the site's own files (static/) may not take the place of a file the
build makes, and removing stale files must never reach the site's sources.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path

from . import pages, sitestatic, theme
from .authors import archive_path, author_path, feed_path
from .config import Config
from .errors import Problem, SiteError
from .locks import preview_output
from .searchindex import FOLDER as SEARCH_FOLDER

ROOT_FAVICON = "favicon.ico"
SEARCH_SCRIPT = "search.js"
"""The theme asset only the search page loads: not copied with `search: false`."""


def refuse_dangerous_output(out: Path, config: Config) -> None:
    """Stale-file removal deletes what the build did not produce, so the output folder
    must never be, or contain, the site's own sources (the preview of `forumgen serve`,
    inside `.forumgen/`, is the one exception)."""
    site = config.site_dir.resolve()
    if out == preview_output(site).resolve():
        return
    sources = [
        site / name for name in ("content", "themes", sitestatic.FOLDER, "pending", ".forumgen")
    ]
    if out == site or out in site.parents or any(out == s or s in out.parents for s in sources):
        raise SiteError(
            [
                Problem(
                    "forumgen.yaml",
                    1,
                    f"refusing to build into {out}: it holds "
                    "the site's own files (choose an empty folder for --output)",
                )
            ]
        )


def claimed(
    config: Config,
    site_pages: Sequence[pages.Page],
    authors: Collection[str],
    redirects: Iterable[str],
    slugs: Iterable[str],
) -> sitestatic.Claimed:
    """What the build writes into output/, known before anything is written: exactly,
    but for the pages of topics (their folders), the search index (its folder) and the
    archives of authors (every author's `archive/` folder: an author has one once they
    wrote more than their page lists, which no file of static/ should have to foresee).
    `site_pages`: the pages drawn from the whole site; `authors`: the slug of every
    author; `redirects`: the paths of every topic's redirect pages; `slugs`: every topic
    published."""
    theme_folder = f"themes/{config.theme}"
    # The redirect maps are plain.txt too, but are not changed through it.
    hints = {
        p.file: f"to change it, override the template in {theme_folder}/templates/{p.template}"
        for p in site_pages
        if p.template != "plain.txt"
    } | {
        target: "to replace a theme asset, put it in "
        f"{theme_folder}/static/{target.removeprefix('static/')} instead"
        for target, _ in theme_assets(config)
    }
    folders = {f"t/{slug}/" for slug in slugs} | {archive_path(a) for a in authors}
    if config.search:  # without, nothing of the build's is under search/
        folders.add(SEARCH_FOLDER)
    return sitestatic.Claimed(
        files=frozenset(
            {
                *(p.file for p in site_pages),
                *hints,
                *(pages.file_of(author_path(author)) for author in authors),
                *(feed_path(author) for author in authors),
                "sitemap.xml",
                *map(pages.file_of, redirects),
            }
        ),
        folders=frozenset(folders),
        patterns=("sitemap-*.xml",),
        hints=hints,
    )


def theme_assets(config: Config) -> Iterator[tuple[str, Path]]:
    """(output path, file) for the theme's static files. The favicon is also written at
    the top of the site, where browsers look for it when a page names none (a feed or
    a file opened directly). Without search there is no search script."""
    for name, source in theme.static_files(config):
        if name == SEARCH_SCRIPT and not config.search:
            continue
        yield f"static/{name}", source
        if name == ROOT_FAVICON:
            yield name, source
