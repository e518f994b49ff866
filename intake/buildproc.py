"""`forumgen build` for the intake, in a process that starts without importing anything.

A fresh `python -m forumgen build` spends about half a second importing forumgen and its
libraries before it looks at the site: on a small forum, most of the time between a
published post and the page that shows it. Builds still run in processes of their own
(a build that crashes or is killed takes nothing of the intake with it, and its memory
goes back when it ends), but forked from a server process that imported forumgen once
(multiprocessing's forkserver, preloaded), so they start at once. Each build names itself
`forumgen build --site ...` (setproctitle), so `ps` and `top` show what it is.

The server starts with the intake (`start`), not with its first build: else the first post
each gunicorn worker takes waits the half second of imports after all. A process forked
from one whose server was running (gunicorn `--preload` forks its workers from the
process that loaded the app) cannot use that server: it runs its builds as
`python -m forumgen`, as slow to start as before and as correct. So does a build the
server cannot start: its socket, in a temporary folder, may have been removed by a
cleaner of /tmp.
"""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import multiprocessing.forkserver
import multiprocessing.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from setproctitle import setproctitle

log = logging.getLogger("intake.rebuild")
_CONTEXT = multiprocessing.get_context("forkserver")
# This module too: a build's process finds `_main` by importing its module, which
# imports the intake (Bottle and the app): 60 ms of every build, when not done once here.
_CONTEXT.set_forkserver_preload(["forumgen.cli", __name__])
_server_of: int | None = None
"""The process that started the server, once one did."""
_kept: int | None = None
"""The open, locked folder of the server's socket (see `_keep`)."""


def start() -> None:
    """Start the server builds fork from, if this process has none yet (it takes about
    half a second; call it off the request path)."""
    global _server_of
    if _server_of is None:
        _server_of = os.getpid()  # first: a process forked from here on must not use it
        multiprocessing.forkserver.ensure_running()
        _keep(multiprocessing.util.get_temp_dir())


def _keep(folder: str) -> None:
    """Hold a shared lock on the temporary folder of the server's socket for as long as
    this process runs. systemd-tmpfiles leaves a locked folder alone (tmpfiles.d(5)); else
    it removes one older than its age limit (10 days for /tmp on many systems) whenever
    it cannot tell the socket is in use, as when the intake runs in a network namespace of
    its own (systemd's PrivateNetwork=)."""
    global _kept
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_SH)
    _kept = fd


def run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run `forumgen` with `args` (`["build", "--site", ...]`) as `subprocess.run(...,
    capture_output=True, text=True, timeout=timeout)` would run the command: its exit
    status (negative: the signal that killed it), what it printed, and TimeoutExpired once
    it ran for `timeout` seconds (it is killed first)."""
    if _server_of not in (None, os.getpid()):
        return _run_command(args, timeout)
    with tempfile.TemporaryDirectory(prefix="forumgen-build-") as folder:
        out, err = Path(folder) / "stdout", Path(folder) / "stderr"
        process = _CONTEXT.Process(
            target=_main, args=(args, str(out), str(err)), name="forumgen-build", daemon=False
        )
        try:
            start()
            process.start()
        except OSError as error:
            # The server's socket lives in a temporary folder, which a cleaner of /tmp
            # may have removed (systemd-tmpfiles leaves it, see `_keep`; others may not):
            # the build still runs, only slower to start.
            log.warning(
                "the build server could not start this build (%s): running it as a new "
                "process, slower to start; restarting the intake restores the server",
                error,
            )
            return _run_command(args, timeout)
        process.join(timeout)
        if process.exitcode is None:
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(["forumgen", *args], timeout)
        return subprocess.CompletedProcess(
            ["forumgen", *args], process.exitcode, _read(out), _read(err)
        )


def _run_command(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """The build as a new `python -m forumgen` process."""
    command = [sys.executable, "-m", "forumgen", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def _main(args: list[str], out: str, err: str) -> None:
    """In the build's process: print into the files the intake reads, then run the CLI,
    whose exit status becomes the process's."""
    setproctitle(" ".join(["forumgen", *args]))
    for path, fd in ((out, 1), (err, 2)):
        file = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(file, fd)
        os.close(file)
    from forumgen.cli import main  # imported by the server already: no cost here

    main(args=args, prog_name="forumgen")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:  # killed before it opened them
        return ""
