"""Git mode (`intake.git: commit`): every published post becomes a commit, so the site's
repository stays the single source of truth. The intake commits each post it publishes,
`forumgen moderate approve` each post it approves. Posts waiting in pending/ never enter
git: a history is pushed and cloned, and a rejected post must leave no trace in it.

Commits go to the checked-out branch, or with `intake.git_branch` to that branch, built
with git plumbing so that the work tree is never switched. With `intake.git_push` the
branch is pushed. Several hosts may push to one remote: when another host pushed first,
the commits made here are put on top of the remote's and pushed again. That rebase is
done in a scratch index, not with `git rebase`, which would take this host's posts out
of the work tree while it replays them (and the intake keeps writing and building there).

Failures never lose a post, which is on disk before git runs: they are kept in
`.forumgen/git-state.json`, which the intake's /health reports.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from .config import Config
from .content import TOPIC_FILE, TOPIC_ID
from .files import atomic_write
from .locks import file_lock, state_dir
from .moderation import pending_root
from .scaffold import topic_slug

IDENTITY = {
    "GIT_AUTHOR_NAME": "forumgen intake",
    "GIT_AUTHOR_EMAIL": "intake@forumgen.invalid",
    "GIT_COMMITTER_NAME": "forumgen intake",
    "GIT_COMMITTER_EMAIL": "intake@forumgen.invalid",
}
# Never wait for a password on a terminal nobody watches; messages in one language, as
# one of them is recognised below; paths as given, never as patterns.
QUIET = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_LITERAL_PATHSPECS": "1"}
TIMEOUT = 120  # seconds for one git command (a push to a remote that stopped answering)
ATTEMPTS = 10  # rounds of fetch, rebase, push before a push is given up
NO_COMMIT = "0" * 40
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


class GitError(Exception):
    """A git command failed; the message holds the command and git's own words."""


class Conflict(GitError):
    """The branch here and the remote's changed one file both: trying again cannot help."""


def commit_message(topic: str, post_id: str) -> str:
    """`intake: reply <topic>/<id>` or `intake: new topic <topic>/topic`."""
    if post_id == TOPIC_ID:
        kind = "new topic"
    else:
        kind = "reply"
    return f"intake: {kind} {topic}/{post_id}"


def record_published(config: Config, path: Path) -> None:
    """Commit the post just published at `path` (content/topics/<topic>/<id>.md) and push
    it, as the intake does for the posts it publishes; nothing unless git mode is on.
    GitError (also kept for /health) when git failed; the post stays published."""
    if config.intake.git != "commit":
        return
    repository = SiteRepository(config)
    repository.commit_post(path)
    if config.intake.git_push:
        repository.sync()


@dataclass(frozen=True)
class Change:
    """One file a commit changed; `before`/`after` are `<mode> <object>`, "" for none."""

    path: str
    before: str
    after: str


class SiteRepository:
    """The site's repository as git mode uses it, from any number of processes at once:
    file locks under .forumgen/ make them take turns."""

    def __init__(self, config: Config) -> None:
        self.config = config
        folder = state_dir(config.site_dir)
        self.lock = folder / "git.lock"  # the branch, the index and the work tree
        self.push_lock = folder / "git-push.lock"  # one exchange with the remote at a time
        self.state_file = folder / "git-state.json"
        self._top: Path | None = None

    # Committing -----------------------------------------------------------------------

    def commit_post(self, path: Path) -> None:
        """Commit the post file at `path` (content/topics/<topic>/<id>.md)."""
        self.commit([path], commit_message(path.parent.name, path.stem))

    def commit(self, paths: Sequence[Path], message: str) -> None:
        """Commit the files at `paths`, and nothing else, to the branch."""
        try:
            with file_lock(self.lock):
                names = [self._name(path) for path in paths]
                branch, checked_out = self._branch()
                if checked_out:
                    self._git("add", "--", *names)
                    self._git("commit", "--quiet", "-m", message, "--", *names)
                else:
                    self._commit_beside(branch, names, message)
        except GitError as exc:
            self._save({"ok": False, "error": f"{message}: {exc}"})
            raise
        self._save(
            {"ok": True, "last_commit": message, "unpushed": bool(self.config.intake.git_push)}
        )

    def _commit_beside(self, branch: str, names: list[str], message: str) -> None:
        """Add the files to `branch`'s tree without checking it out; a branch that does not
        exist yet starts from HEAD."""
        ref = f"refs/heads/{branch}"
        parent = self._rev(ref)
        start = parent or self._git("rev-parse", "--verify", "HEAD").strip()
        objects = self._git("hash-object", "-w", "--", *names).split()
        with self._scratch_index(start) as env:
            self._update_index(
                env, [(name, f"100644 {obj}") for name, obj in zip(names, objects, strict=True)]
            )
            tree = self._git("write-tree", env=env).strip()
        commit = self._git("commit-tree", tree, "-p", start, "-m", message).strip()
        self._git("update-ref", ref, commit, parent or NO_COMMIT)

    # Pushing --------------------------------------------------------------------------

    def sync(self, pulled: Callable[[], object] | None = None) -> None:
        """Push the branch to `intake.git_push`, first putting the commits made here on top
        of what other hosts pushed meanwhile; a push that loses a race with another host's
        is tried again, ATTEMPTS rounds at most. `pulled` is called when other hosts' files
        came into the work tree (to rebuild). GitError, also kept for /health, when it gave
        up: the commits stay here, for the next push to take."""
        remote = self.config.intake.git_push
        try:
            with file_lock(self.push_lock):
                for attempt in range(1, ATTEMPTS + 1):
                    try:
                        self._sync_once(remote, pulled)
                        return
                    except GitError as exc:
                        if attempt == ATTEMPTS or isinstance(exc, Conflict):
                            raise
                    time.sleep(random.uniform(0.05, 0.25) * attempt)  # let the winner finish
        except GitError as exc:
            self._save({"ok": False, "error": f"push to {remote}: {exc}"})
            raise

    def _sync_once(self, remote: str, pulled: Callable[[], object] | None) -> None:
        branch, checked_out = self._branch()
        ref, seen = f"refs/heads/{branch}", f"refs/forumgen/remote/{branch}"
        upstream = self._fetch(remote, branch, seen)
        with file_lock(self.lock):
            local = self._rev(ref)
            if (
                local is not None
                and upstream is not None
                and local != upstream
                and not self._is_ancestor(upstream, local)
            ):
                if self._is_ancestor(local, upstream):
                    rebased = upstream
                else:
                    rebased = self._rebase(local, upstream, remote)
                if checked_out:  # index and work tree follow; edits made here stay
                    self._git("read-tree", "-m", "-u", local, rebased)
                self._git("update-ref", "-m", f"forumgen: on top of {remote}", ref, rebased, local)
                local = rebased
                if checked_out and pulled is not None:
                    pulled()
        if local is not None and local != upstream:
            self._git("push", "--quiet", remote, f"{local}:{ref}")
            self._git("update-ref", seen, local)
        with file_lock(self.lock):
            unpushed = self._rev(ref) != local
        self._save({"ok": True, "last_push": local or "", "unpushed": unpushed})

    def _fetch(self, remote: str, branch: str, seen: str) -> str | None:
        """The remote's branch, fetched into `seen`; None if the remote has no such branch."""
        try:
            self._git(
                "fetch", "--quiet", "--no-write-fetch-head", remote, f"+refs/heads/{branch}:{seen}"
            )
        except GitError as exc:
            if "couldn't find remote ref" in str(exc):
                return None
            raise
        return self._rev(seen)

    def _rebase(self, local: str, upstream: str, remote: str) -> str:
        """The commits of `local` that `upstream` lacks, made again on top of it with their
        authors, dates and messages; returns the new tip. A topic created here whose folder
        another host used meanwhile moves to the next free slug, with every reply made
        here to it; any other file changed on both sides stops the push (GitError) until
        the owner brings the two together."""
        if self._run("merge-base", local, upstream).returncode != 0:
            raise Conflict(f"the branch here and on {remote} have no history in common")
        listing = self._git(
            "rev-list", "--reverse", "--first-parent", "--parents", local, f"^{upstream}"
        )
        tip = upstream
        moved: dict[str, str] = {}  # topic folder here -> the free one it moves to
        with self._scratch_index(upstream) as env:
            for line in listing.splitlines():
                commit, *parents = line.split()
                changes = self._changes(parents[0] if parents else EMPTY_TREE, commit)
                notes = self._move_taken_topics(env, changes, moved, (upstream, local))
                updates: list[tuple[str, str]] = []
                paths = [self._moved(change.path, moved) for change in changes]
                now = self._entries(env, paths)
                for change, path in zip(changes, paths, strict=True):
                    if now.get(path, "") == change.after:
                        continue  # the remote has it already
                    if now.get(path, "") != change.before:
                        raise Conflict(
                            f"{path} was changed both here and on {remote}; "
                            "bring the two together (git pull), then it is pushed"
                        )
                    updates.append((path, change.after))
                self._update_index(env, updates)
                tree = self._git("write-tree", env=env).strip()
                tip = self._commit_again(commit, tree, tip, notes)
        return tip

    def _move_taken_topics(
        self,
        env: dict[str, str],
        changes: list[Change],
        moved: dict[str, str],
        trees: tuple[str, ...],
    ) -> list[str]:
        """Record in `moved` a new folder for each topic this commit creates in a folder
        the scratch index already holds another topic in; returns a note for each."""
        topics = self._name(self.config.content_dir / "topics")
        opening = [
            c
            for c in changes
            if not c.before
            and c.after
            and PurePosixPath(c.path).name == TOPIC_FILE
            and PurePosixPath(c.path).parent.parent.as_posix() == topics
        ]
        now = self._entries(env, [c.path for c in opening])
        notes = []
        for change in opening:
            folder = PurePosixPath(change.path).parent.as_posix()
            if folder in moved or now.get(change.path, "") in ("", change.after):
                continue
            slug = topic_slug(
                PurePosixPath(folder).name,
                self._topic_names(topics, trees) | {PurePosixPath(f).name for f in moved.values()},
            )
            moved[folder] = f"{topics}/{slug}"
            notes.append(f"Moved to {slug}/: {PurePosixPath(folder).name} was taken by then.")
        return notes

    def _topic_names(self, topics: str, trees: tuple[str, ...]) -> set[str]:
        """Topic folders in any of `trees`, in the work tree and waiting in pending/."""
        names = {
            p.name
            for folder in (self.config.content_dir / "topics", pending_root(self.config))
            for p in folder.glob("*")
        }
        for tree in trees:
            listed = self._run("ls-tree", "-z", "--name-only", f"{tree}:{topics}")
            names |= set(filter(None, listed.stdout.split("\0")))
        return names

    @staticmethod
    def _moved(path: str, moved: dict[str, str]) -> str:
        for old, new in moved.items():
            if path.startswith(old + "/"):
                return new + path[len(old) :]
        return path

    def _changes(self, parent: str, commit: str) -> list[Change]:
        listed = self._git("diff-tree", "-r", "-z", "--no-renames", parent, commit)
        fields = listed.split("\0")[:-1]  # each field ends with a NUL
        changes = []
        for meta, path in zip(fields[0::2], fields[1::2], strict=True):
            old_mode, new_mode, old, new, status = meta.lstrip(":").split()
            before, after = f"{old_mode} {old}", f"{new_mode} {new}"
            if status == "A":  # added: nothing before
                before = ""
            elif status == "D":  # deleted: nothing after
                after = ""
            changes.append(Change(path, before, after))
        return changes

    def _entries(self, env: dict[str, str], paths: list[str]) -> dict[str, str]:
        """`<mode> <object>` of each of `paths` the scratch index holds."""
        if not paths:
            return {}
        found = {}
        for record in self._git("ls-files", "--stage", "-z", "--", *paths, env=env).split("\0"):
            if record:
                meta, path = record.split("\t", 1)
                mode, obj, _stage = meta.split()
                found[path] = f"{mode} {obj}"
        return found

    def _commit_again(self, commit: str, tree: str, parent: str, notes: list[str]) -> str:
        name, email, date, message = self._git(
            "log", "-1", "--date=raw", "--format=%an%x00%ae%x00%ad%x00%B", commit
        ).split("\0", 3)
        text = "\n\n".join([message.rstrip("\n"), *notes]) + "\n"
        env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": date}
        return self._git("commit-tree", tree, "-p", parent, env=env, stdin=text).strip()

    # Git ------------------------------------------------------------------------------

    def _branch(self) -> tuple[str, bool]:
        """The branch posts go to, and whether it is the checked-out one."""
        done = self._run("symbolic-ref", "--quiet", "--short", "HEAD")
        if done.returncode == 0:
            current = done.stdout.strip()
        else:
            current = ""
        branch = self.config.intake.git_branch or current
        if not branch:
            raise GitError("HEAD is detached: check out a branch, or set intake.git_branch")
        return branch, branch == current

    def _name(self, path: Path) -> str:
        """`path` as git names it: relative to the top of the repository."""
        try:
            return Path(os.path.realpath(path)).relative_to(self._toplevel()).as_posix()
        except ValueError:
            raise GitError(f"{path} is not in the repository {self._toplevel()}") from None

    def _toplevel(self) -> Path:
        if self._top is None:
            self._top = Path(
                self._git("rev-parse", "--show-toplevel", cwd=self.config.site_dir).strip()
            )
        return self._top

    def _rev(self, name: str) -> str | None:
        done = self._run("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
        if done.returncode == 0:
            return done.stdout.strip()
        return None

    def _is_ancestor(self, ancestor: str, descendant: str) -> bool:
        done = self._run("merge-base", "--is-ancestor", ancestor, descendant)
        if done.returncode > 1:
            raise GitError(f"git merge-base: {done.stderr.strip()}")
        return done.returncode == 0

    @contextmanager
    def _scratch_index(self, start: str) -> Iterator[dict[str, str]]:
        """An index of its own holding `start`'s tree, so that the site's index (and the
        checked-out files) never see a commit being built."""
        with tempfile.TemporaryDirectory(prefix="forumgen-git-") as folder:
            env = {"GIT_INDEX_FILE": str(Path(folder) / "index")}
            self._git("read-tree", start, env=env)
            yield env

    def _update_index(self, env: dict[str, str], entries: list[tuple[str, str]]) -> None:
        """Set each path to its `<mode> <object>`, or remove it for ""."""
        if entries:
            lines = [f"{entry or '0 ' + NO_COMMIT}\t{path}\0" for path, entry in entries]
            self._git("update-index", "-z", "--index-info", env=env, stdin="".join(lines))

    def _git(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
        cwd: Path | None = None,
    ) -> str:
        done = self._run(*args, env=env, stdin=stdin, cwd=cwd)
        if done.returncode != 0:
            raise GitError(
                f"git {' '.join(args[:2])}: {done.stderr.strip() or done.stdout.strip()}"
            )
        return done.stdout

    def _run(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                ["git", *args],
                cwd=cwd or self._toplevel(),
                input=stdin,
                capture_output=True,
                encoding="utf-8",
                errors="surrogateescape",
                timeout=TIMEOUT,
                env={**os.environ, **IDENTITY, **QUIET, **(env or {})},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GitError(f"git {' '.join(args[:2])}: {exc}") from None

    # State ----------------------------------------------------------------------------

    def _save(self, values: dict[str, object]) -> None:
        """Merge into the state file, so the last error stays visible after later successes."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with file_lock(self.state_file.with_suffix(".lock")):
            state = {**self.state(), **values, "time": now}
            if values.get("error"):
                state["last_error_time"] = now
            atomic_write(self.state_file, json.dumps(state, sort_keys=True).encode())

    def state(self) -> dict[str, object]:
        """What /health shows: the last commit and push, the last error and its time."""
        try:
            loaded: dict[str, object] = json.loads(self.state_file.read_text())
            return loaded
        except (FileNotFoundError, ValueError):
            return {}
