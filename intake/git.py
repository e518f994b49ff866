"""The intake's side of git mode (the commits themselves: forumgen/gitcommit.py).

A published post is committed before its visitor gets the answer (a local commit, which
is quick) and pushed by a background thread of the worker process, so a slow or
unreachable remote never holds up a post. Pushes coalesce: a push takes every commit
made so far, and a thread asked to push while pushing goes round once more. The thread
is not a daemon, so a worker stopped gracefully finishes its push first. Commits left
unpushed (a push given up after its retries, a worker killed, `forumgen moderate
approve` failing to push) are pushed on a later request, RETRY seconds after the last
push given up at the earliest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from forumgen.config import Config
from forumgen.gitcommit import GitError, SiteRepository
from forumgen.scaffold import NewPost

log = logging.getLogger("intake.git")
RETRY = 30.0  # seconds between pushes given up and the next try


class GitRecorder:
    def __init__(self, config: Config, pulled: Callable[[], object] | None = None) -> None:
        """`pulled` is called when a push brought other hosts' posts into the work tree."""
        self.repository = SiteRepository(config)
        self.remote = config.intake.git_push
        self.pulled = pulled
        self._mutex = threading.Lock()
        self._wanted = False
        self._running = False
        self._given_up = -RETRY

    def record(self, post: NewPost) -> None:
        """Commit a published post, then have it pushed. Failures are logged and kept for
        /health; the post is stored whatever happens here."""
        try:
            self.repository.commit_post(post.path)
        except GitError as exc:
            log.error("post %s/%s is stored but not committed: %s", post.topic, post.id, exc)
        self.push_soon()

    def catch_up(self) -> None:
        """Push what is committed but not pushed yet. Cheap enough for every request."""
        if (
            self.remote
            and time.monotonic() - self._given_up >= RETRY
            and self.repository.state().get("unpushed")
        ):
            self.push_soon()

    def push_soon(self) -> None:
        if not self.remote:
            return
        with self._mutex:
            self._wanted = True
            if self._running:
                return
            self._running = True
        threading.Thread(target=self._push, name="git-push").start()

    def _push(self) -> None:
        while True:
            with self._mutex:
                if not self._wanted:
                    self._running = False
                    return
                self._wanted = False
            try:
                self.repository.sync(self.pulled)
            except GitError as exc:
                self._given_up = time.monotonic()
                log.error("push to %s failed, tried again later: %s", self.remote, exc)
            except Exception:  # the thread must live on to clear _running
                self._given_up = time.monotonic()
                log.exception("push to %s failed", self.remote)

    def state(self) -> dict[str, object]:
        return self.repository.state()
