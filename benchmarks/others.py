"""The benchmark corpus converted for Hugo, Jekyll and Pelican, and their build commands.

Each gets an equivalent minimal site: one page per topic holding every post (each post's
Markdown under a heading with its number, author and date), listings of all topics, of
each category and of each tag, and a feed. Their Markdown renderers and highlighters do
the same work forumgen's do. Hugo also gets the site forumgen makes ("hugo-pages"): one
file per post, topic pages of 50 posts with a feed each, and paginated pages with feeds
for each author, category and tag. Sites are written once per corpus, next to it.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from forumgen.build import load
from forumgen.model import Topic, slugify

TOPICS_PER_PAGE = 30


@dataclass(frozen=True)
class Generator:
    """Another static site generator as the benchmark drives it."""

    name: str
    convert: Callable[[list[Topic], Path], None]
    """Write the site for these topics into an empty folder."""
    add_reply: Callable[[Path, str, int], None]
    """Add the benchmark's n-th new reply to a topic (by slug) of a converted site."""
    command: Callable[[Path], list[str]]
    """The build command for a converted site."""
    version: Callable[[], str]
    """Its version number; raises OSError or CalledProcessError if it is not installed."""

    def available(self) -> bool:
        try:
            self.version()
        except (OSError, subprocess.CalledProcessError):
            return False
        return True


def thread_markdown(topic: Topic) -> str:
    """Every post of a topic as one Markdown document."""
    parts = []
    for number, post in enumerate(topic.posts, 1):
        parts.append(
            f"### #{number} {post.author} · {post.date.isoformat()}\n\n{post.body.strip()}\n\n---\n"
        )
    return "\n".join(parts)


def front_matter(values: dict[str, object]) -> str:
    return "---\n" + yaml.safe_dump(values, allow_unicode=True, sort_keys=False) + "---\n"


def appended(topic_file: Callable[[Path, str], Path]) -> Callable[[Path, str, int], None]:
    """How a site with one page source per topic takes a new reply: at the end of it."""

    def add_reply(site: Path, slug: str, n: int) -> None:
        date, text = new_reply(n)
        with topic_file(site, slug).open("a", encoding="utf-8") as file:
            file.write(f"\n### #new Bench · {date}\n\n{text}\n")

    return add_reply


def new_reply(n: int) -> tuple[str, str]:
    """The date and the text of the benchmark's n-th new reply."""
    return f"2999-01-01T00:00:{n:02d}+00:00", f"A new reply {n}."


# Hugo ----------------------------------------------------------------------------------

HUGO_LAYOUTS = {
    "_default/baseof.html": """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ .Title }}</title>
{{ range .AlternativeOutputFormats }}<link rel="{{ .Rel }}" type="{{ .MediaType.Type }}" \
href="{{ .Permalink }}">{{ end }}</head>
<body><main>{{ block "main" . }}{{ end }}</main></body></html>
""",
    "_default/single.html": """{{ define "main" }}<article><h1>{{ .Title }}</h1>
<p>{{ range .Params.categories }}<a href="{{ "categories/" | relURL }}{{ . | urlize }}/">\
{{ . }}</a> {{ end }}{{ range .Params.tags }}#{{ . }} {{ end }}</p>
{{ .Content }}</article>{{ end }}
""",
    "_default/list.html": """{{ define "main" }}<h1>{{ .Title }}</h1>
{{ $pager := .Paginate .Pages }}<ul>{{ range $pager.Pages }}<li><a href="{{ .RelPermalink }}">\
{{ .Title }}</a> {{ .Date.Format "2006-01-02" }}</li>{{ end }}</ul>
{{ template "_internal/pagination.html" . }}{{ end }}
""",
    "index.html": """{{ define "main" }}<h1>{{ .Site.Title }}</h1>
{{ $pager := .Paginate .Site.RegularPages }}<ul>{{ range $pager.Pages }}<li>\
<a href="{{ .RelPermalink }}">{{ .Title }}</a></li>{{ end }}</ul>
{{ template "_internal/pagination.html" . }}{{ end }}
""",
}


def hugo_site(site: Path, config: dict[str, object], layouts: dict[str, str]) -> None:
    """A Hugo site's configuration, beside what both of the benchmark's Hugo sites set,
    and its layouts."""
    shared = {
        "baseURL": "http://127.0.0.1:8000/",
        "title": "Benchmark forum",
        "markup": {"highlight": {"noClasses": False}},
    }
    (site / "hugo.yaml").write_text(yaml.safe_dump({**shared, **config}))
    for name, text in layouts.items():
        (site / "layouts" / name).parent.mkdir(parents=True, exist_ok=True)
        (site / "layouts" / name).write_text(text)


def hugo_convert(topics: list[Topic], site: Path) -> None:
    hugo_site(
        site,
        {
            "paginate": TOPICS_PER_PAGE,
            "disableKinds": ["section"],
            "taxonomies": {"category": "categories", "tag": "tags"},
            "outputs": {"home": ["HTML", "RSS"], "taxonomy": ["HTML"], "term": ["HTML", "RSS"]},
        },
        HUGO_LAYOUTS,
    )
    for topic in topics:
        path = hugo_topic_file(site, topic.slug)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            front_matter(
                {
                    "title": topic.title,
                    "date": topic.opening.date.isoformat(),
                    "categories": [topic.category],
                    "tags": list(topic.tags),
                    "url": f"/t/{topic.slug}/",
                }
            )
            + thread_markdown(topic),
            encoding="utf-8",
        )


def hugo_topic_file(site: Path, slug: str) -> Path:
    return site / "content" / "t" / f"{slug}.md"


HUGO = Generator(
    "hugo",
    hugo_convert,
    appended(hugo_topic_file),
    lambda site: ["hugo", "--quiet", "--source", str(site), "--destination", str(site / "public")],
    lambda: _first_line(["hugo", "version"]).split()[1],
)


# Hugo, forumgen's pages ----------------------------------------------------------------

HUGO_PAGES_LAYOUTS = {
    "_default/baseof.html": HUGO_LAYOUTS["_default/baseof.html"],
    "t/list.html": """{{ define "main" }}<h1>{{ .Title }}</h1>
<p>{{ range .Params.c }}<a href="{{ "c/" | relURL }}{{ . | urlize }}/">{{ . }}</a> {{ end }}\
{{ range .Params.tag }}<a href="{{ "tag/" | relURL }}{{ . | urlize }}/">#{{ . }}</a> {{ end }}</p>
{{ $pager := .Paginate .Pages.ByWeight 50 }}{{ range $pager.Pages }}<article id="p{{ .Weight }}">
<h2><a href="#p{{ .Weight }}">#{{ .Weight }}</a> \
<a href="{{ "u/" | relURL }}{{ .Params.author | urlize }}/">{{ .Params.author }}</a> \
<time datetime="{{ .Date.Format "2006-01-02T15:04:05Z07:00" }}">{{ .Date.Format "2 Jan 2006" }}\
</time></h2>
{{ .Content }}</article>{{ end }}
{{ template "_internal/pagination.html" . }}{{ end }}
""",
    "_default/list.html": """{{ define "main" }}<h1>{{ .Title }}</h1>
{{ $pager := .Paginate .Pages 30 }}<ul>{{ range $pager.Pages }}<li><a href="\
{{ with .Parent }}{{ .RelPermalink }}{{ end }}{{ if .IsPage }}#p{{ .Weight }}{{ end }}">\
{{ .Title }}</a> {{ .Date.Format "2006-01-02" }}</li>{{ end }}</ul>
{{ template "_internal/pagination.html" . }}{{ end }}
""",
    "_default/terms.html": """{{ define "main" }}<h1>{{ .Title }}</h1><ul>\
{{ range .Data.Terms.ByCount }}<li><a href="{{ .Page.RelPermalink }}">{{ .Page.Title }}</a> \
{{ .Count }}</li>{{ end }}</ul>{{ end }}
""",
    "index.html": """{{ define "main" }}<h1>{{ .Site.Title }}</h1>
{{ $pager := .Paginate ((site.GetPage "/t").Sections.ByLastmod.Reverse) 30 }}<ul>\
{{ range $pager.Pages }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a> \
{{ .Lastmod.Format "2006-01-02" }}</li>{{ end }}</ul>
{{ template "_internal/pagination.html" . }}{{ end }}
""",
}


HIDDEN = {"render": "never", "list": "always", "publishResources": False}
"""Hugo's `_build` for a page that is listed but has no page of its own."""


def hugo_pages_convert(topics: list[Topic], site: Path) -> None:
    """The pages a forum shows, from one file per post as forumgen reads them: each topic
    a section whose page lists its posts 50 to a page with a feed of its own, each post
    listed but not a page (Hugo's `_build`), authors, categories and tags as taxonomies
    with paginated pages and feeds, and the latest topics on the home page."""
    hugo_site(
        site,
        {
            "rssLimit": 20,
            "buildFuture": True,
            # forumgen makes no page/1/ copies of first pages to redirect
            "disableAliases": True,
            "taxonomies": {"category": "c", "tag": "tag", "author": "u"},
            "outputs": {
                "home": ["HTML", "RSS"],
                "section": ["HTML", "RSS"],
                "taxonomy": ["HTML"],
                "term": ["HTML", "RSS"],
            },
        },
        HUGO_PAGES_LAYOUTS,
    )
    (site / "content/t").mkdir(parents=True)
    # No page lists every topic under t/: the home page does.
    (site / "content/t/_index.md").write_text(front_matter({"title": "Topics", "_build": HIDDEN}))
    for topic in topics:
        folder = site / "content/t" / topic.slug
        folder.mkdir()
        (folder / "_index.md").write_text(
            front_matter(
                {
                    "title": topic.title,
                    "date": topic.opening.date.isoformat(),
                    "lastmod": max(p.date for p in topic.posts).isoformat(),
                    "c": [topic.category],
                    "tag": list(topic.tags),
                }
            ),
            encoding="utf-8",
        )
        for number, post in enumerate(topic.posts, 1):
            hugo_post_file(folder, number, post.author, post.date.isoformat(), post.body)


def hugo_post_file(folder: Path, number: int, author: str, date: str, body: str) -> None:
    (folder / f"{number:05d}.md").write_text(
        front_matter(
            {
                "title": f"#{number}",
                "date": date,
                "weight": number,
                "author": author,
                "u": [author],
                "_build": HIDDEN,
            }
        )
        + body,
        encoding="utf-8",
    )


def hugo_pages_reply(site: Path, slug: str, n: int) -> None:
    """A new reply is a new post file in its topic's folder, as in forumgen."""
    folder = site / "content/t" / slug
    hugo_post_file(folder, 90000 + n, "Bench", *new_reply(n))


HUGO_PAGES = Generator(
    "hugo-pages",
    hugo_pages_convert,
    hugo_pages_reply,
    HUGO.command,
    HUGO.version,
)


# Jekyll --------------------------------------------------------------------------------

JEKYLL_FILES = {
    "_layouts/default.html": """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ page.title }}</title>
<link rel="alternate" type="application/atom+xml" href="{{ '/feed.xml' | relative_url }}">
</head><body><main>{{ content }}</main></body></html>
""",
    "_layouts/topic.html": """---
layout: default
---
<article><h1>{{ page.title }}</h1>
<p>{% for c in page.categories %}<a href="{{ '/c/' | append: c | append: '/' | relative_url }}">\
{{ c }}</a> {% endfor %}{% for t in page.tags %}#{{ t }} {% endfor %}</p>
{{ content }}</article>
""",
    "_layouts/listing.html": """---
layout: default
---
<h1>{{ page.title }}</h1><ul>{% for post in page.listed %}<li>\
<a href="{{ post.url | relative_url }}">{{ post.title }}</a></li>{% endfor %}</ul>
""",
    "index.html": """---
layout: default
title: Benchmark forum
---
<h1>{{ site.title }}</h1><ul>{% for post in site.posts %}<li>\
<a href="{{ post.url | relative_url }}">{{ post.title }}</a></li>{% endfor %}</ul>
""",
    "feed.xml": """---
layout: null
---
<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>{{ site.title }}</title><id>{{ '/' | absolute_url }}</id>
<updated>{{ site.time | date_to_xmlschema }}</updated>
{% for post in site.posts limit: 20 %}<entry><title>{{ post.title | xml_escape }}</title>
<id>{{ post.url | absolute_url }}</id><updated>{{ post.date | date_to_xmlschema }}</updated>
<content type="html">{{ post.content | xml_escape }}</content></entry>{% endfor %}</feed>
""",
}


def jekyll_convert(topics: list[Topic], site: Path) -> None:
    (site / "_config.yml").write_text(
        yaml.safe_dump(
            {
                "title": "Benchmark forum",
                "url": "http://127.0.0.1:8000",
                "baseurl": "",
                "permalink": "/t/:title/",
                "markdown": "kramdown",
                "highlighter": "rouge",
                "exclude": ["_site"],
            }
        )
    )
    for name, text in JEKYLL_FILES.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)
    categories = sorted({t.category for t in topics})
    tags = sorted({slugify(tag) for t in topics for tag in t.tags})
    for kind, names, key in (("c", categories, "categories"), ("tag", tags, "tags")):
        for name in names:
            page = site / kind / name / "index.html"
            page.parent.mkdir(parents=True, exist_ok=True)
            # Liquid cannot look a page variable up in site.<key>[...] in front matter,
            # so each listing page loops itself.
            page.write_text(
                front_matter({"layout": "default", "title": name})
                + f"<h1>{name}</h1><ul>{{% for post in site.{key}['{name}'] %}}"
                '<li><a href="{{ post.url | relative_url }}">{{ post.title }}'
                "</a></li>{% endfor %}</ul>\n",
                encoding="utf-8",
            )
    for topic in topics:
        path = site / "_posts" / f"{topic.opening.date:%Y-%m-%d}-{topic.slug}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            front_matter(
                {
                    "layout": "topic",
                    "title": topic.title,
                    "date": topic.opening.date.isoformat(),
                    "categories": [topic.category],
                    "tags": [slugify(t) for t in topic.tags],
                    "slug": topic.slug,
                }
            )
            + thread_markdown(topic),
            encoding="utf-8",
        )


def jekyll_topic_file(site: Path, slug: str) -> Path:
    return next((site / "_posts").glob(f"*-{slug}.md"))


JEKYLL = Generator(
    "jekyll",
    jekyll_convert,
    appended(jekyll_topic_file),
    lambda site: [
        "jekyll",
        "build",
        "--quiet",
        "--source",
        str(site),
        "--destination",
        str(site / "_site"),
    ],
    lambda: _first_line(["jekyll", "--version"]).split()[1],
)


# Pelican -------------------------------------------------------------------------------

PELICAN_CONFIG = f"""AUTHOR = "Benchmark"
SITENAME = "Benchmark forum"
SITEURL = ""
PATH = "content"
TIMEZONE = "UTC"
DEFAULT_LANG = "en"
THEME = "theme"
DEFAULT_PAGINATION = {TOPICS_PER_PAGE}
ARTICLE_URL = ARTICLE_SAVE_AS = "t/{{slug}}/index.html"
CATEGORY_URL = "c/{{slug}}/"
CATEGORY_SAVE_AS = "c/{{slug}}/index.html"
TAG_URL = "tag/{{slug}}/"
TAG_SAVE_AS = "tag/{{slug}}/index.html"
FEED_DOMAIN = "http://127.0.0.1:8000"
FEED_ALL_ATOM = "feed.xml"
CATEGORY_FEED_ATOM = "c/{{slug}}/feed.xml"
DIRECT_TEMPLATES = ["index"]
AUTHOR_SAVE_AS = AUTHORS_SAVE_AS = ARCHIVES_SAVE_AS = ""
CATEGORIES_SAVE_AS = TAGS_SAVE_AS = ""
MARKDOWN = {{"extension_configs": {{"markdown.extensions.codehilite": {{"css_class": "highlight"}},
            "markdown.extensions.fenced_code": {{}}, "markdown.extensions.tables": {{}}}}}}
"""

PELICAN_TEMPLATES = {
    "base.html": """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{% block title %}{{ SITENAME }}{% endblock %}</title></head>
<body><main>{% block content %}{% endblock %}</main></body></html>
""",
    "index.html": """{% extends "base.html" %}{% block content %}<ul>
{% for article in articles_page.object_list %}<li><a href="{{ SITEURL }}/{{ article.url }}">\
{{ article.title }}</a></li>{% endfor %}</ul>
{% if articles_page.has_next() %}<a href="{{ SITEURL }}/{{ articles_next_page.url }}">next</a>\
{% endif %}{% endblock %}
""",
    "article.html": """{% extends "base.html" %}{% block title %}{{ article.title }}{% endblock %}
{% block content %}<article><h1>{{ article.title }}</h1><p><a href="{{ SITEURL }}/\
{{ article.category.url }}">{{ article.category }}</a>{% for tag in article.tags %} \
#{{ tag }}{% endfor %}</p>{{ article.content }}</article>{% endblock %}
""",
    "page.html": """{% extends "base.html" %}{% block content %}{{ page.content }}{% endblock %}
""",
}
PELICAN_TEMPLATES["category.html"] = PELICAN_TEMPLATES["index.html"]
PELICAN_TEMPLATES["tag.html"] = PELICAN_TEMPLATES["index.html"]


def pelican_convert(topics: list[Topic], site: Path) -> None:
    (site / "pelicanconf.py").write_text(PELICAN_CONFIG)
    templates = site / "theme" / "templates"
    templates.mkdir(parents=True)
    for name, text in PELICAN_TEMPLATES.items():
        (templates / name).write_text(text)
    (site / "content").mkdir()
    for topic in topics:
        metadata = [
            f"Title: {topic.title}",
            f"Date: {topic.opening.date:%Y-%m-%d %H:%M}",
            f"Category: {topic.category}",
            f"Slug: {topic.slug}",
        ]
        if topic.tags:
            metadata.append(f"Tags: {', '.join(topic.tags)}")
        pelican_topic_file(site, topic.slug).write_text(
            "\n".join(metadata) + "\n\n" + thread_markdown(topic), encoding="utf-8"
        )


def pelican_topic_file(site: Path, slug: str) -> Path:
    return site / "content" / f"{slug}.md"


PELICAN = Generator(
    "pelican",
    pelican_convert,
    appended(pelican_topic_file),
    lambda site: [
        sys.executable,
        "-m",
        "pelican",
        str(site / "content"),
        "--quiet",
        "--settings",
        str(site / "pelicanconf.py"),
        "--output",
        str(site / "output"),
    ],
    lambda: _pelican_version(),
)


def _pelican_version() -> str:
    if importlib.util.find_spec("pelican") is None:
        raise OSError("pelican is not installed")
    return _first_line([sys.executable, "-m", "pelican", "--version"])


def _first_line(command: list[str]) -> str:
    return (
        subprocess.run(command, capture_output=True, text=True, check=True)
        .stdout.strip()
        .splitlines()[0]
    )


GENERATORS = [HUGO, HUGO_PAGES, JEKYLL, PELICAN]


# Pagefind -----------------------------------------------------------------------------

PAGEFIND_INSTALL = "pip install 'pagefind[extended]'"
"""The static search a Hugo site would add: a binary that indexes the built pages. The
extended build is the one that splits Chinese into words, as forumgen's index does."""


def pagefind_command(public: Path) -> list[str]:
    """Index a built site's pages in place (into `public/pagefind/`)."""
    return [sys.executable, "-m", "pagefind", "--site", str(public), "--silent"]


def pagefind_version() -> str | None:
    """Its version, or None when the Python package and its binary are not installed."""
    if importlib.util.find_spec("pagefind") is None:
        return None
    try:
        return _first_line([sys.executable, "-m", "pagefind", "--version"]).split()[-1]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return None


def converted(generator: Generator, corpus: Path) -> Path:
    """The corpus as a site for `generator`, written once next to the corpus."""
    source = corpus.parent / f"{corpus.name}-{generator.name}"
    if not (source / ".complete").exists():
        shutil.rmtree(source, ignore_errors=True)
        source.mkdir(parents=True)
        generator.convert(load(corpus)[1].topics, source)
        (source / ".complete").touch()
    return source
