"""`pip install .`, not editable: the wheel holds every module of the source tree and the
built-in theme, and every command, the intake under gunicorn and `forumgen serve` work
from a folder outside the repository with nothing but the installed package on the path.
And gunicorn started in the repository root, where the source tree shadows the install.

The wheel is built from a copy of the source tree as a checkout has it: a build/ folder
left by an earlier build would be copied into the wheel, hiding a missing package, and
forumgen/themes exists only in development trees (a symlink to themes/). It is installed
with --no-deps into a fresh virtualenv, which finds the dependencies through a .pth file
naming the site-packages of the interpreter running the tests: offline and fast, and a
.pth only adds folders to the path, so an editable install of forumgen found there is not
loaded (its finder is started by a .pth of its own, which is not read)."""

from __future__ import annotations

import json
import mailbox
import os
import re
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
import venv
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest

from forumgen.content import split_front_matter
from servers import Server, free_port, wait_until_up

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("forumgen", "intake")
SOURCE = ("pyproject.toml", "setup.py", "README.md", *PACKAGES, "themes")


def user_environ(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no PYTHONPATH pointing into a source tree."""
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **extra}


def run(command: list[str | Path], cwd: Path, **extra: str) -> str:
    done = subprocess.run(
        command, cwd=cwd, env=user_environ(**extra), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stderr}"
    return done.stdout


def source_files(folder: Path) -> Iterator[Path]:
    """Every file under folder but hidden ones (an editor's), not entering symlinks or
    __pycache__."""
    for parent, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != "__pycache__" and not Path(parent, d).is_symlink()]
        yield from (Path(parent, name) for name in files if not name.startswith("."))


def source_copy(folder: Path, *extra: str) -> Path:
    """The source tree as a fresh checkout holds it (see the module's docstring)."""

    def ignore(parent: str, names: list[str]) -> list[str]:
        return [n for n in names if n == "__pycache__" or Path(parent, n).is_symlink()]

    folder.mkdir(parents=True)
    for name in (*SOURCE, *extra):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, folder / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, folder / name)
    return folder


def dependency_folders() -> list[str]:
    """The site-packages folders of the interpreter running the tests."""
    paths = sysconfig.get_paths()
    found = [paths["purelib"], paths["platlib"], *site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        found.append(site.getusersitepackages())
    return [p for p in dict.fromkeys(found) if Path(p).is_dir()]


@dataclass(frozen=True)
class Installed:
    wheel: Path
    env: Path
    site_packages: Path

    def bin(self, name: str) -> Path:
        return self.env / "bin" / name


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    tmp = tmp_path_factory.mktemp("packaging")
    source = source_copy(tmp / "source")
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp / "dist", source],
        cwd=tmp,
    )
    wheel = next((tmp / "dist").glob("forumgen-*.whl"))
    env = tmp / "venv"
    venv.create(env, symlinks=True)
    python = env / "bin" / "python"
    # Installed before the .pth is written, so pip sees no forumgen already installed.
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            wheel,
        ],
        cwd=tmp,
    )
    site_packages = Path(
        run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp
        ).strip()
    )
    (site_packages / "test-dependencies.pth").write_text(
        "".join(f"{folder}\n" for folder in dependency_folders()), encoding="utf-8"
    )
    return Installed(wheel, env, site_packages)


def test_wheel_holds_every_module_and_theme_file(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    expected = {
        p.relative_to(ROOT).as_posix() for package in PACKAGES for p in source_files(ROOT / package)
    }
    expected |= {
        "forumgen/themes/" + p.relative_to(ROOT / "themes").as_posix()
        for p in source_files(ROOT / "themes")
    }
    assert "forumgen/importers/mbox.py" in expected
    assert "forumgen/themes/default/templates/topic.html" in expected
    assert {n for n in names if n.endswith(".py")} == {n for n in expected if n.endswith(".py")}
    assert expected <= names


def test_installed_package_is_what_runs(installed: Installed, tmp_path: Path) -> None:
    shown = run(
        [
            installed.bin("python"),
            "-c",
            "import forumgen, intake, markdown, forumgen.config as c; "
            "print(forumgen.__file__, intake.__file__, c.builtin_themes(), sep='\\n')",
        ],
        cwd=tmp_path,
    ).splitlines()
    assert shown == [
        str(installed.site_packages / "forumgen/__init__.py"),
        str(installed.site_packages / "intake/__init__.py"),
        str(installed.site_packages / "forumgen/themes"),
    ]


@contextmanager
def serving(
    command: list[str | Path], port: int, cwd: Path, log: Path, health: str, **extra: str
) -> Iterator[Server]:
    """A server started the way a user starts it, in `cwd`, stopped at the end."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=user_environ(**extra),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            try:
                wait_until_up(port, process, health, seconds=120)
            except RuntimeError as exc:
                raise AssertionError(f"{exc}\n{log.read_text(errors='replace')}") from None
            yield Server(port, process)
        finally:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=15)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def write_mbox(path: Path) -> None:
    box = mailbox.mbox(path)
    for number, (subject, sender, body, parent) in enumerate(
        [
            ("Wheels and eggs", "Li Ming <li@example.cn>", "Which one do I install?", None),
            ("Re: Wheels and eggs", "Ann <ann@example.org>", "The wheel, always.", 1),
        ],
        1,
    ):
        message = EmailMessage()
        message["Subject"], message["From"] = subject, sender
        message["Date"] = f"Fri, 0{number} Mar 2024 10:00:00 +0000"
        message["Message-ID"] = f"<m{number}@example.org>"
        if parent:
            message["In-Reply-To"] = f"<m{parent}@example.org>"
        message.set_content(body)
        box.add(message)
    box.close()


def write_discourse_topic(folder: Path) -> None:
    posts = [
        {
            "id": 501 + n,
            "post_number": n,
            "username": user,
            "name": user.title(),
            "created_at": f"2023-04-1{n}T07:00:00.000Z",
            "post_type": 1,
            "reply_to_post_number": None,
            "raw": raw,
            "cooked": "",
        }
        for n, user, raw in [
            (1, "maria", "Is the sdist enough?"),
            (2, "tom", "Build a wheel from it."),
        ]
    ]
    topic = {
        "id": 77,
        "slug": "sdist-or-wheel",
        "title": "Sdist or wheel",
        "category_id": 1,
        "created_at": posts[0]["created_at"],
        "tags": [],
        "post_stream": {"posts": posts, "stream": [p["id"] for p in posts]},
    }
    (folder / "t").mkdir(parents=True)
    (folder / "t/77.json").write_text(json.dumps(topic), encoding="utf-8")


def topic_folders(site: Path) -> set[str]:
    return {p.name for p in (site / "content/topics").iterdir()}


def test_every_command_works_from_another_folder(installed: Installed, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    site = tmp_path / "site"

    def forumgen(*args: str | Path) -> str:
        return run([installed.bin("forumgen"), *args], cwd=elsewhere)

    forumgen("init", site, "--title", "Packaged forum")
    forumgen(
        "new",
        "topic",
        "--site",
        site,
        "--title",
        "Installed from a wheel",
        "--category",
        "help",
        "--author",
        "Ann",
        "--body",
        "It works.",
    )
    forumgen(
        "new",
        "reply",
        "--site",
        site,
        "installed-from-a-wheel",
        "--author",
        "Bob",
        "--body",
        "Here too.",
    )
    assert forumgen("check", "--site", site).startswith("ok: 2 categories, 2 topics, 3 posts")
    forumgen("build", "--site", site, "--jobs", "1")
    page = (site / "output/t/installed-from-a-wheel/index.html").read_text(encoding="utf-8")
    assert "Here too." in page
    assert (site / "output/static/pygments.css").is_file()

    before = topic_folders(site)
    write_mbox(tmp_path / "list.mbox")
    forumgen("import", "mbox", "--site", site, tmp_path / "list.mbox")
    [thread] = topic_folders(site) - before
    assert (site / "content/topics" / thread / "topic.md").is_file()
    assert len(list((site / "content/topics" / thread).glob("*.md"))) == 2

    write_discourse_topic(tmp_path / "export")
    forumgen("import", "discourse", "--site", site, "--category", "help", tmp_path / "export")
    assert topic_folders(site) - before == {thread, "sdist-or-wheel"}
    assert len(list((site / "content/topics/sdist-or-wheel").glob("*.md"))) == 2

    # The intake, under gunicorn from the installed package, queues two posts.
    port = free_port()
    with serving(
        [
            installed.bin("python"),
            "-m",
            "gunicorn",
            "-w",
            "1",
            "-b",
            f"127.0.0.1:{port}",
            "intake.wsgi:application",
        ],
        port,
        elsewhere,
        tmp_path / "gunicorn.log",
        "/health",
        FORUMGEN_SITE=str(site),
    ) as intake:
        topic = intake.post(
            "/topics",
            {"title": "Queued topic", "category": "general", "author": "Zoë", "body": "Spam?"},
            json_api=True,
        )
        reply = intake.post(
            "/topics/welcome/replies", {"author": "Zoë", "body": "Queued reply."}, json_api=True
        )
    assert (topic.status, topic.json()["status"]) == (201, "pending")
    assert (reply.status, reply.json()["status"]) == (201, "pending")

    waiting = [
        line.split("\t")[0] for line in forumgen("moderate", "list", "--site", site).splitlines()
    ]
    assert sorted(waiting) == sorted([topic.json()["id"], reply.json()["id"]])
    assert "Queued reply." in forumgen("moderate", "show", "--site", site, reply.json()["id"])
    forumgen("moderate", "approve", "--site", site, reply.json()["id"])
    forumgen("moderate", "reject", "--site", site, topic.json()["id"])
    assert forumgen("moderate", "list", "--site", site) == ""
    assert "Queued reply." in (site / "output/t/welcome/index.html").read_text("utf-8")
    assert (site / "output/t/sdist-or-wheel/index.html").is_file()
    assert (site / "output/t" / thread / "index.html").is_file()

    port = free_port()
    with serving(
        [installed.bin("forumgen"), "serve", "--site", site, "--port", str(port), "--no-watch"],
        port,
        elsewhere,
        tmp_path / "serve.log",
        "/",
    ) as server:
        home = server.get("/")
    assert home.status == 200
    assert home.headers["content-type"].startswith("text/html")
    assert re.search(r"<title>[^<]*Packaged forum[^<]*</title>", home.text)
    assert "Installed from a wheel" in home.text


def test_intake_runs_in_the_repository_root(installed: Installed, tmp_path: Path) -> None:
    """`FORUMGEN_SITE=. gunicorn intake.wsgi:application` in the repository, itself a site,
    after `pip install .`: gunicorn puts the folder first on the path, so the source
    tree's forumgen is imported, which has no forumgen/themes. (An editable install would
    hide this: its finder supplies forumgen.themes from wherever it was installed.)"""
    repo = source_copy(tmp_path / "repo", "content", "forumgen.yaml")
    shadowing = run(
        [installed.bin("python"), "-c", "import forumgen; print(forumgen.__file__)"], cwd=repo
    )
    assert shadowing.strip() == str(repo / "forumgen/__init__.py")
    open_topic = next(
        p.parent.name
        for p in sorted(repo.glob("content/topics/*/topic.md"))
        if "locked: true" not in split_front_matter(p.read_text("utf-8"))[0]
    )
    port = free_port()
    with serving(
        [
            installed.bin("python"),
            "-m",
            "gunicorn",
            "-w",
            "1",
            "-b",
            f"127.0.0.1:{port}",
            "intake.wsgi:application",
        ],
        port,
        repo,
        tmp_path / "gunicorn.log",
        "/health",
        FORUMGEN_SITE=".",
    ) as intake:
        health = intake.get("/health")
        answer = intake.post(
            f"/topics/{open_topic}/replies",
            {"author": "Ann", "body": "From the repository root."},
            json_api=True,
        )
    assert health.status == 200 and health.json()["status"] == "ok"
    assert (answer.status, answer.json()["status"]) == (201, "pending")
    [stored] = (repo / "pending/topics" / open_topic).glob("*.md")
    assert "From the repository root." in stored.read_text("utf-8")
