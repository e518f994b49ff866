"""Git mode in real temporary repositories with a bare remote."""

from __future__ import annotations

import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from io import BytesIO
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import SiteFactory
from forumgen.cli import main
from servers import Response, Server, gunicorn


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def repository(site: SiteFactory, tmp_path: Path, **intake: str) -> Path:
    site.save_config(intake={"git": "commit", "rate_limit": "100/second", **intake})
    site.topic("hello")
    site.write(".gitignore", "output/\n.forumgen/\n")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    git(site.root, "init", "--quiet", "-b", "main")
    git(
        site.root,
        "-c",
        "user.name=Owner",
        "-c",
        "user.email=o@example.org",
        "commit",
        "--quiet",
        "--allow-empty",
        "-m",
        "empty",
    )
    git(site.root, "add", "-A")
    git(
        site.root,
        "-c",
        "user.name=Owner",
        "-c",
        "user.email=o@example.org",
        "commit",
        "--quiet",
        "-m",
        "forum",
    )
    git(site.root, "remote", "add", "origin", str(remote))
    return remote


def wait_for_ref(remote: Path, ref: str, commit: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "-q", ref], cwd=remote, capture_output=True, text=True
        )
        if done.stdout.strip() == commit:
            return
        time.sleep(0.1)
    raise AssertionError(f"{ref} never reached {commit}")


def test_each_post_is_committed_and_pushed(site: SiteFactory, tmp_path: Path) -> None:
    remote = repository(site, tmp_path, git_push="origin", moderation="publish")
    with gunicorn(site.root, workers=2) as server:
        answers = [
            server.post(
                "/topics/hello/replies", {"author": "Git Gus", "body": f"n{n}"}, json_api=True
            )
            for n in range(3)
        ]
        assert [a.status for a in answers] == [201, 201, 201]
        head = git(site.root, "rev-parse", "HEAD")
        wait_for_ref(remote, "refs/heads/main", head)
    log = git(site.root, "log", "--format=%an|%s", "-3").splitlines()
    ids = [a.json()["id"] for a in answers]
    assert log == [f"forumgen intake|intake: reply {post_id}" for post_id in reversed(ids)]
    assert git(site.root, "status", "--porcelain") == ""


def test_review_branch_leaves_the_checkout_alone(site: SiteFactory, tmp_path: Path) -> None:
    repository(site, tmp_path, git_branch="incoming", moderation="publish")
    head = git(site.root, "rev-parse", "HEAD")
    with gunicorn(site.root, workers=2) as server:
        answer = server.post(
            "/topics/hello/replies", {"author": "Rita", "body": "review me"}, json_api=True
        )
    assert answer.status == 201
    post_id = answer.json()["id"].split("/")[1]
    assert git(site.root, "rev-parse", "HEAD") == head
    assert (
        git(site.root, "log", "--format=%s", "-1", "incoming") == f"intake: reply hello/{post_id}"
    )
    files = git(site.root, "ls-tree", "-r", "--name-only", "incoming").splitlines()
    assert f"content/topics/hello/{post_id}.md" in files
    assert "content/topics/hello/topic.md" in files
    assert (site.root / f"content/topics/hello/{post_id}.md").is_file()


def test_git_failure_keeps_the_post_and_shows_on_health(site: SiteFactory) -> None:
    site.save_config(intake={"git": "commit", "rate_limit": "100/second", "moderation": "publish"})
    site.topic("hello")  # not a git repository: every commit fails
    with gunicorn(site.root, workers=2) as server:
        answer = server.post(
            "/topics/hello/replies", {"author": "A", "body": "kept"}, json_api=True
        )
        assert answer.status == 201
        health = server.get("/health").json()
    post_id = answer.json()["id"]
    assert (site.root / f"content/topics/{post_id}.md").is_file()
    assert health["git"]["ok"] is False
    assert post_id in health["git"]["error"]


def every_path(repo: Path) -> set[str]:
    """Every file path any commit of any ref in `repo` has touched."""
    return set(git(repo, "log", "--all", "--name-only", "--format=").split())


def every_object(repo: Path) -> str:
    """Every object git holds in `repo`, referenced or not, as text: what a clone, a
    push or a forensic look at the repository could ever reveal."""
    return subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"],
        cwd=repo,
        check=True,
        capture_output=True,
    ).stdout.decode(errors="replace")


@pytest.mark.parametrize("branch", ["", "incoming"])
def test_queued_posts_never_enter_git(site: SiteFactory, tmp_path: Path, branch: str) -> None:
    """Queue mode with git: a waiting post is neither committed nor pushed nor named on
    /health; approving commits and pushes it, a rejected one never reaches git."""
    remote = repository(site, tmp_path, moderation="queue", git_push="origin", git_branch=branch)
    with gunicorn(site.root, workers=2) as server:
        kept = server.post(
            "/topics/hello/replies", {"author": "Quinn", "body": "kept-7a1"}, json_api=True
        )
        dropped = server.post(
            "/topics",
            {"title": "Buy now", "category": "general", "author": "Spammer", "body": "dropped-7b2"},
            json_api=True,
        )
        assert [kept.status, dropped.status] == [201, 201]
        assert kept.json()["status"] == dropped.json()["status"] == "pending"
        health = server.get("/health").text
    kept_id, dropped_id = kept.json()["id"], dropped.json()["id"]
    for repo in (site.root, remote):
        objects = every_object(repo)
        for marker in (kept_id, dropped_id, "kept-7a1", "dropped-7b2"):
            assert marker not in objects, (repo, marker)
        assert not [path for path in every_path(repo) if path.startswith("pending/")]
    assert kept_id.split("/")[1] not in health and dropped_id.split("/")[0] not in health

    approved = site.cli("moderate", "approve", kept_id, "--no-build")
    assert approved.exit_code == 0, approved.output
    rejected = site.cli("moderate", "reject", dropped_id)
    assert rejected.exit_code == 0, rejected.output
    name = branch or "main"
    wanted = f"content/topics/{kept_id}.md"
    for repo in (site.root, remote):
        assert wanted in git(repo, "ls-tree", "-r", "--name-only", name).splitlines()
        assert (
            git(repo, "log", "--format=%an|%s", "-1", name)
            == f"forumgen intake|intake: reply {kept_id}"
        )
        objects = every_object(repo)
        assert "kept-7a1" in objects
        for marker in (dropped_id, "dropped-7b2"):
            assert marker not in objects, (repo, marker)
        assert not [path for path in every_path(repo) if path.startswith("pending/")]


HOST_POSTS = 20


def host_clone(remote: Path, folder: Path) -> Path:
    git(folder.parent, "clone", "--quiet", str(remote), str(folder))
    return folder


def remote_files(remote: Path) -> dict[str, str]:
    """The remote main branch's files under content/, by path."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", "main", "content"],
        cwd=remote,
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        return {
            member.name: tar.extractfile(member).read().decode()  # type: ignore[union-attr]
            for member in tar.getmembers()
            if member.isfile()
        }


def send_posts(host: str, part: int, server: Server) -> Iterator[tuple[str, bool, Response]]:
    """Half of HOST_POSTS posts to one host: replies to hello, and every fourth a new topic
    with the same title on every host, so that two hosts pick the same slug at once."""
    half = HOST_POSTS // 2
    for n in range(part * half, (part + 1) * half):
        marker = f"post {host}-{n} marker"
        if n % 4 == 0:
            yield (
                marker,
                True,
                server.post(
                    "/topics",
                    {"title": "Same title", "category": "general", "author": host, "body": marker},
                    json_api=True,
                ),
            )
        else:
            yield (
                marker,
                False,
                server.post(
                    "/topics/hello/replies", {"author": host, "body": marker}, json_api=True
                ),
            )


def shared_remote(site: SiteFactory, tmp_path: Path) -> Path:
    """The forum in git mode (publish, pushing to origin), its first commit pushed to a
    bare remote that the hosts' clones share."""
    site.save_config(
        intake={
            "git": "commit",
            "git_push": "origin",
            "moderation": "publish",
            "rate_limit": "1000/minute",
        }
    )
    site.topic("hello")
    site.write(".gitignore", "output/\n.forumgen/\npending/\n")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(remote))
    git(site.root, "init", "--quiet", "-b", "main")
    git(site.root, "add", "-A")
    git(
        site.root,
        "-c",
        "user.name=Owner",
        "-c",
        "user.email=o@example.org",
        "commit",
        "--quiet",
        "-m",
        "forum",
    )
    git(site.root, "push", "--quiet", str(remote), "main")
    return remote


def test_two_hosts_push_every_post_to_one_remote(site: SiteFactory, tmp_path: Path) -> None:
    """Two intakes (as behind one load balancer) on two clones of one site, both pushing to
    one remote, take posts at once: pushes that lose a race are put on top of the other
    host's and pushed again, and every answered post ends up on the remote exactly once."""
    remote = shared_remote(site, tmp_path)
    hosts = {name: host_clone(remote, tmp_path / name) for name in ("a", "b")}

    answered: list[tuple[str, bool, Response]] = []
    with ExitStack() as stack:
        servers = {
            name: stack.enter_context(gunicorn(folder, workers=2)) for name, folder in hosts.items()
        }
        lock = threading.Lock()

        def run(name: str, part: int) -> None:
            for sent in send_posts(name, part, servers[name]):
                with lock:
                    answered.append(sent)

        with ThreadPoolExecutor(4) as pool:  # two threads per host
            list(pool.map(run, ["a", "b", "a", "b"], [0, 0, 1, 1]))
        ok = [(marker, topic) for marker, topic, answer in answered if answer.status == 201]
        assert len(ok) == len(answered) == 2 * HOST_POSTS
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            texts = "\n".join(remote_files(remote).values())
            if all(marker in texts for marker, _ in ok):
                break
            for server in servers.values():  # a host retries pushes that failed on requests
                server.get("/health")
            time.sleep(0.5)

    files = remote_files(remote)
    replies = {answer.json()["id"] for _, topic, answer in answered if not topic}
    assert len(replies) == len([topic for _, topic, _ in answered if not topic])
    for marker, topic in ok:
        holding = [path for path, text in files.items() if marker in text]
        assert len(holding) == 1, (marker, holding)
        assert holding[0].endswith("/topic.md") == topic
    for marker, topic, answer in answered:
        if not topic:  # a reply keeps the id its visitor was given
            assert files[f"content/topics/{answer.json()['id']}.md"].count(marker) == 1
    assert len(files) == 2 + len(answered)  # categories.yaml, hello's topic.md, the posts
    assert not [path for path, text in files.items() if "<<<<<<<" in text]
    assert git(remote, "log", "--merges", "--format=%H", "main") == ""
    for folder in hosts.values():
        assert git(folder, "status", "--porcelain", "--untracked-files=no") == ""
        assert not (folder / ".git/rebase-merge").exists()
    check = tmp_path / "check"
    check.mkdir()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", "main"], cwd=remote, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(check)
    checked = CliRunner().invoke(main, ["check", "--site", str(check)])
    assert checked.exit_code == 0, checked.output


def test_a_new_site_keeps_pending_out_of_git(tmp_path: Path) -> None:
    """`forumgen init` writes a .gitignore that keeps the queue out of `git add -A`."""
    site = tmp_path / "forum"
    assert CliRunner().invoke(main, ["init", str(site)]).exit_code == 0
    (site / "pending/topics/hello").mkdir(parents=True)
    (site / "pending/topics/hello/topic.md").write_text("---\ntitle: Waiting\n---\nSpam?\n")
    git(site, "init", "--quiet")
    git(site, "add", "-A")
    staged = git(site, "diff", "--cached", "--name-only").splitlines()
    assert "content/topics/welcome/topic.md" in staged
    assert not [name for name in staged if name.startswith("pending")]


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.2)


def test_a_topic_whose_slug_another_host_pushed_first_moves_with_its_replies(
    site: SiteFactory, tmp_path: Path
) -> None:
    """Host a takes a topic and a reply to it while its remote cannot be reached; host b
    takes a topic with the same title and pushes it. Once a can push, its topic and
    the reply move together to the next free slug, on the remote and in a's work tree,
    and a's pages are rebuilt with b's topic in them."""
    remote = shared_remote(site, tmp_path)
    a, b = host_clone(remote, tmp_path / "a"), host_clone(remote, tmp_path / "b")
    git(a, "remote", "set-url", "origin", str(tmp_path / "unreachable.git"))
    topic = {"title": "Same title", "category": "general", "body": "Opening."}
    with gunicorn(a, workers=1) as host_a, gunicorn(b, workers=1) as host_b:
        first = host_a.post("/topics", {**topic, "author": "Ann"}, json_api=True)
        assert first.json()["id"] == "same-title/topic"
        reply = host_a.post(
            "/topics/same-title/replies", {"author": "Al", "body": "a-reply"}, json_api=True
        )
        other = host_b.post("/topics", {**topic, "author": "Bea"}, json_api=True)
        assert other.json()["id"] == "same-title/topic"
        wait_for(
            lambda: "content/topics/same-title/topic.md" in remote_files(remote),
            "b's topic on the remote",
        )
        git(a, "remote", "set-url", "origin", str(remote))
        last = host_a.post(
            "/topics/hello/replies", {"author": "Al", "body": "a-last"}, json_api=True
        )
        assert [first.status, reply.status, other.status, last.status] == [201] * 4
        wait_for(
            lambda: f"content/topics/{last.json()['id']}.md" in remote_files(remote),
            "a's posts on the remote",
        )
        wait_for(
            lambda: (
                "Bea" in (a / "output/t/same-title/index.html").read_text()
                if (a / "output/t/same-title/index.html").is_file()
                else False
            ),
            "b's topic on a's pages",
        )
    reply_id = reply.json()["id"].split("/")[1]
    files = remote_files(remote)
    assert "author: Bea" in files["content/topics/same-title/topic.md"]
    assert "author: Ann" in files["content/topics/same-title-2/topic.md"]
    assert "a-reply" in files[f"content/topics/same-title-2/{reply_id}.md"]
    assert "Moved to same-title-2/" in git(remote, "log", "--format=%B", "main")
    assert sorted(p.name for p in (a / "content/topics/same-title-2").iterdir()) == sorted(
        ["topic.md", f"{reply_id}.md"]
    )
    assert git(a, "status", "--porcelain", "--untracked-files=no") == ""
