"""Durable storage of accepted posts, through the generator's own scaffold/content API
(one owner of the file format), and the optional git commit of published ones."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from forumgen.config import Config
from forumgen.loader import RedirectClaims
from forumgen.moderation import pending_root
from forumgen.scaffold import NewPost, new_reply, new_topic

from .git import GitRecorder
from .validate import Submission

log = logging.getLogger("intake.store")


@dataclass(frozen=True)
class Stored:
    post: NewPost
    published: bool


class Store:
    def __init__(self, config: Config, pulled: Callable[[], object] | None = None) -> None:
        """`pulled`: called when, in git mode, a push brought other hosts' posts in."""
        self.config = config
        self.publish = config.intake.moderation == "publish"
        self.git: GitRecorder | None = None
        if config.intake.git == "commit":
            self.git = GitRecorder(config, pulled)
        self.claims = RedirectClaims()  # what old URLs each topic folder keeps

    @property
    def root(self) -> Path:
        if self.publish:
            return self.config.content_dir / "topics"
        return pending_root(self.config)

    def save(self, submission: Submission) -> Stored:
        """Write the post (fsynced, renamed into place, folder fsynced), then commit it if
        git mode is on and it is published: a post waiting for moderation never enters git
        (`forumgen moderate approve` commits it). A git failure is logged and kept for
        /health; the post stays."""
        if submission.title:
            post = new_topic(
                self.config,
                submission.title,
                submission.category,
                submission.author,
                submission.body,
                list(submission.tags),
                root=self.root,
                claims=self.claims,
            )
        else:
            post = new_reply(
                self.config,
                submission.topic,
                submission.author,
                submission.body,
                submission.reply_to,
                root=self.root,
            )
        log.info(
            "stored %s/%s (%s)", post.topic, post.id, "published" if self.publish else "pending"
        )
        if self.git is not None and self.publish:
            self.git.record(post)
        return Stored(post, self.publish)

    def catch_up(self) -> None:
        """Push commits a push given up or a killed worker left unpushed (git mode)."""
        if self.git is not None:
            self.git.catch_up()
