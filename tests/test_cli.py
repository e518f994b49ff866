"""The command line as users type it: init, new, build, check, help, exit codes."""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner

from conftest import SiteFactory, snapshot
from forumgen.cli import main


def run(*args: str, cwd: Path | None = None, stdin: str | None = None) -> tuple[int, str]:
    runner = CliRunner()
    old = Path.cwd()
    try:
        if cwd:
            os.chdir(cwd)
        result = runner.invoke(main, list(args), input=stdin)
    finally:
        os.chdir(old)
    return result.exit_code, result.output


def test_init_then_build_then_check(tmp_path: Path) -> None:
    code, out = run("init", str(tmp_path / "mysite"), "--title", "Birdwatchers")
    assert code == 0, out
    assert "created" in out
    code, out = run("build", cwd=tmp_path / "mysite")
    assert code == 0, out
    assert (tmp_path / "mysite/output/t/welcome/index.html").is_file()
    assert "Birdwatchers" in (tmp_path / "mysite/output/index.html").read_text()
    code, out = run("check", cwd=tmp_path / "mysite/content/topics")
    assert code == 0 and out.startswith("ok: 2 categories, 1 topic, 1 post"), out
    code, out = run("init", str(tmp_path / "mysite"))
    assert code == 2 and "already exists" in out


def test_new_topic_and_reply_write_valid_files(site: SiteFactory) -> None:
    site.topic("hello")
    result = site.cli(
        "new",
        "topic",
        "--title",
        "Gunicorn: how many workers?",
        "--category",
        "help",
        "--author",
        "Ann",
        "--tag",
        "gunicorn",
        "--body",
        "How many?",
    )
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip())
    assert path == site.root / "content/topics/gunicorn-how-many-workers/topic.md"
    front = yaml.safe_load(path.read_text().split("---")[1])
    assert front["title"] == "Gunicorn: how many workers?" and front["tags"] == ["gunicorn"]
    code, out = run(
        "new",
        "reply",
        "gunicorn-how-many-workers",
        "--site",
        str(site.root),
        "--author",
        "Bob",
        "--reply-to",
        "topic",
        "--body",
        "-",
        stdin="Two per core.\n",
    )
    assert code == 0, out
    reply = Path(out.strip())
    assert reply.parent == path.parent
    assert reply.stem[:16].endswith("Z") and len(reply.stem) == 23
    assert site.cli("check").exit_code == 0


def test_new_topic_refusals(site: SiteFactory) -> None:
    site.topic("hello")
    result = site.cli("new", "topic", "--title", "X", "--category", "nope", "--author", "A")
    assert result.exit_code == 2 and "unknown category 'nope'" in result.output
    result = site.cli(
        "new", "topic", "--title", "X", "--category", "help", "--author", "A", "--slug", "HELLO"
    )
    assert result.exit_code == 2 and "already exists" in result.output
    result = site.cli("new", "reply", "../etc", "--author", "A", "--body", "x")
    assert result.exit_code == 2 and "no topic '../etc'" in result.output


def test_check_reports_all_problems_and_writes_nothing(site: SiteFactory) -> None:
    site.topic("one", category="nope")
    site.topic("two", date="someday")
    result = site.cli("check")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("content/topics/one/topic.md:5: unknown category 'nope'")
    assert lines[1].startswith("content/topics/two/topic.md:4: unparsable date 'someday'")
    assert lines[2] == "2 problems found; nothing was written."
    assert not (site.root / "output").exists()


def test_check_stops_where_the_build_stops_and_writes_nothing(site: SiteFactory) -> None:
    """check runs the build's own load phase: Markdown too deep for a renderer stops both
    at its file and line (the renderer is asked, not only the parser), and check leaves
    every file of the site as it was."""
    site.topic("hello")
    site.reply("hello", "deep", body="> " * 40 + "Too deep.")
    before = snapshot(site.root)
    checked = site.cli("check")
    assert checked.exit_code == 1, checked.output
    first = checked.output.splitlines()[0]
    assert first.startswith("content/topics/hello/deep.md:1: the text is too complex"), first
    assert snapshot(site.root) == before
    built = site.cli("build", "--jobs", "1")
    assert built.exit_code == 1 and built.output.splitlines()[0] == first, built.output
    site.reply("hello", "deep", body="Not so deep.")
    checked = site.cli("check")
    assert checked.exit_code == 0, checked.output
    assert checked.output == "ok: 2 categories, 1 topic, 2 posts\n"


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    code, out = run("build", cwd=tmp_path)
    assert code == 2 and "no forumgen.yaml" in out
    code, out = run("build", "--jobs", "0", cwd=tmp_path)
    assert code == 2


def test_help_explains_commands() -> None:
    code, out = run("--help")
    assert code == 0
    for command in ("init", "new", "build", "check"):
        assert command in out
    code, out = run("build", "--help")
    assert "--clean" in out and "--base-url" in out and "--jobs" in out


def test_console_script_summary_line(site: SiteFactory) -> None:
    site.topic("hello", replies=2)
    script = Path(sys.executable).parent / "forumgen"
    done = subprocess.run(
        [str(script), "build", "--site", str(site.root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(
        r"\d+ files in .+/output: \d+ written, 0 unchanged, 0 removed; "
        r"\d+ pages rendered in \d+\.\d\d s\n",
        done.stdout,
    ), done.stdout
    assert done.stderr == ""  # no progress bar when not on a terminal


def test_unwritable_output_is_a_message_not_a_traceback(site: SiteFactory) -> None:
    site.topic("hello")
    site.build()
    shutil.rmtree(site.output / "t")
    (site.output / "t").write_text("a file where a folder of pages should be")
    result = site.cli("build", "--jobs", "1")
    assert result.exit_code == 1, result.output
    assert "cannot build: Not a directory" in result.output, result.output
    assert "Traceback" not in result.output
    (site.output / "t").unlink()
    site.build()  # the next build finishes the job
    assert (site.output / "t/hello/index.html").is_file()


def at_terminal(site: SiteFactory, *args: str, editor: str | None) -> tuple[int, str]:
    """Run the real command the way a person at a terminal does: stdin, stdout and stderr
    on a pseudo-terminal, with `editor` as $EDITOR (None: no editor anywhere on PATH)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VISUAL", "EDITOR")}
    if editor is None:
        env["PATH"] = str(site.root / "no-editors-here")
    else:
        env["EDITOR"] = editor
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "forumgen", *args, "--site", str(site.root)],
            stdin=follower,
            stdout=follower,
            stderr=follower,
            env=env,
        )
    finally:
        os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the command and its editor have closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    return process.wait(timeout=60), output.decode().replace("\r\n", "\n")


def topic_folders(site: SiteFactory) -> list[str]:
    return sorted(p.name for p in (site.root / "content/topics").iterdir())


def body_of(path: Path) -> str:
    return path.read_text().split("---\n", 2)[2]


def test_new_topic_opens_the_editor_on_a_terminal(site: SiteFactory) -> None:
    site.topic("hello")
    seen = site.root.parent / "template.md"
    # Like a person: reads the template, types a line above the comment, saves.
    editor = (
        f'/bin/sh -c \'cp "$1" {seen} && printf "Seen a hoopoe.\\n" | '
        'cat - "$1" > "$1.new" && mv "$1.new" "$1"\' editor'
    )
    code, out = at_terminal(
        site,
        "new",
        "topic",
        "--title",
        "Hoopoes",
        "--category",
        "general",
        "--author",
        "Ann",
        editor=editor,
    )
    assert code == 0, out
    path = site.root / "content/topics/hoopoes/topic.md"
    assert str(path) in out and "placeholder" not in out
    assert 'Write the opening post of "Hoopoes"' in seen.read_text()
    assert body_of(path) == "Seen a hoopoe.\n"  # the template's comment is left out
    assert site.cli("check").exit_code == 0


def test_new_topic_editor_failing_or_left_empty_writes_nothing(site: SiteFactory) -> None:
    site.topic("hello")
    for editor, message in (
        ("/bin/sh -c 'exit 3'", "failed or exited with an error"),
        ("/bin/true", "the post is empty"),
    ):
        code, out = at_terminal(
            site,
            "new",
            "topic",
            "--title",
            "Hoopoes",
            "--category",
            "general",
            "--author",
            "Ann",
            editor=editor,
        )
        assert code == 1 and message in out and "nothing was written" in out, out
        assert topic_folders(site) == ["hello"]


def test_new_topic_without_editor_writes_a_placeholder_and_says_so(site: SiteFactory) -> None:
    site.topic("hello")
    code, out = at_terminal(
        site,
        "new",
        "topic",
        "--title",
        "Hoopoes",
        "--category",
        "general",
        "--author",
        "Ann",
        editor=None,
    )
    assert code == 0, out
    path = site.root / "content/topics/hoopoes/topic.md"
    assert (
        f"{path}: holds a placeholder text because no editor was found (set $VISUAL or "
        "$EDITOR); write the post in this file"
    ) in out
    assert body_of(path) == "Write the opening post here.\n"
    # Off a terminal (a script): the same placeholder, the path on stdout, the note on stderr.
    result = CliRunner().invoke(
        main,
        [
            "new",
            "topic",
            "--title",
            "Egrets",
            "--category",
            "general",
            "--author",
            "Ann",
            "--site",
            str(site.root),
        ],
    )
    assert result.exit_code == 0, result.output
    path = site.root / "content/topics/egrets/topic.md"
    assert result.stdout == f"{path}\n"
    assert result.stderr.startswith(
        f"{path}: holds a placeholder text because this is not a terminal"
    )
    assert body_of(path) == "Write the opening post here.\n"
    assert site.cli("check").exit_code == 0


def test_new_reply_editor_and_placeholder(site: SiteFactory) -> None:
    site.topic("hello", replies=1)
    seen = site.root.parent / "template.md"
    code, out = at_terminal(
        site,
        "new",
        "reply",
        "hello",
        "--author",
        "Bob",
        "--reply-to",
        "r0000",
        editor=f'/bin/sh -c \'cp "$1" {seen} && echo Agreed. > "$1"\' editor',
    )
    assert code == 0, out
    assert 'Write your reply to post r0000 of "Hello" above this comment' in seen.read_text()
    written = Path(out.strip())
    assert written.parent == site.root / "content/topics/hello"
    assert body_of(written) == "Agreed.\n"
    assert "reply_to: r0000" in written.read_text()
    result = site.cli("new", "reply", "hello", "--author", "Bob")
    assert result.exit_code == 0, result.output
    assert body_of(Path(result.stdout.strip())) == "Write the reply here.\n"
    assert "holds a placeholder" in result.stderr
    code, out = at_terminal(site, "new", "reply", "hello", "--author", "Bob", editor="/bin/true")
    assert code == 1 and "the post is empty; nothing was written" in out
    assert len(list((site.root / "content/topics/hello").glob("*.md"))) == 4
    assert site.cli("check").exit_code == 0


def test_new_reply_refuses_an_unknown_reply_to(site: SiteFactory) -> None:
    site.topic("hello", replies=8)
    result = site.cli(
        "new", "reply", "hello", "--author", "Bob", "--reply-to", "r0009", "--body", "Yes."
    )
    assert result.exit_code == 2
    assert (
        "no post 'r0009' in topic 'hello' (did you mean 'r0007'?); its posts: topic, "
        "r0003, r0004, r0005, r0006, r0007 and 3 more"
    ) in result.output
    assert len(list((site.root / "content/topics/hello").glob("*.md"))) == 9
    result = site.cli(
        "new", "reply", "hello", "--author", "Bob", "--reply-to", "topic", "--body", "Yes."
    )
    assert result.exit_code == 0, result.output


def test_new_posts_while_another_topic_is_broken(site: SiteFactory) -> None:
    site.topic("hello")
    site.write("content/topics/broken/topic.md", "---\ntitle: [oops\n---\nx\n")
    result = site.cli(
        "new",
        "topic",
        "--title",
        "Fine",
        "--category",
        "help",
        "--author",
        "Ann",
        "--body",
        "Still works.",
    )
    assert result.exit_code == 0, result.output
    assert (site.root / "content/topics/fine/topic.md").is_file()
    result = site.cli(
        "new", "topic", "--title", "X", "--category", "nope", "--author", "A", "--body", "x"
    )
    assert (
        result.exit_code == 2 and "unknown category 'nope' (known: general, help)" in result.output
    )


def test_new_refuses_an_empty_body(site: SiteFactory) -> None:
    site.topic("hello")
    result = site.cli(
        "new", "topic", "--title", "X", "--category", "help", "--author", "A", "--body", " "
    )
    assert result.exit_code == 2 and "--body: the post is empty" in result.output
    code, out = run(
        "new",
        "reply",
        "hello",
        "--site",
        str(site.root),
        "--author",
        "A",
        "--body",
        "-",
        stdin="\n",
    )
    assert code == 2 and "the post is empty" in out
    assert topic_folders(site) == ["hello"]
    assert list((site.root / "content/topics/hello").glob("*.md")) == [
        site.root / "content/topics/hello/topic.md"
    ]


def test_site_before_or_after_the_command(site: SiteFactory, tmp_path: Path) -> None:
    site.topic("hello")
    code, out = run("--site", str(site.root), "build", "--jobs", "1", cwd=tmp_path)
    assert code == 0, out
    assert (site.output / "t/hello/index.html").is_file()
    code, out = run(
        "--site",
        str(site.root),
        "new",
        "reply",
        "hello",
        "--author",
        "A",
        "--body",
        "x",
        cwd=tmp_path,
    )
    assert code == 0 and Path(out.strip()).parent == site.root / "content/topics/hello"
    # Both given: the one after the command wins.
    other = tmp_path / "other"
    assert run("init", str(other))[0] == 0
    code, out = run("--site", str(site.root), "check", "--site", str(other), cwd=tmp_path)
    assert code == 0 and out.startswith("ok: 2 categories, 1 topic, 1 post"), out
    code, out = run("--site", str(tmp_path / "missing"), "check", cwd=tmp_path)
    assert code == 2 and "--site" in out and "the folder does not exist" in out, out


def test_missing_site_folder_is_named_as_missing(tmp_path: Path) -> None:
    code, out = run("build", "--site", str(tmp_path / "missing"))
    assert code == 2
    assert f"--site {tmp_path / 'missing'}: the folder does not exist" in out
    code, out = run("build", "--site", str(tmp_path))
    assert code == 2 and "has no forumgen.yaml" in out


def test_base_url_option_checked_like_the_config_key(site: SiteFactory) -> None:
    site.topic("hello")
    result = site.cli("build", "--base-url", "example.org/x")
    assert result.exit_code == 2
    assert (
        "Invalid value for '--base-url': 'example.org/x' must be an absolute http(s) URL"
    ) in result.output
    assert not site.output.exists()
    site.build("--base-url", "https://example.org/x")
    assert "<loc>https://example.org/x/t/hello/</loc>" in (site.output / "sitemap.xml").read_text()


def test_init_prints_paths_and_next_steps_ready_to_paste(tmp_path: Path) -> None:
    code, out = run("init", "my forum", cwd=tmp_path)
    assert code == 0, out
    assert "created 'my forum/forumgen.yaml'" in out
    assert out.splitlines()[-1] == (
        "Next: cd 'my forum' && forumgen serve to preview it; "
        "`forumgen build` renders it into output/ for publishing."
    )
    here = tmp_path / "here"
    here.mkdir()
    code, out = run("init", cwd=here)
    assert code == 0, out
    assert "created forumgen.yaml" in out
    assert out.splitlines()[-1].startswith("Next: forumgen serve to preview it")
    code, out = run("--site", "there", "init", cwd=tmp_path)
    assert code == 0 and (tmp_path / "there/forumgen.yaml").is_file(), out


def test_help_explains_new_and_site() -> None:
    code, out = run("new", "topic", "--help")
    assert code == 0
    flat = " ".join(out.split())
    assert "your editor ($VISUAL, else $EDITOR) opens" in flat
    assert "placeholder" in flat and "an empty post or an editor that fails writes nothing" in flat
    code, out = run("--help")
    assert "--site" in out and "Also accepted after the command" in " ".join(out.split())


def test_init_writes_the_markdown_engine_and_a_wrong_one_stops_the_build(tmp_path: Path) -> None:
    code, out = run("init", str(tmp_path / "site"))
    assert code == 0, out
    config = tmp_path / "site/forumgen.yaml"
    assert yaml.safe_load(config.read_text())["markdown"] == {"engine": "commonmark"}
    code, out = run("build", "--site", str(tmp_path / "site"))
    assert code == 0, out
    before = {p: p.read_bytes() for p in (tmp_path / "site/output").rglob("*") if p.is_file()}
    text = config.read_text()
    config.write_text(
        text.replace("engine: commonmark", "engine: python-markdown\n  extensions: [tabels]")
    )
    line = text.splitlines().index("  engine: commonmark") + 2
    code, out = run("build", "--site", str(tmp_path / "site"))
    assert code == 1
    assert (
        f"forumgen.yaml:{line}: 'markdown.extensions' names 'tabels', which "
        "Python-Markdown cannot load"
        in out
        and "(did you mean 'tables'?)" in out
    )
    assert before == {
        p: p.read_bytes() for p in (tmp_path / "site/output").rglob("*") if p.is_file()
    }


def test_a_broken_config_is_reported_alike_by_check_build_and_the_intake(
    site: SiteFactory,
) -> None:
    # The missing title (line 1) is found after the bad value (line 2): every reader of
    # forumgen.yaml lists them by line, as an editor would walk them.
    site.write("forumgen.yaml", "base_url: http://forum.test/\nposts_per_page: 0\n")
    expected = [
        "forumgen.yaml:1: missing required key 'title'",
        "forumgen.yaml:2: 'posts_per_page' must be a whole number of at least 1",
    ]
    for command in ("check", "build"):
        result = site.cli(command)
        assert result.exit_code == 1
        assert result.output.splitlines()[:2] == expected, result.output
    intake = subprocess.run(
        [sys.executable, "-c", "import intake.wsgi"],
        env={**os.environ, "FORUMGEN_SITE": str(site.root)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert intake.returncode == 1
    assert intake.stderr.splitlines() == [
        f"forumgen intake: cannot start, {site.root} has problems:",
        *expected,
    ], intake.stderr


def test_build_changed_outside_the_site_is_a_usage_error(site: SiteFactory) -> None:
    site.topic("hello", replies=2)
    assert site.cli("build").exit_code == 0
    before = snapshot(site.output)
    outside = site.root.parent / "elsewhere.md"
    for path in (str(outside), "../elsewhere.md"):
        result = site.cli("build", "--changed", "content/topics/hello/topic.md", "--changed", path)
        assert result.exit_code == 2, result.output
        assert f"--changed {path}: not in the site's folder" in result.output
        assert "Traceback" not in result.output
    assert snapshot(site.output) == before


def test_build_changed_takes_a_deleted_topic(site: SiteFactory) -> None:
    """Deleting is a change: the folder named, gone, leaves the site with its pages."""
    site.topic("hello", replies=2)
    site.topic("gone", replies=1)
    assert site.cli("build").exit_code == 0
    shutil.rmtree(site.root / "content/topics/gone")
    result = site.cli("build", "--changed", str(site.root / "content/topics/gone"))
    assert result.exit_code == 0, result.output
    assert not (site.output / "t/gone").exists() and (site.output / "t/hello").is_dir()
