"""benchmarks.form_posts: browser form posts to the intake under gunicorn, each counted
under the answer it got, and each post answered 303 looked for on the page it names.

No figure is asserted, only counts: how fast the machine is changes the latencies, never
which answer a post gets or whether it is on its page.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from benchmarks import form_posts
from benchmarks.post_to_page import targets


def table(output: str) -> dict[str, str]:
    """The command's Markdown table as {column: cell}: it has one row."""
    lines = [line for line in output.splitlines() if line.startswith("|")]
    assert len(lines) == 3, output
    header, _, row = ([cell.strip() for cell in line.strip("|").split("|")] for line in lines)
    return dict(zip(header, row, strict=True))


def test_the_command_prints_its_table_and_every_post_is_on_its_page() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.form_posts", "--topics", "20", "--posts", "8"]
        + ["--clients", "4"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    cells = table(done.stdout)
    assert (cells["topics"], cells["posts"], cells["clients"]) == ("20", "8", "4")
    assert cells["answered 303"] == "8"
    assert cells["other answers"] == "-"
    assert cells["303 but not on its page"] == "0"
    assert int(cells["rebuilds"]) >= 1
    assert float(cells["p50 s"]) <= float(cells["p90 s"]) <= float(cells["max s"])


def test_usage_errors_exit_2_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.form_posts", "--clients", "0"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "--clients" in done.stderr and "Traceback" not in done.stderr


def prepared(root: Path) -> Path:
    form_posts.prepare(root, 20)
    return root


def test_a_refused_post_is_counted_and_reported_as_not_303(tmp_path: Path) -> None:
    """Two of the four topics posted to are locked: the intake refuses their replies
    (403), which the report must count apart from the 303s and name."""
    site = prepared(tmp_path / "forum")
    chosen = targets(site, 4)
    for slug in chosen[:2]:
        opening = site / "content/topics" / slug / "topic.md"
        opening.write_text(opening.read_text("utf-8").replace("---\n", "---\nlocked: true\n", 1))
    report = form_posts.run(site, posts=4, clients=2)
    assert sorted((a.topic, a.status) for a in report.answers) == sorted(
        [(slug, 403) for slug in chosen[:2]] + [(slug, 303) for slug in chosen[2:]]
    )
    assert len(report.redirected) == 2 and report.missing == []
    cells = table(report.table())
    assert (cells["answered 303"], cells["other answers"]) == ("2", "403: 2")
    problems = "\n".join(report.problems())
    assert all(f"not answered 303: {slug} (403)" in problems for slug in chosen[:2])


def test_a_post_answered_303_but_not_on_its_page_is_reported(tmp_path: Path) -> None:
    """In queue mode the intake answers 303 to the topic's last page with the anchor of
    its "awaiting moderation" notice, which every topic page has: the post is not on the
    page, and the report must say so."""
    site = prepared(tmp_path / "forum")
    config = yaml.safe_load((site / "forumgen.yaml").read_text("utf-8"))
    config["intake"]["moderation"] = "queue"
    (site / "forumgen.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    report = form_posts.run(site, posts=3, clients=3)
    assert [a.status for a in report.answers] == [303] * 3
    assert all(a.location.endswith("#awaiting-moderation") for a in report.answers)
    assert sorted(report.missing, key=str) == sorted(report.answers, key=str)
    assert table(report.table())["303 but not on its page"] == "3"
    assert len([p for p in report.problems() if "not on its page" in p]) == 3
