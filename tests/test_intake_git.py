"""Git mode in real temporary repositories with a bare remote."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from conftest import SiteFactory
from servers import gunicorn


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def repository(site: SiteFactory, tmp_path: Path, **intake: str) -> Path:
    site.save_config(intake={"git": "commit", "rate_limit": "100/second", **intake})
    site.topic("hello")
    site.write(".gitignore", "output/\n.forumgen/\n")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    git(site.root, "init", "--quiet", "-b", "main")
    git(site.root, "-c", "user.name=Owner", "-c", "user.email=o@example.org", "commit",
        "--quiet", "--allow-empty", "-m", "empty")
    git(site.root, "add", "-A")
    git(site.root, "-c", "user.name=Owner", "-c", "user.email=o@example.org", "commit",
        "--quiet", "-m", "forum")
    git(site.root, "remote", "add", "origin", str(remote))
    return remote


def wait_for_ref(remote: Path, ref: str, commit: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done = subprocess.run(["git", "rev-parse", "--verify", "-q", ref], cwd=remote,
                              capture_output=True, text=True)
        if done.stdout.strip() == commit:
            return
        time.sleep(0.1)
    raise AssertionError(f"{ref} never reached {commit}")


def test_each_post_is_committed_and_pushed(site: SiteFactory, tmp_path: Path) -> None:
    remote = repository(site, tmp_path, git_push="origin", moderation="publish")
    with gunicorn(site.root, workers=2) as server:
        answers = [server.post("/topics/hello/replies", {"author": "Git Gus", "body": f"n{n}"},
                               json_api=True) for n in range(3)]
        assert [a.status for a in answers] == [201, 201, 201]
        head = git(site.root, "rev-parse", "HEAD")
        wait_for_ref(remote, "refs/heads/main", head)
    log = git(site.root, "log", "--format=%an|%s", "-3").splitlines()
    ids = [a.json()["id"] for a in answers]
    assert log == [f"forumgen intake|intake: reply {post_id}" for post_id in reversed(ids)]
    assert git(site.root, "status", "--porcelain") == ""


def test_review_branch_leaves_the_checkout_alone(site: SiteFactory, tmp_path: Path) -> None:
    repository(site, tmp_path, git_branch="incoming")
    head = git(site.root, "rev-parse", "HEAD")
    with gunicorn(site.root, workers=2) as server:
        answer = server.post("/topics/hello/replies", {"author": "Rita", "body": "review me"},
                             json_api=True)
    assert answer.status == 201
    post_id = answer.json()["id"].split("/")[1]
    assert git(site.root, "rev-parse", "HEAD") == head
    assert git(site.root, "log", "--format=%s", "-1", "incoming") == \
        f"intake: reply hello/{post_id}"
    files = git(site.root, "ls-tree", "-r", "--name-only", "incoming").splitlines()
    assert f"pending/topics/hello/{post_id}.md" in files
    assert "content/topics/hello/topic.md" in files
    assert (site.root / f"pending/topics/hello/{post_id}.md").is_file()


def test_git_failure_keeps_the_post_and_shows_on_health(site: SiteFactory) -> None:
    site.save_config(intake={"git": "commit", "rate_limit": "100/second"})
    site.topic("hello")  # not a git repository: every commit fails
    with gunicorn(site.root, workers=2) as server:
        answer = server.post("/topics/hello/replies", {"author": "A", "body": "kept"},
                             json_api=True)
        assert answer.status == 201
        health = server.get("/health").json()
    post_id = answer.json()["id"]
    assert (site.root / f"pending/topics/{post_id}.md").is_file()
    assert health["git"]["ok"] is False
    assert post_id in health["git"]["error"]
