"""Property tests: whatever bytes a hand-edited file or a visitor's form holds, the readers
answer with a value or a located problem, never an uncaught exception, and what forumgen
writes it reads back unchanged."""

from __future__ import annotations

import os
import string
from collections import Counter
from pathlib import Path
from tempfile import TemporaryDirectory

import lxml.html
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forumgen import mailbody, markup
from forumgen.config import load_config
from forumgen.content import read_post_file, read_topic, write_post
from forumgen.errors import Problems
from forumgen.model import MAX_SLUG_BYTES, is_safe_slug, slugify
from intake import validate
from intake.validate import FieldErrors

# FORUMGEN_FUZZ=long runs twenty times as many examples of each property.
for name, examples in (("default", 150), ("long", 3000)):
    settings.register_profile(
        name, max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
settings.load_profile(os.environ.get("FORUMGEN_FUZZ", "default"))

# Text that looks like front matter often enough to reach past the first checks.
yaml_words = st.sampled_from(
    [
        "---",
        "title:",
        "author:",
        "date:",
        "category:",
        "tags:",
        "reply_to:",
        "hidden:",
        "true",
        "[",
        "]",
        "{",
        "}",
        ": ",
        "- ",
        "'",
        '"',
        "\n",
        "\t",
        "  ",
        "2024-01-01T10:00:00Z",
        "\\",
        "é",
        "中文",
        "\u202e",
        "\x00",
        "&",
        "*a",
        "!!python/object",
    ]
)
front_like = st.lists(st.one_of(yaml_words, st.text(max_size=8)), max_size=40).map("".join)
file_bytes = st.one_of(
    st.binary(max_size=300),
    front_like.map(str.encode),
    st.tuples(front_like, front_like).map(
        lambda t: f"---\n{t[0]}\n---\n{t[1]}".encode("utf-8", "replace")
    ),
)


def located(problems: Problems, path: Path) -> bool:
    """Every problem names a file under the site and a line that exists in it."""
    return all(p.line >= 1 and p.path and not p.path.startswith("/") for p in problems.items)


@given(data=file_bytes)
def test_post_files_parse_or_fail_with_a_located_problem(data: bytes) -> None:
    with TemporaryDirectory() as tmp:
        site = Path(tmp)
        path = site / "content/topics/t/20240101T000000Z-abcdef.md"
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        problems = Problems(site)
        parsed = read_post_file(path, problems)
        assert (parsed is None) == bool(problems.items)
        assert located(problems, path)
        if parsed is not None:
            assert isinstance(parsed.front.values, dict) and isinstance(parsed.body, str)


@given(opening=file_bytes, reply=file_bytes, config=file_bytes)
def test_topics_and_config_read_or_fail_with_located_problems(
    opening: bytes, reply: bytes, config: bytes
) -> None:
    with TemporaryDirectory() as tmp:
        site = Path(tmp)
        (site / "forumgen.yaml").write_bytes(config)
        problems = Problems(site)
        loaded = load_config(site, problems)
        assert (loaded is None) or isinstance(loaded.title, str)
        assert located(problems, site / "forumgen.yaml")
        if loaded is None:
            return
        folder = site / "content/topics/fuzzed"
        folder.mkdir(parents=True)
        (folder / "topic.md").write_bytes(opening)
        (folder / "20240101T000000Z-abcdef.md").write_bytes(reply)
        problems = Problems(site)
        topic = read_topic(folder, loaded, problems)
        assert (topic is None) == bool(problems.items)
        assert located(problems, folder)


@given(text=st.one_of(st.text(), st.text(min_size=40, max_size=400).map(lambda t: t * 8)))
def test_slugs_never_escape_their_folder(text: str) -> None:
    slug = slugify(text)
    assert slug == "" or is_safe_slug(slug)
    assert slugify(slug) == slug
    assert len(slug.encode()) <= MAX_SLUG_BYTES  # a file name takes 255
    if is_safe_slug(text):
        assert not set(text) & set("/\\.\0 ") and not text.startswith("-")
        assert all(c.isalnum() or c == "-" for c in text)


form_values = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "",
            " ",
            "a",
            "<script>alert(1)</script>",
            "x" * 20001,
            "a@b.c",
            "\r\n",
            "\u202e",
            "topic",
            "---\ntitle: injected\n---",
            "a,b,c,d,e,f",
            "general",
        ]
    ),
)
forms = st.dictionaries(
    st.sampled_from(
        ["author", "email", "body", "reply_to", "title", "category", "tags", "website", "other"]
    ),
    form_values,
)


@given(fields=forms)
def test_intake_forms_give_a_submission_or_named_field_errors(fields: dict[str, str]) -> None:
    topic = validate.TopicInfo("hello", "Hello", False, frozenset({"topic", "r1"}))
    for parse in (
        lambda: validate.reply(fields, topic, 20000, reserved=lambda name: False),
        lambda: validate.new_topic(fields, 20000, reserved=lambda name: False),
    ):
        try:
            submission = parse()
        except FieldErrors as errors:
            assert errors.errors and all(isinstance(m, str) and m for m in errors.errors.values())
            continue
        assert submission.author.strip() and "\n" not in submission.author
        assert slugify(submission.author)
        assert submission.body.strip() and len(submission.body) <= 20000
        assert not set(submission.body) & {chr(c) for c in range(32) if chr(c) not in "\n\t"}


printable_key_values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)


@given(
    author=printable_key_values,
    title=printable_key_values,
    body=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1),
    tags=st.lists(
        st.text(alphabet=string.ascii_letters + "中文é -", min_size=1, max_size=10), max_size=4
    ),
)
def test_written_posts_read_back_unchanged(
    author: str, title: str, body: str, tags: list[str]
) -> None:
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "post.md"
        front = {"title": title, "author": author, "date": "2024-01-01T10:00:00Z", "tags": tags}
        write_post(path, front, body, durable=False)
        problems = Problems(Path(tmp))
        parsed = read_post_file(path, problems)
        assert parsed is not None, problems.items
        assert parsed.front.values == front
        expected = body.replace("\r\n", "\n").replace("\r", "\n")
        assert parsed.body == (expected if expected.endswith("\n") else expected + "\n")


# Mail text made of what mail holds: quotes, patches, separators, links, markup-like text.
mail_words = st.sampled_from(
    [
        ">",
        "> ",
        ">>",
        "> > ",
        "-- ",
        "--",
        "---",
        "diff --git a/x b/x",
        "--- a/x",
        "+++ b/x",
        "@@ -1,2 +1,2 @@",
        "@@ -1 +1 @@",
        "+",
        "-",
        " ",
        "\\ No newline at end of file",
        "\n",
        "\n\n",
        "\t",
        "https://e.org/(a).",
        "mailto:",
        "<script>",
        "&amp;",
        "{{ x }}",
        "中文",
        "GIT binary patch",
        "literal 5",
        "On Mon, X wrote:",
        "_" * 12,
        "-----Original Message-----",
    ]
)
mail_text = st.lists(
    st.one_of(
        mail_words,
        st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Co")), max_size=6),
    ),
    max_size=80,
).map("".join)


@given(text=mail_text)
def test_a_mail_body_shows_each_of_its_characters_once(text: str) -> None:
    """Whatever a mail holds, its HTML is of the allowed elements only, and shows every
    character of the text (quote marks and spaces aside) exactly once."""
    labels = ("\ue000", "\ue001")  # private use: never in the text
    rendered = mailbody.render(text, labels)
    assert rendered == mailbody.render(text, labels)
    root = lxml.html.fragment_fromstring(rendered)
    assert {e.tag for e in root.iter()} <= markup.ALLOWED_TAGS
    shown = Counter(
        c for c in root.text_content() if not c.isspace() and c != ">" and c not in labels
    )
    assert shown == Counter(c for c in text if not c.isspace() and c != ">")
