"""Reading content: every malformed input is reported as path:line, all in one run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import SiteFactory, snapshot
from forumgen.build import load
from forumgen.content import parse_date, render_post, split_front_matter
from forumgen.errors import SiteError


def problems(site: SiteFactory) -> list[str]:
    with pytest.raises(SiteError) as caught:
        load(site.root)
    return [str(p) for p in caught.value.problems]


def test_valid_site_loads_into_model(site: SiteFactory) -> None:
    site.topic("hello", title="Hello", tags=["intro", "News"], replies=2)
    site.reply("hello", "zz-late", date="2024-03-01T00:00:00Z", reply_to="r0001")
    site.reply("hello", "hidden-one", date="2024-03-02T00:00:00Z", hidden=True)
    config, model = load(site.root)
    topic = model.topics[0]
    assert [p.id for p in topic.posts] == ["topic", "r0000", "r0001", "zz-late"]
    assert topic.tags == ("intro", "News")
    assert topic.posts[3].reply_to == "r0001"
    assert config.title == "Test forum"


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("title: x\n", 1, "no front matter"),
        ("---\ntitle: x\n", 1, "front matter is not closed"),
        (
            "---\ntitle: x\nauthor: a: b\ndate: 2024-01-01\n---\nbody\n",
            3,
            "YAML syntax error: mapping values are not allowed",
        ),
        (
            "---\ntitle: Hi\nauthor: Ann\ndate: 2024-01-01\n---\nbody\n",
            2,
            "missing required field 'category'",
        ),
        (
            "---\ntitle: Hi\nauthor: Ann\ndate: 2024-01-01\ncategory: genral\n---\nbody\n",
            5,
            "unknown category 'genral' (did you mean 'general'?)",
        ),
        (
            "---\ntitle: Hi\nauthor: Ann\ndate: yesterday\ncategory: general\n---\nbody\n",
            4,
            "unparsable date 'yesterday'",
        ),
        (
            "---\ntitle: Hi\nauthor: Ann\ndate: 2024-01-01\ncategory: general\n---\n\n  \n",
            7,
            "empty body",
        ),
        (
            "---\ntitle: Hi\nauthor: Ann\ndate: 2024-01-01\ncategory: general\n"
            "pined: true\n---\nx\n",
            6,
            "unknown front matter key 'pined' (did you mean 'pinned'?)",
        ),
        (
            "---\ntitle: Hi\nauthor: Ann\ndate: 2024-01-01\ncategory: general\n"
            "locked: maybe\n---\nx\n",
            6,
            "'locked' must be true or false",
        ),
        (
            "---\ntitle: Hi\nauthor: Ann\ndate: 2024-01-01\ncategory: general\n"
            "title: Hello\n---\nx\n",
            6,
            "duplicate key 'title' (first on line 2)",
        ),
        (
            '---\ntitle: "Hi\nauthor: Ann\ndate: 2024-01-01\ncategory: general\n---\nx\n',
            2,
            'YAML syntax error: unclosed quote: the " opened here (column 8) is never closed',
        ),
        (
            '---\ntitle: "Hi\nauthor: "Ann"\ndate: 2024-01-01\ncategory: general\n---\nx\n',
            2,
            'YAML syntax error: unclosed quote: the " opened here (column 8) runs on to line 3',
        ),
    ],
)
def test_malformed_topic_file_is_located(
    site: SiteFactory, text: str, line: int, message: str
) -> None:
    site.write("content/topics/bad/topic.md", text)
    found = problems(site)
    assert len(found) == 1, found
    assert found[0].startswith(f"content/topics/bad/topic.md:{line}: {message}"), found


def test_not_utf8_names_the_line(site: SiteFactory) -> None:
    site.write(
        "content/topics/latin/topic.md", "---\ntitle: Caf\xe9\nauthor: Ann\n".encode("latin-1")
    )
    assert problems(site) == [
        "content/topics/latin/topic.md:2: not UTF-8 text (byte 0xe9); save the file as UTF-8"
    ]


def test_reply_to_unknown_post(site: SiteFactory) -> None:
    site.topic("hello", replies=1)
    site.reply("hello", "r9", reply_to="r0001", body="answer")
    found = problems(site)
    assert found == [
        "content/topics/hello/r9.md:4: reply_to 'r0001' names no post of topic "
        "'hello' (did you mean 'r0000'?)"
    ]


def test_slugs_differing_only_in_case(site: SiteFactory) -> None:
    site.topic("Hello")
    site.topic("hello")
    found = problems(site)
    assert len(found) == 1
    assert "differs only in case" in found[0]
    assert found[0].startswith("content/topics/")


@pytest.mark.parametrize("slug", ["with space", ".hidden-ish", "a..b", "semi;colon", "a--b"])
def test_unsafe_topic_slug(site: SiteFactory, slug: str) -> None:
    site.topic("fine")
    (site.root / "content/topics/fine").rename(site.root / "content/topics" / slug)
    found = problems(site) if not slug.startswith(".") else None
    if found is not None:
        assert found == [
            f"content/topics/{slug}:1: unsafe topic slug {slug!r}: use letters "
            "and digits joined by '-' (no spaces, dots or slashes)"
        ]
    else:  # dot-folders are ignored like any hidden file, never published
        _, model = load(site.root)
        assert model.topics == []


def test_unsafe_reply_id(site: SiteFactory) -> None:
    site.topic("hello")
    site.write("content/topics/hello/bad id.md", "---\nauthor: A\ndate: 2024-01-02\n---\nx\n")
    assert problems(site) == [
        "content/topics/hello/bad id.md:1: unsafe post id 'bad id': name "
        "reply files with letters and digits joined by '-'"
    ]


def test_all_problems_in_one_run(site: SiteFactory) -> None:
    site.topic("one", category="nope")
    site.topic("two", date="not a date")
    site.write("content/topics/three/topic.md", "no front matter")
    site.topic("four")
    site.reply("four", "r1", body="")
    found = problems(site)
    assert len(found) == 4, found
    assert [f.split(":")[0] for f in found] == sorted(f.split(":")[0] for f in found)


def test_missing_topic_file_and_categories(site: SiteFactory) -> None:
    (site.root / "content/topics/empty").mkdir(parents=True)
    (site.root / "content/categories.yaml").unlink()
    found = problems(site)
    assert "content/categories.yaml:1: missing: list the forum's categories here" in found[0]
    assert found[1].startswith("content/topics/empty/topic.md:1: missing")


def test_bad_categories_file(site: SiteFactory) -> None:
    site.write(
        "content/categories.yaml",
        "- slug: ok\n  name: OK\n- slug: ../up\n  name: x\n"
        "- slug: ok\n  name: again\n- slug: x\n  colour: red\n"
        f"- slug: {'a' * 256}\n  name: Too long for a folder's name\n",
    )
    found = problems(site)
    assert found == [
        "content/categories.yaml:3: unsafe category slug '../up': use letters and digits "
        "joined by '-', at most 255 bytes",
        "content/categories.yaml:5: duplicate category slug 'ok'",
        "content/categories.yaml:7: unknown category key 'colour'",
        f"content/categories.yaml:9: unsafe category slug '{'a' * 256}': use letters and "
        "digits joined by '-', at most 255 bytes",
    ]


def test_crlf_and_bom_are_accepted(site: SiteFactory) -> None:
    site.write(
        "content/topics/win/topic.md",
        b"\xef\xbb\xbf---\r\ntitle: Windows\r\n"
        b"author: Ann\r\ndate: 2024-01-01\r\ncategory: general\r\n---\r\nBody\r\n",
    )
    _, model = load(site.root)
    assert model.topics[0].title == "Windows"
    assert model.topics[0].opening.body == "Body\n"


def test_dates_without_offset_use_site_timezone(site: SiteFactory) -> None:
    site.save_config(timezone="Asia/Shanghai")
    site.topic("tz", date="2024-05-01 08:00")
    _, model = load(site.root)
    assert model.topics[0].opening.date.utcoffset().total_seconds() == 8 * 3600


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01",
        "2024-05-01T10:00:00Z",
        "2024-05-01 10:00:00+02:00",
        "20240501T100000Z",
        "2024-05-01T10:00:00.123+05:30",
    ],
)
def test_parse_date_forms(text: str) -> None:
    from datetime import timezone

    assert parse_date(text, timezone.utc).year == 2024


def test_output_untouched_when_content_is_broken(site: SiteFactory) -> None:
    site.topic("hello", replies=3)
    site.build()
    before = snapshot(site.output)
    site.topic("broken", category="missing")
    result = site.cli("build")
    assert result.exit_code == 1
    assert "content/topics/broken/topic.md:5: unknown category 'missing'" in result.output
    assert snapshot(site.output) == before


def test_written_post_round_trips_hostile_text(tmp_path: Path) -> None:
    body = "---\ntitle: injected\n---\n<script>alert(1)</script>\n"
    front = {"author": "evil\n---\ncategory: x", "date": "2024-01-01T00:00:00+00:00"}
    data = render_post(front, body).decode()
    yaml_text, read_body, _ = split_front_matter(data)
    assert yaml.safe_load(yaml_text) == front
    assert read_body == body
