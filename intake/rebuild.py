"""Rebuilds after published posts: in the background, coalesced, never overlapping.

Every published post bumps a generation counter shared by all worker processes (a file
under `.forumgen/`, changed under a lock). A background thread in each process runs
`forumgen build` whenever the built generation lags the requested one; a file lock makes
builds from different processes take turns, and whoever gets the lock builds everything
requested so far. So a burst of 100 posts gives a handful of builds, and a visitor can
wait for "a build that started after my post was written", up to the moment it has
written the topics' pages (`shown`): its listings, feeds and search index come after,
and the visitor's next build waits for them anyway.

A request names the files it wrote, appended to a file beside the counter under the same
lock, each line with its generation: the build passes the files of every generation it
covers as `--changed`, so it scans only their topic folders; the lines go once a build
ran to its end. A request that names none (a git pull), a generation with no line, a line
that cannot be read or more than MAX_CHANGED files make it scan everything, which is
always right, only slower. So does the first build after the machine started (see
`_boot_id`: a power cut may have lost lines the build cache did not), which the intake
asks for as it starts, before any post waits for it.

A build that fails or runs out of time (`intake.rebuild_timeout`) did so because of what
it was given: it is not run again until a new post asks for a build, so newer posts never
wait behind one that spins. A build killed by a signal (a crash, a worker killed) is run
again by itself, later each time (RETRY, doubled), at most MAX_KILLED times in a row.

Builds run with --keep-going: a published post with a problem (whatever it is: a file
edited by hand, an import, a text the renderer cannot take) is left out and named in the
log and the state, and every other post is published. A problem in what the whole site
depends on (forumgen.yaml, the theme, categories.yaml) still stops the build.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

from forumgen import leftout
from forumgen.files import atomic_write
from forumgen.locks import file_lock, output_state_dir, state_dir

from . import buildproc

log = logging.getLogger("intake.rebuild")
DEBOUNCE = 0.05  # seconds to let a burst gather before building
POLL = 5.0  # seconds between checks for builds requested by workers that died
RETRY = 1.0  # seconds before building again after a build was killed; doubled each time
MAX_KILLED = 5  # builds of the same request killed in a row before it waits for a new one
MAX_CHANGED = 500  # files a build is told of; past that it scans everything
UNKNOWN = "*"  # in the changes file: a request that does not say what it changed


@dataclass(frozen=True)
class BuildState:
    generation: int = 0
    """The newest generation a build ran for to its end: built, or failed on its input."""
    builds: int = 0
    time: str = ""
    duration: float = 0.0
    ok: bool = True
    summary: str = ""
    error: str = ""
    left_out: tuple[str, ...] = ()
    """`path:line: message` of each problem the build left out (posts not published)."""
    killed: int = 0
    """Builds of generation `tried` killed by a signal in a row, since the last that ended."""
    tried: int = 0
    retry_at: float = 0.0
    """When (a time.time()) the killed build is due to run again."""
    changed: int = 0
    """How many changed files the last build was told of: 0 when it scanned everything."""
    building: int = 0
    """The generation the last build to start was started for (running or not)."""


class Rebuilder:
    def __init__(
        self,
        site_dir: Path,
        base_url: str | None = None,
        timeout: float = 600,
        *,
        output: Path | None = None,
        drafts: bool = False,
    ) -> None:
        """Rebuilds of `site_dir` into `output` (default: output/) for `base_url` (default:
        the config's), with drafts shown when `drafts` (the preview). The preview of
        `forumgen serve` keeps its requests and state in its own folder, so a build of the
        preview never counts as one of output/, nor the reverse."""
        self.site_dir = site_dir
        self.base_url = base_url
        self.output = output
        self.drafts = drafts
        self.timeout = timeout
        if output is None:
            folder = state_dir(site_dir)
        else:
            folder = output_state_dir(site_dir, output)
        self.folder = folder
        self.requests = folder / "rebuild-requested"
        self.requests_lock = folder / "rebuild-requested.lock"
        """Held while the counter and the changes file change: briefly, never for a build."""
        self.changes = folder / "rebuild-changed"
        self.state_file = folder / "rebuild-state.json"
        self.lock = folder / "rebuild.lock"
        self.boot_file = folder / "rebuild-boot"
        self.topics_file = folder / "rebuild-topics-written"
        """Made by the build of generation `BuildState.building` once its topics' pages
        are written (`forumgen build --topics-written`); removed before the next starts."""
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._boot_checked = False

    def request(self, changed: Iterable[Path] = ()) -> int:
        """Ask for a build that includes everything on disk now; returns its generation.
        `changed`: the files the caller wrote (or deleted); none: it does not know."""
        lines = [os.path.abspath(path) for path in changed]
        if not lines or any(("\n" in line or "\t" in line) for line in lines):
            lines = [UNKNOWN]
        with file_lock(self.requests_lock):
            generation = self._add_request(lines)
        self._ensure_thread()
        self._wake.set()
        return generation

    def _add_request(self, lines: list[str]) -> int:
        """Under the requests' lock: the next generation, asked for, with its lines."""
        generation = self._requested() + 1
        with self.changes.open("a", encoding="utf-8") as file:
            file.writelines(f"{generation}\t{line}\n" for line in lines)
        atomic_write(self.requests, str(generation).encode())
        return generation

    def catch_up(self) -> None:
        """Start a build if one is due (see `_due`): requested and never run, its worker
        killed before its build began, or killed and due to run again. Cheap enough to call
        on every request; the background thread also checks every few seconds. The first
        call also asks for the build that scans everything after a boot (`_scan_after_boot`)."""
        if not self._boot_checked:
            self._boot_checked = True
            try:
                self._scan_after_boot()
            except OSError:  # then the first post's build scans everything
                log.exception("could not ask for the rebuild that follows a boot")
        self._ensure_thread()
        if self._due():
            self._wake.set()

    def _scan_after_boot(self) -> None:
        """Ask for the build that scans every topic folder, if none ran since the machine
        started (see `_boot_id`), as the intake starts rather than with the first post:
        that post's build is then told what changed, as quick as the next ones. Not when a
        build is asked for already (it scans everything too): workers starting together
        ask once."""
        boot = _boot_id()
        if boot is None:  # every build scans everything
            return
        with file_lock(self.requests_lock):
            if _text(self.boot_file) != boot and self._requested() <= self.state().generation:
                self._add_request([UNKNOWN])

    def shown(self, generation: int, timeout: float) -> bool:
        """Wait until the posts of `generation` are on their topics' pages: a build that
        covers it wrote those pages (before its listings, feeds and search index) or ran
        to its end. False if it failed first, or `timeout` seconds passed."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            if state.generation >= generation:
                return state.ok
            # The file is removed before `building` is raised: seen after it, it is the
            # running build's.
            if state.building >= generation and self.topics_file.exists():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def state(self) -> BuildState:
        try:
            state = BuildState(**json.loads(self.state_file.read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return BuildState()
        return replace(state, left_out=tuple(state.left_out))

    def _due(self) -> bool:
        """Whether a build must run now: more was requested than any build ran for, and
        either no build of it was killed, or more was requested since (new input), or the
        killed one's time to run again has come and it was not killed too often."""
        state, requested = self.state(), self._requested()
        if state.generation >= requested:
            return False
        if not state.killed or requested > state.tried:
            return True
        return state.killed < MAX_KILLED and time.time() >= state.retry_at

    def _pause(self) -> float:
        """How long the background thread may sleep before it checks again."""
        state = self.state()
        if 0 < state.killed < MAX_KILLED:
            return min(POLL, max(DEBOUNCE, state.retry_at - time.time()))
        return POLL

    def _requested(self) -> int:
        try:
            return int(self.requests.read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def _ensure_thread(self) -> None:
        # Started on first use rather than at import: gunicorn forks workers after
        # loading the app, and threads do not survive a fork.
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="forumgen-rebuild", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        try:
            buildproc.start()  # now, rather than on the first post
        except OSError:  # the first build tries again
            log.exception("could not start the build server")
        while True:
            self._wake.wait(self._pause())
            self._wake.clear()  # before looking: a request made from here on wakes it again
            if not self._due():
                continue
            time.sleep(DEBOUNCE)
            try:
                self._build_if_due()
            except Exception:  # the thread must outlive any single failure
                log.exception("rebuild failed")

    def _build_if_due(self) -> None:
        """Build what was requested, unless another process did while we waited for the
        lock. A build killed by a signal leaves its generation unbuilt, to run again."""
        with file_lock(self.lock):
            if not self._due():
                return
            target = self._requested()
            previous = self.state()
            changed = self._changed(previous.generation, target)
            boot = _boot_id()
            if boot is None or _text(self.boot_file) != boot:
                changed = None  # the first build since the machine started scans all
            self.topics_file.unlink(missing_ok=True)
            self._save(replace(previous, building=target))
            started = time.monotonic()
            outcome = self._build(changed)
            killed = _killed(outcome.done, previous, target)
            if not outcome.error:  # it ran to its end: their folders are in its scan
                self._forget_changes(target)
                if changed is None and boot is not None:
                    atomic_write(self.boot_file, boot.encode())
            generation, tried, retry_at = target, 0, 0.0
            if killed:  # its generation stays unbuilt, to be tried again later
                generation, tried = previous.generation, target
                retry_at = time.time() + RETRY * 2 ** (killed - 1)
            state = BuildState(
                generation=generation,
                builds=previous.builds + 1,
                time=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                duration=round(time.monotonic() - started, 3),
                ok=not outcome.error,
                summary=_last_line(outcome.done),
                error=outcome.error,
                left_out=outcome.left_out,
                killed=killed,
                tried=tried,
                retry_at=retry_at,
                changed=len(changed or ()),
                building=target,
            )
            self._save(state)
            _log_outcome(state, target)

    def _save(self, state: BuildState) -> None:
        atomic_write(self.state_file, json.dumps(asdict(state)).encode())

    def _changed(self, built: int, target: int) -> list[str] | None:
        """The files requests up to generation `target` wrote, since the last build that
        ran to its end (a build that failed or was stopped may not have seen them), or
        None if a request after generation `built` did not say (or the list is too long
        to be worth it)."""
        with file_lock(self.requests_lock):
            try:
                text = self.changes.read_text(encoding="utf-8")
            except FileNotFoundError:
                text = ""
        files: set[str] = set()
        said: set[int] = set()
        for line in text.splitlines(keepends=True):
            parsed = _parse(line)
            if parsed is None:
                return None  # cut short by a crash: what it said is lost
            generation, path = parsed
            if generation <= target:
                files.add(path)
            if built < generation <= target:
                said.add(generation)
        if UNKNOWN in files or len(files) > MAX_CHANGED:
            return None
        if said != set(range(built + 1, target + 1)):
            return None
        return sorted(files)

    def _forget_changes(self, target: int) -> None:
        """Drop the lines of the generations up to `target`, now built, and broken ones
        (the generation of a broken line has no line left, so its build scans all)."""
        with file_lock(self.requests_lock):
            try:
                lines = self.changes.read_text(encoding="utf-8").splitlines(keepends=True)
            except FileNotFoundError:
                return
            kept = []
            for line in lines:
                parsed = _parse(line)
                if parsed is not None and parsed[0] > target:
                    kept.append(line)
            atomic_write(self.changes, "".join(kept).encode())

    def _build(self, changed: list[str] | None) -> _Outcome:
        """Run `forumgen build` once, to its end or until it runs out of time."""
        recorded = leftout.stamp(self.folder)
        try:
            done = buildproc.run(self._arguments(changed), self.timeout)
        except subprocess.TimeoutExpired:
            return _Outcome(None, f"the build took longer than {self.timeout:g} s and was stopped")
        if done.returncode < 0:
            return _Outcome(done, f"the build was killed by signal {-done.returncode}")
        if done.returncode == 0 or leftout.stamp(self.folder) != recorded:
            # It ran to its end (what it left out, it recorded).
            return _Outcome(done, "", tuple(map(str, leftout.last(self.folder))))
        return _Outcome(done, done.stderr.strip()[-4000:] or f"exit status {done.returncode}")

    def _arguments(self, changed: list[str] | None) -> list[str]:
        # At the intake's own priority, not lowered: a published post is on its page only
        # once this build is done, and a lowered build gets a small fraction of a busy
        # host's cores (with nice 10, about a tenth of what each ordinary busy process
        # gets), so any other work would starve it.
        command = ["build", "--site", str(self.site_dir), "--keep-going"]
        command += ["--topics-written", str(self.topics_file)]
        if self.output is not None:
            command += ["--output", str(self.output)]
        if self.base_url:
            command += ["--base-url", self.base_url]
        if self.drafts:
            command.append("--drafts")
        for path in changed or ():
            command += ["--changed", path]
        return command


def _boot_id() -> str | None:
    """This boot of the machine (Linux), or None where it cannot be told.

    The changes file and the build cache are written without fsync (the posts are fsynced):
    a power cut can lose the line naming a post's file while the cache still trusts a scan
    that never saw it, and every build told only of later files would leave that post out.
    Whatever a power cut loses, the machine boots again: the first rebuild of each boot
    scans every topic folder (and without a boot id, every rebuild does)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return ""


def _parse(line: str) -> tuple[int, str] | None:
    """A line of the changes file as (generation, path), or None if a crash cut it short
    (or joined it with the next one)."""
    generation, _, path = line.rstrip("\n").partition("\t")
    if not line.endswith("\n") or not generation.isdigit() or not path or "\t" in path:
        return None
    return int(generation), path


class _Outcome(NamedTuple):
    """How one build ended: its process (None when it ran out of time and was stopped),
    why it failed ("" when it ran to its end) and the problems it left out."""

    done: subprocess.CompletedProcess[str] | None
    error: str
    left_out: tuple[str, ...] = ()


def _killed(
    done: subprocess.CompletedProcess[str] | None, previous: BuildState, target: int
) -> int:
    """Builds of `target` killed by a signal in a row, this one included; 0 if it was not
    killed. Killed by a signal: a crash, not its input. Timed out: its input (we stopped it)."""
    if done is None or done.returncode >= 0:
        return 0
    if previous.killed and previous.tried == target:
        return previous.killed + 1
    return 1


def _last_line(done: subprocess.CompletedProcess[str] | None) -> str:
    """The build's summary: the last line it printed, if it printed any."""
    if done is None or not done.stdout.strip():
        return ""
    return done.stdout.strip().splitlines()[-1]


def _scanned(changed: int) -> str:
    if changed:
        return f"scanned the folders of {changed} changed files"
    return "scanned every topic folder"


def _log_outcome(state: BuildState, target: int) -> None:
    if state.left_out:
        log.error(
            "rebuilt generation %d in %.2f s, leaving out what has problems "
            "(fix them, and the next build publishes them): %s\n%s",
            target,
            state.duration,
            state.summary,
            "\n".join(state.left_out),
        )
    elif state.ok:
        log.info(
            "rebuilt generation %d in %.2f s (%s): %s",
            target,
            state.duration,
            _scanned(state.changed),
            state.summary,
        )
    elif not state.killed:
        log.error(
            "rebuild of generation %d failed; the next post asks for another: %s",
            target,
            state.error,
        )
    elif state.killed < MAX_KILLED:
        log.error(
            "rebuild of generation %d failed, trying again in %g s: %s",
            target,
            state.retry_at - time.time(),
            state.error,
        )
    else:
        log.error(
            "rebuild of generation %d failed, killed %d times in a row: the "
            "next post asks for another: %s",
            target,
            state.killed,
            state.error,
        )
