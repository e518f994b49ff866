"""forumgen.yaml: declared keys, defaults, and errors that name the key and its line."""

from __future__ import annotations

from pathlib import Path

from forumgen.config import Config, find_site, load_config
from forumgen.errors import Problems
from forumgen.markup import COMMONMARK, Engine


def load(tmp_path: Path, text: str) -> tuple[Config | None, list[str]]:
    (tmp_path / "forumgen.yaml").write_text(text, encoding="utf-8")
    problems = Problems(tmp_path)
    return load_config(tmp_path, problems), [str(p) for p in problems.items]


def test_defaults(tmp_path: Path) -> None:
    config, found = load(tmp_path, "title: Forum\n")
    assert found == [] and config is not None
    assert (config.base_url, config.language, config.timezone, config.theme) == (
        "http://127.0.0.1:8000/",
        "en",
        "UTC",
        "default",
    )
    assert (config.topics_per_page, config.posts_per_page, config.listing_pages) == (30, 50, 10)
    assert config.intake.moderation == "queue" and config.intake.max_body_chars == 20000
    assert config.intake.rate_limit == "5/minute" and config.intake.git == "off"
    assert config.intake_url == "/intake/"
    assert config.origins == ("http://127.0.0.1:8000",)
    assert config.markdown == COMMONMARK == Engine("commonmark", ())
    assert config.search is True


def test_base_url_path_prefixes_links_and_intake(tmp_path: Path) -> None:
    config, _ = load(tmp_path, "title: F\nbase_url: https://example.org/archive\n")
    assert config is not None
    assert config.base_url == "https://example.org/archive/"
    assert config.base_path == "/archive/"
    assert config.intake_url == "/archive/intake/"


def test_absolute_intake_url_kept(tmp_path: Path) -> None:
    config, _ = load(tmp_path, "title: F\nintake:\n  url: https://post.example.org/in\n")
    assert config is not None and config.intake_url == "https://post.example.org/in/"


def test_unknown_keys_named_with_line_and_suggestion(tmp_path: Path) -> None:
    _, found = load(
        tmp_path, "title: F\nlangauge: en\nintake:\n  moderation: queue\n  ratelimit: 1/minute\n"
    )
    assert found == [
        "forumgen.yaml:2: unknown config key 'langauge' (did you mean 'language'?)",
        "forumgen.yaml:5: unknown config key 'intake.ratelimit' (did you mean 'rate_limit'?)",
    ]


def test_bad_values_all_reported(tmp_path: Path) -> None:
    _, found = load(
        tmp_path,
        "title: F\nbase_url: forum.example.org\nlanguage: fr\n"
        "timezone: Mars/Base\nposts_per_page: 0\nintake:\n"
        "  moderation: maybe\n  rate_limit: lots\n",
    )
    assert [f.split(":")[1] for f in found] == ["2", "3", "4", "5", "7", "8"]
    assert "'language' must be one of en, zh-CN" in found[1]
    assert "unknown time zone 'Mars/Base'" in found[2]


def test_missing_title_and_yaml_error(tmp_path: Path) -> None:
    _, found = load(tmp_path, "description: x\n")
    assert found == ["forumgen.yaml:1: missing required key 'title'"]
    _, found = load(tmp_path, "title: F\nbase_url: a: b\nlanguage: en\n")
    assert len(found) == 1
    assert found[0].startswith("forumgen.yaml:2: YAML syntax error: mapping values are not allowed")


def test_unknown_theme(tmp_path: Path) -> None:
    _, found = load(tmp_path, "title: F\n\ntheme: fancy\n")
    assert found == [
        f"forumgen.yaml:3: theme 'fancy' not found in {tmp_path / 'themes'} or "
        "among the built-in themes"
    ]


def test_find_site_walks_upward(tmp_path: Path) -> None:
    (tmp_path / "forumgen.yaml").write_text("title: F\n")
    deep = tmp_path / "content" / "topics" / "x"
    deep.mkdir(parents=True)
    assert find_site(deep) == tmp_path.resolve()
    assert find_site(Path("/")) is None


def test_unclosed_quote_named_where_it_opened(tmp_path: Path) -> None:
    _, found = load(tmp_path, 'description: x\ntitle: "My forum\nlanguage: en\ntimezone: UTC\n')
    assert found == [
        'forumgen.yaml:2: YAML syntax error: unclosed quote: the " opened here '
        '(column 8) is never closed: end the text with " on this line'
    ]
    # Closed by accident by the next value's opening quote, two lines further down.
    _, found = load(tmp_path, "title: 'My forum\nlanguage: en\ndescription: 'A forum'\n")
    assert found == [
        "forumgen.yaml:1: YAML syntax error: unclosed quote: the ' opened here "
        "(column 8) runs on to line 3: end the text with ' on this line"
    ]


def test_duplicate_key_does_not_hide_other_problems(tmp_path: Path) -> None:
    _, found = load(
        tmp_path,
        "title: F\nlangauge: en\ntitle: G\nbase_url: forum.example.org\n"
        "intake:\n  moderation: queue\n  moderation: maybe\n",
    )
    assert sorted(found) == [
        "forumgen.yaml:2: unknown config key 'langauge' (did you mean 'language'?)",
        "forumgen.yaml:3: duplicate key 'title' (first on line 1)",
        "forumgen.yaml:4: 'base_url' must be an absolute http(s) URL such as "
        "https://forum.example.org/",
        "forumgen.yaml:7: 'intake.moderation' must be one of: queue, publish",
        "forumgen.yaml:7: duplicate key 'moderation' (first on line 6)",
    ]


def test_off_written_bare_is_the_word_off(tmp_path: Path) -> None:
    # YAML 1.1 reads a bare `off` as false; users write the word the docs show.
    config, found = load(tmp_path, "title: F\nintake:\n  git: off\n  total_rate_limit: off\n")
    assert found == [] and config is not None
    assert (config.intake.git, config.intake.total_rate_limit) == ("off", "off")


def test_search_is_true_or_false(tmp_path: Path) -> None:
    config, found = load(tmp_path, "title: F\nsearch: no\n")  # YAML 1.1: no is false
    assert found == [] and config is not None and config.search is False
    for value in ("maybe", "'false'", "0"):
        _, found = load(tmp_path, f"title: F\n\nsearch: {value}\n")
        assert found == ["forumgen.yaml:3: 'search' must be true or false"], value


def test_markdown_engine_and_python_markdown_extensions(tmp_path: Path) -> None:
    config, found = load(
        tmp_path,
        "title: F\nmarkdown:\n  engine: python-markdown\n"
        "  extensions: [def_list, markdown.extensions.abbr]\n",
    )
    assert found == [] and config is not None
    assert config.markdown == Engine("python-markdown", ("def_list", "markdown.extensions.abbr"))
    config, found = load(tmp_path, "title: F\nmarkdown:\n  engine: commonmark\n")
    assert found == [] and config is not None and config.markdown == COMMONMARK


def test_markdown_problems_name_their_line(tmp_path: Path) -> None:
    _, found = load(tmp_path, "title: F\nmarkdown:\n  engine: cmark\n")
    assert found == [
        "forumgen.yaml:3: 'markdown.engine' must be one of: commonmark, python-markdown"
    ]
    _, found = load(
        tmp_path,
        "title: F\nmarkdown:\n  engine: python-markdown\n"
        "  extensions:\n    - def_list\n    - tabels\n",
    )
    assert len(found) == 1 and found[0].startswith(
        "forumgen.yaml:4: 'markdown.extensions' names 'tabels', which Python-Markdown cannot "
        "load (ModuleNotFoundError: No module named 'tabels')"
    )
    assert found[0].endswith("(did you mean 'tables'?)")
    _, found = load(tmp_path, "title: F\nmarkdown:\n  extensions: [def_list]\n")
    assert found == [
        "forumgen.yaml:3: 'markdown.extensions' are Python-Markdown extensions: "
        "they need 'engine: python-markdown' (engine commonmark has tables, "
        "strikethrough, autolinks and task lists built in)"
    ]
    _, found = load(
        tmp_path, "title: F\nmarkdown: python-markdown\nmarkdwon: {}\nintake:\n  engine: x\n"
    )
    assert sorted(found) == [
        "forumgen.yaml:2: 'markdown' must be a mapping of keys",
        "forumgen.yaml:3: unknown config key 'markdwon' (did you mean 'markdown'?)",
        "forumgen.yaml:5: unknown config key 'intake.engine'",
    ]
