"""Rebuilds after published posts: in the background, coalesced, never overlapping.

Every published post bumps a generation counter shared by all worker processes (a file
under `.forumgen/`, changed under a lock). A background thread in each process runs
`forumgen build` whenever the built generation lags the requested one; a file lock makes
builds from different processes take turns, and whoever gets the lock builds everything
requested so far. So a burst of 100 posts gives a handful of builds, and a visitor can
wait for "a build that started after my post was written".

Builds run with --keep-going: a published post with a problem (whatever it is: a file
edited by hand, an import, a text the renderer cannot take) is left out and named in the
log and the state, and every other post is published. A problem in what the whole site
depends on (forumgen.yaml, the theme, categories.yaml) still stops the build.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from forumgen import leftout
from forumgen.files import atomic_write
from forumgen.locks import file_lock, output_state_dir, state_dir

log = logging.getLogger("intake.rebuild")
DEBOUNCE = 0.05  # seconds to let a burst gather before building
POLL = 5.0  # seconds between checks for builds requested by workers that died
RETRY = 1.0  # seconds before building again after a build was killed


@dataclass(frozen=True)
class BuildState:
    generation: int = 0
    builds: int = 0
    time: str = ""
    duration: float = 0.0
    ok: bool = True
    summary: str = ""
    error: str = ""
    left_out: tuple[str, ...] = ()
    """`path:line: message` of each problem the build left out (posts not published)."""


class Rebuilder:
    def __init__(self, site_dir: Path, base_url: str | None = None,
                 timeout: float = 600, *, output: Path | None = None,
                 drafts: bool = False) -> None:
        """Rebuilds of `site_dir` into `output` (default: output/) for `base_url` (default:
        the config's), with drafts shown when `drafts` (the preview). The preview of
        `forumgen serve` keeps its requests and state in its own folder, so a build of the
        preview never counts as one of output/, nor the reverse."""
        self.site_dir = site_dir
        self.base_url = base_url
        self.output = output
        self.drafts = drafts
        self.timeout = timeout
        folder = state_dir(site_dir) if output is None else output_state_dir(site_dir, output)
        self.folder = folder
        self.requests = folder / "rebuild-requested"
        self.state_file = folder / "rebuild-state.json"
        self.lock = folder / "rebuild.lock"
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def request(self) -> int:
        """Ask for a build that includes everything on disk now; returns its generation."""
        with file_lock(self.requests.with_suffix(".lock")):
            generation = self._requested() + 1
            atomic_write(self.requests, str(generation).encode())
        self._ensure_thread()
        self._wake.set()
        return generation

    def catch_up(self) -> None:
        """Start a build if one was requested and never finished: its worker may have been
        killed before its build began. Cheap enough to call on every request; the
        background thread also calls it every few seconds once started."""
        self._ensure_thread()
        if self._behind():
            self._wake.set()

    def wait(self, generation: int, timeout: float) -> BuildState | None:
        """The state once a build of `generation` or later has finished, or None on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            if state.generation >= generation:
                return state
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)

    def state(self) -> BuildState:
        try:
            state = BuildState(**json.loads(self.state_file.read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return BuildState()
        return replace(state, left_out=tuple(state.left_out))

    def _behind(self) -> bool:
        return self.state().generation < self._requested()

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
                self._thread = threading.Thread(target=self._run, name="forumgen-rebuild",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            if not self._wake.wait(POLL) and not self._behind():
                continue
            self._wake.clear()
            time.sleep(DEBOUNCE)
            try:
                if not self._build_if_behind():
                    time.sleep(RETRY)
                    self._wake.set()
            except Exception:  # the thread must outlive any single failure
                log.exception("rebuild failed")

    def _build_if_behind(self) -> bool:
        """Build what was requested; False if the build was killed (or timed out) before
        it finished, so it must run again: its posts are on disk but not on the pages."""
        with file_lock(self.lock):
            target = self._requested()
            previous = self.state()
            if previous.generation >= target:
                return True  # another process built it while we waited for the lock
            started = time.monotonic()
            # Niced: a rebuild is background work and must not slow down taking posts.
            command = ["nice", "-n", "10", sys.executable, "-m", "forumgen", "build",
                       "--site", str(self.site_dir), "--keep-going"]
            if self.output is not None:
                command += ["--output", str(self.output)]
            if self.base_url:
                command += ["--base-url", self.base_url]
            if self.drafts:
                command.append("--drafts")
            done: subprocess.CompletedProcess[str] | None = None
            recorded = leftout.stamp(self.folder)
            left_out: tuple[str, ...] = ()
            try:
                done = subprocess.run(command, capture_output=True, text=True,
                                      timeout=self.timeout)
            except subprocess.TimeoutExpired:
                error = f"the build took longer than {self.timeout:g} s and was stopped"
            else:
                if done.returncode < 0:
                    error = f"the build was killed by signal {-done.returncode}"
                elif done.returncode == 0 or leftout.stamp(self.folder) != recorded:
                    # It ran to its end (what it left out, it recorded).
                    error = ""
                    left_out = tuple(map(str, leftout.last(self.folder)))
                else:
                    error = done.stderr.strip()[-4000:] or f"exit status {done.returncode}"
            killed = done is None or done.returncode < 0
            state = BuildState(
                # A killed build leaves its generation unbuilt, so it is tried again.
                generation=previous.generation if killed else target,
                builds=previous.builds + 1,
                time=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                duration=round(time.monotonic() - started, 3), ok=not error,
                summary=done.stdout.strip().splitlines()[-1]
                if done is not None and done.stdout.strip() else "", error=error,
                left_out=left_out)
            atomic_write(self.state_file, json.dumps(asdict(state)).encode())
            if state.left_out:
                log.error("rebuilt generation %d in %.2f s, leaving out what has problems "
                          "(fix them, and the next build publishes them): %s\n%s", target,
                          state.duration, state.summary, "\n".join(state.left_out))
            elif state.ok:
                log.info("rebuilt generation %d in %.2f s: %s", target, state.duration,
                         state.summary)
            else:
                log.error("rebuild of generation %d failed%s: %s", target,
                          ", trying again" if killed else "", state.error)
            return not killed
