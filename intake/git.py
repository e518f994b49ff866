"""Git mode: every accepted post becomes a commit, so the content repository stays the
single source of truth. With `intake.git_branch` the commit goes to a review branch
(built with git plumbing, so the checked-out work tree is never touched) for the owner to
merge through a pull request; `intake.git_push` pushes after each commit.

Failures never lose a post: it is already on disk. They are logged and kept in
`.forumgen/git-state.json`, which /health reports.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path

from forumgen.config import Config
from forumgen.files import atomic_write
from forumgen.locks import file_lock, state_dir
from forumgen.scaffold import NewPost

log = logging.getLogger("intake.git")
IDENTITY = {"GIT_AUTHOR_NAME": "forumgen intake", "GIT_AUTHOR_EMAIL": "intake@forumgen.invalid",
            "GIT_COMMITTER_NAME": "forumgen intake",
            "GIT_COMMITTER_EMAIL": "intake@forumgen.invalid"}


class GitError(Exception):
    pass


class GitRecorder:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.site = config.site_dir
        folder = state_dir(self.site)
        self.lock = folder / "git.lock"
        self.state_file = folder / "git-state.json"

    def _git(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(["git", *args], cwd=self.site, capture_output=True, text=True,
                              env={**os.environ, **IDENTITY, **(env or {})}, timeout=120)
        if done.returncode != 0:
            raise GitError(f"git {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout.strip()

    def record(self, post: NewPost) -> None:
        message = f"intake: {'new topic' if post.id == 'topic' else 'reply'} " \
                  f"{post.topic}/{post.id}"
        try:
            with file_lock(self.lock):  # one index, many worker processes
                branch = self._commit(post.path, message)
            self._save({"ok": True, "last_commit": message})
            if self.config.intake.git_push:
                threading.Thread(target=self._push, args=(branch,), daemon=True).start()
        except (GitError, OSError, subprocess.TimeoutExpired) as exc:
            log.error("post %s/%s is stored but not committed: %s", post.topic, post.id, exc)
            self._save({"ok": False, "error": f"{post.topic}/{post.id}: {exc}"})

    def _commit(self, path: Path, message: str) -> str:
        relative = path.relative_to(self.site).as_posix()
        current = self._git("symbolic-ref", "--quiet", "--short", "HEAD")
        branch = self.config.intake.git_branch or current
        if branch == current:
            self._git("add", "--", relative)
            self._git("commit", "--quiet", "-m", message, "--", relative)
            return branch
        # A review branch: add the file to that branch's tree without a checkout.
        ref = f"refs/heads/{branch}"
        try:
            parent = self._git("rev-parse", "--verify", "--quiet", ref)
        except GitError:
            parent = self._git("rev-parse", "HEAD")
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self._git("read-tree", parent, env=env)
            blob = self._git("hash-object", "-w", "--", relative)
            self._git("update-index", "--add", "--cacheinfo", f"100644,{blob},{relative}",
                      env=env)
            tree = self._git("write-tree", env=env)
        commit = self._git("commit-tree", tree, "-p", parent, "-m", message)
        self._git("update-ref", ref, commit)
        return branch

    def _push(self, branch: str) -> None:
        try:
            with file_lock(self.lock):
                self._git("push", "--quiet", self.config.intake.git_push, branch)
        except (GitError, subprocess.TimeoutExpired) as exc:
            log.error("push to %s failed: %s", self.config.intake.git_push, exc)
            self._save({"ok": False, "error": str(exc)})

    def _save(self, values: dict[str, object]) -> None:
        """Merge into the state file, so the last error stays visible after later successes."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with file_lock(self.state_file.with_suffix(".lock")):
            state = {**self.state(), **values, "time": now}
            if values.get("error"):
                state["last_error_time"] = now
            atomic_write(self.state_file, json.dumps(state, sort_keys=True).encode())

    def state(self) -> dict[str, object]:
        try:
            loaded: dict[str, object] = json.loads(self.state_file.read_text())
            return loaded
        except (FileNotFoundError, ValueError):
            return {}
