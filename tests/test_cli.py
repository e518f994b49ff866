"""The command line as users type it: init, new, build, check, help, exit codes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner

from conftest import SiteFactory
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
    assert code == 0 and out.startswith("ok: 2 categories, 1 topics, 1 posts"), out
    code, out = run("init", str(tmp_path / "mysite"))
    assert code == 2 and "already exists" in out


def test_new_topic_and_reply_write_valid_files(site: SiteFactory) -> None:
    site.topic("hello")
    result = site.cli("new", "topic", "--title", "Gunicorn: how many workers?",
                      "--category", "help", "--author", "Ann", "--tag", "gunicorn",
                      "--body", "How many?")
    assert result.exit_code == 0, result.output
    path = Path(result.output.strip())
    assert path == site.root / "content/topics/gunicorn-how-many-workers/topic.md"
    front = yaml.safe_load(path.read_text().split("---")[1])
    assert front["title"] == "Gunicorn: how many workers?" and front["tags"] == ["gunicorn"]
    code, out = run("new", "reply", "gunicorn-how-many-workers", "--site", str(site.root),
                    "--author", "Bob", "--reply-to", "topic", "--body", "-",
                    stdin="Two per core.\n")
    assert code == 0, out
    reply = Path(out.strip())
    assert reply.parent == path.parent
    assert reply.stem[:16].endswith("Z") and len(reply.stem) == 23
    assert site.cli("check").exit_code == 0


def test_new_topic_refusals(site: SiteFactory) -> None:
    site.topic("hello")
    result = site.cli("new", "topic", "--title", "X", "--category", "nope", "--author", "A")
    assert result.exit_code == 2 and "unknown category 'nope'" in result.output
    result = site.cli("new", "topic", "--title", "X", "--category", "help", "--author", "A",
                      "--slug", "HELLO")
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
    done = subprocess.run([str(script), "build", "--site", str(site.root)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"\d+ files in .+/output: \d+ written, 0 unchanged, 0 removed; "
                        r"\d+ pages rendered in \d+\.\d\d s\n", done.stdout), done.stdout
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
