"""Real servers on 127.0.0.1 for the tests, started and stopped by them, and a tiny
HTTP client that does not follow redirects (the redirect is what we check)."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _port_range() -> tuple[int, int]:
    """Ports below the kernel's ephemeral range, where no outgoing connection can
    take the port between our check and the server's bind."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return max(1024, low - 12000), low


_LOW, _HIGH = _port_range()
_handed_out = itertools.count(random.randrange(_LOW, _HIGH))


def free_port() -> int:
    """A port nothing listens on, never handed out before in this run.

    A port the kernel picks for a bind to port 0 lies in the ephemeral range: a
    client socket opened by anything on the machine may take it before the server
    under test binds it (a CI run failed so, "Address already in use"). Ports are
    therefore taken below that range, each one once per run, and checked free."""
    for _ in range(_HIGH - _LOW):
        port = _LOW + next(_handed_out) % (_HIGH - _LOW)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_LOW}..{_HIGH}")


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


def secured(response: Response) -> bool:
    """Whether an answer carries the security headers (forumgen/headers.py)."""
    policy = response.headers.get("content-security-policy", "")
    return (
        "script-src 'self'" in policy
        and "frame-ancestors 'none'" in policy
        and "'unsafe-inline'" not in policy
        and response.headers.get("x-content-type-options") == "nosniff"
        and response.headers.get("referrer-policy") == "strict-origin-when-cross-origin"
        and response.headers.get("x-frame-options") == "DENY"
    )


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    prefix: str = ""

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30,
    ) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, self.prefix + path, body=body, headers=dict(headers or {}))
            answer = conn.getresponse()
            return Response(
                answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
            )
        finally:
            conn.close()

    def post(
        self,
        path: str,
        fields: Mapping[str, str],
        json_api: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        all_headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            **({"Accept": "application/json"} if json_api else {}),
            **(headers or {}),
        }
        return self.request("POST", path, urlencode(fields).encode(), all_headers)

    def get(self, path: str) -> Response:
        return self.request("GET", path)


def wait_until_up(
    port: int, process: subprocess.Popen[bytes], path: str, seconds: float = 30
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode}: "
                f"{process.stderr.read().decode() if process.stderr else ''}"
            )
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


@contextmanager
def running(
    command: list[str],
    port: int,
    env: Mapping[str, str],
    health: str,
    prefix: str = "",
    log: Path | None = None,
) -> Iterator[Server]:
    """`command` serving on `port` once `health` answers, until the block ends. What it
    prints goes to `log` (by default a file removed afterwards); if the block fails, the
    log's end is printed, so that the failure comes with what the server said (if the
    test fails while a fixture keeps the server running, conftest shows it)."""
    with ExitStack() as stack:
        if log is None:
            log = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="server-"))) / "log"
        out = stack.enter_context(open(log, "wb"))  # noqa: SIM115
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        LIVE_LOGS.append(log)
        try:
            wait_until_up(port, process, prefix + health)
            yield Server(port, process, prefix)
        except BaseException:
            print(f"--- the end of the server's log ({log}):", log_tail(log), sep="\n")
            raise
        finally:
            LIVE_LOGS.remove(log)
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


LIVE_LOGS: list[Path] = []
"""The logs of the servers running now: conftest shows them when a test fails while a
fixture keeps its server running."""


def log_tail(log: Path, lines: int = 60) -> str:
    """The last `lines` lines of a server's log."""
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def gunicorn(
    site: Path,
    workers: int = 2,
    log: Path | None = None,
    options: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Any:
    """gunicorn serving the intake of `site` on a free port. Without the control socket:
    every gunicorn of a user shares one ($HOME/.gunicorn/gunicorn.ctl), and tests run
    several at once."""
    port = free_port()
    return running(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "5",
            "--no-control-socket",
            *options,
            "intake.wsgi:application",
        ],
        port,
        {"FORUMGEN_SITE": str(site), **(env or {})},
        "/health",
        log=log,
    )


BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def scanned_since_boot(site: Path) -> Path:
    """Record that a rebuild scanned everything since the machine started, so that an
    intake starting on `site` does not ask for one by itself; returns the file that says
    so."""
    boot = site / ".forumgen/rebuild-boot"
    boot.parent.mkdir(exist_ok=True)
    boot.write_text(BOOT_ID.read_text().strip())
    return boot


def bottle_server(site: Path) -> Any:
    port = free_port()
    code = (
        "import bottle, sys, intake; bottle.run(intake.create_app(sys.argv[1]), "
        f"host='127.0.0.1', port={port}, quiet=True)"
    )
    return running([sys.executable, "-c", code, str(site)], port, {}, "/health")


def example_copy(folder: Path, **intake: Any) -> Path:
    """The bundled example forum (config and content only, never the repository's
    output/) copied into `folder`, with `intake` settings changed."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "content", folder / "content")
    config = yaml.safe_load((ROOT / "forumgen.yaml").read_text(encoding="utf-8"))
    config["intake"] = {**config.get("intake", {}), **intake}
    (folder / "forumgen.yaml").write_text(
        yaml.safe_dump(config, allow_unicode=True), encoding="utf-8"
    )
    return folder


def forumgen_serve(site: Path, log: Path | None = None, watch: bool = False) -> Any:
    """`forumgen serve` for `site` on a free port, as a user starts it; without the
    watcher (and so without live reload) unless `watch`, for tests that change content
    only through the intake."""
    port = free_port()
    return running(
        [
            sys.executable,
            "-m",
            "forumgen",
            "serve",
            "--site",
            str(site),
            "--port",
            str(port),
            "--watch" if watch else "--no-watch",
        ],
        port,
        {},
        "/",
        log=log,
    )


@dataclass
class ServedExample:
    """A copy of the example forum served by `forumgen serve` in publish mode."""

    site: Path
    server: Server

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.port}{path}"


@contextmanager
def served_example(
    folder: Path, prepare: Callable[[Path], None] | None = None
) -> Iterator[ServedExample]:
    """The example served; `prepare` changes the copy's content before it is built."""
    site = example_copy(folder / "site", moderation="publish", rate_limit="100/minute")
    if prepare is not None:
        prepare(site)
    with forumgen_serve(site, log=folder / "serve.log") as server:
        yield ServedExample(site, server)
