"""Durable storage of accepted posts, through the generator's own scaffold/content API
(one owner of the file format), and the optional git commit."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from forumgen.config import Config
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
    def __init__(self, config: Config) -> None:
        self.config = config
        self.publish = config.intake.moderation == "publish"
        self.git = GitRecorder(config) if config.intake.git == "commit" else None

    @property
    def root(self) -> Path:
        return self.config.content_dir / "topics" if self.publish else pending_root(self.config)

    def save(self, submission: Submission) -> Stored:
        """Write the post (fsynced, renamed into place, folder fsynced), then commit it if
        git mode is on. A git failure is logged and kept for /health; the post stays."""
        if submission.title:
            post = new_topic(self.config, submission.title, submission.category,
                             submission.author, submission.body, list(submission.tags),
                             root=self.root)
        else:
            post = new_reply(self.config, submission.topic, submission.author, submission.body,
                             submission.reply_to, root=self.root)
        log.info("stored %s/%s (%s)", post.topic, post.id,
                 "published" if self.publish else "pending")
        if self.git is not None:
            self.git.record(post)
        return Stored(post, self.publish)
