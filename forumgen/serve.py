"""`forumgen serve`: a preview of the site, rendered apart from output/ for the address it
is served at, and served as one WSGI application: the pages, the intake mounted at the
path of `intake.url` (publishing into the preview), and live reload (livereload.py); a
watchdog rebuilds on changes.

The preview lives in `.forumgen/preview/` (locks.preview_dir), like `hugo server`'s in
memory: serving never changes output/, which only `forumgen build` writes, so what is
published never links to the preview's address.

The intake is looked up by name (`intake.create_app`), so the generator never imports it.
"""

from __future__ import annotations

import email.utils
import hashlib
import importlib
import logging
import mimetypes
import os
import socketserver
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from .build import BuildReport, build
from .chars import visible
from .config import Config
from .headers import Secured, StartResponse, WSGIApp, security_headers
from .listen import address
from .livereload import LiveReload
from .locks import preview_output

log = logging.getLogger("forumgen.serve")
TEXT_TYPES = (
    "text/",
    "application/xml",
    "application/atom+xml",
    "application/javascript",
    "application/json",
    "image/svg+xml",
)
NOT_FOUND = (
    b'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>404 Not Found'
    b"</title></head><body><h1>404 Not Found</h1></body></html>\n"
)
WAITRESS_THREADS = 16
STREAMS = {"wsgiref": 64, "waitress": WAITRESS_THREADS // 2}
"""Pages reloading at once, per server: each holds a thread. None under gunicorn, whose
few workers an open page would hold."""


@dataclass(frozen=True)
class Preview:
    """What `forumgen serve` renders: the site as served at `base_url`, drafts included,
    into its own folder. The one place where the preview build's arguments are set."""

    site_dir: Path
    base_url: str

    @property
    def output(self) -> Path:
        return preview_output(self.site_dir)

    def build(self, changed: list[Path] | None = None) -> BuildReport:
        """Build the preview; `changed`: the only files changed since the last build,
        when known (see build.build)."""
        # One process: forking a process that runs server threads could deadlock.
        return build(
            self.site_dir, self.output, self.base_url, jobs=1, drafts=True, changed=changed
        )


class StaticFiles:
    """Serves a build folder the way a static host does: `index.html` for folders,
    `404.html` for what is missing, nothing outside the folder, and no hidden file or
    folder in it (a `.git/` or `.htpasswd` someone put there). Only `.well-known/` at the
    top is served, as hosts do: it holds what other sites look up (`security.txt`), and
    the build copies it from the site's static/ folder."""

    PUBLIC_HIDDEN = ".well-known"

    def __init__(self, root: Path, base_path: str = "/") -> None:
        self.root = root.resolve()
        self.base_path = base_path

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            start_response(
                "405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Type", "text/plain")]
            )
            return [b"405 Method Not Allowed\n"]
        raw = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        # PEP 3333 gives PATH_INFO as latin-1 decoded bytes; URLs are UTF-8.
        path = raw.encode("latin-1").decode("utf-8", "replace")
        if path + "/" == self.base_path:
            return self._redirect(start_response, self.base_path)
        if not path.startswith(self.base_path):
            return self._not_found(environ, start_response)
        file = self._resolve(path[len(self.base_path) :])
        if file is None:
            return self._not_found(environ, start_response)
        if file.is_dir():
            if not path.endswith("/"):
                return self._redirect(start_response, quote(path, safe="/") + "/")
            file = file / "index.html"
            if not file.is_file():
                return self._not_found(environ, start_response)
        return self._file(environ, start_response, file, "200 OK")

    def _resolve(self, relative: str) -> Path | None:
        """The file for a URL path, or None if it is missing or would leave the root."""
        relative = unquote(relative)
        if "\x00" in relative or "\\" in relative:
            return None
        parts = [p for p in relative.split("/") if p not in ("", ".")]
        if any(p == ".." for p in parts) or self._hidden(parts):
            return None
        if parts:
            candidate = self.root.joinpath(*parts)
        else:
            candidate = self.root
        try:
            real = candidate.resolve()
        except (OSError, RuntimeError):
            return None
        if real != self.root and self.root not in real.parents:
            return None
        if self._hidden(real.relative_to(self.root).parts):  # reached through a symlink
            return None
        return candidate if candidate.exists() else None

    def _hidden(self, parts: Sequence[str]) -> bool:
        """Whether a path below the root names a hidden file or folder. The root itself
        may be inside one (the preview is in `.forumgen/`): only what is below counts."""
        if parts and parts[0] == self.PUBLIC_HIDDEN:
            parts = parts[1:]
        return any(part.startswith(".") for part in parts)

    def _file(
        self, environ: dict[str, Any], start_response: StartResponse, file: Path, status: str
    ) -> Iterable[bytes]:
        stat = file.stat()
        version = f"{stat.st_mtime_ns}-{stat.st_size}".encode()
        etag = f'"{hashlib.sha1(version).hexdigest()[:16]}"'
        headers = [
            ("Content-Type", content_type(file)),
            ("ETag", etag),
            ("Last-Modified", email.utils.formatdate(stat.st_mtime, usegmt=True)),
            ("Cache-Control", cache_control(file)),
            ("X-Content-Type-Options", "nosniff"),
        ]
        if status.startswith("200") and environ.get("HTTP_IF_NONE_MATCH") == etag:
            start_response("304 Not Modified", headers)
            return [b""]
        data = file.read_bytes()
        headers.append(("Content-Length", str(len(data))))
        start_response(status, headers)
        if environ["REQUEST_METHOD"] == "HEAD":
            return [b""]
        return [data]

    def _not_found(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        page = self.root / "404.html"
        if page.is_file():
            return self._file(environ, start_response, page, "404 Not Found")
        # A page all the same (before a first build succeeded), so live reload shows why.
        start_response(
            "404 Not Found",
            [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(NOT_FOUND)))],
        )
        return [NOT_FOUND]

    @staticmethod
    def _redirect(start_response: StartResponse, location: str) -> Iterable[bytes]:
        start_response(
            "301 Moved Permanently", [("Location", location), ("Content-Type", "text/plain")]
        )
        return [b""]


def content_type(file: Path) -> str:
    if file.name == "feed.xml":
        kind = "application/atom+xml"
    else:
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    if kind.startswith(TEXT_TYPES):
        return f"{kind}; charset=utf-8"
    return kind


def cache_control(file: Path) -> str:
    # Pages change with every post: revalidate (cheap with the ETag). Theme assets for an hour.
    if "static" in file.parts:
        return "public, max-age=3600"
    return "no-cache"


class Dispatcher:
    """Send requests under `prefix` to `mounted` (with SCRIPT_NAME/PATH_INFO adjusted, as
    any WSGI mount does), everything else to `default`."""

    def __init__(self, default: WSGIApp, prefix: str, mounted: WSGIApp) -> None:
        self.default, self.prefix, self.mounted = default, prefix.rstrip("/"), mounted

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == self.prefix or path.startswith(self.prefix + "/"):
            environ = {
                **environ,
                "SCRIPT_NAME": environ.get("SCRIPT_NAME", "") + self.prefix,
                "PATH_INFO": path[len(self.prefix) :],
            }
            return self.mounted(environ, start_response)
        return self.default(environ, start_response)


def live_reload(config: Config, server: str) -> LiveReload | None:
    """Live reload for the pages `server` serves, if it can afford the streams."""
    streams = STREAMS.get(server)
    if streams is None:
        return None
    return LiveReload(config.base_path, streams)


def application(config: Config, output: Path, reload: LiveReload | None = None) -> WSGIApp:
    """The whole preview as one WSGI application: the pages in `output` (with the live
    reload script when `reload` is given) and the intake, publishing into `output`."""
    pages: WSGIApp = StaticFiles(output, config.base_path)
    if reload is not None:
        pages = Dispatcher(reload.inject(pages), reload.prefix, reload.app)
    intake_path = urlsplit(config.intake_url).path
    create_app = importlib.import_module("intake").create_app
    intake = create_app(config.site_dir, config.base_url, output=output, drafts=True)
    return Secured(Dispatcher(pages, intake_path, intake), security_headers(config))


class _Changes(FileSystemEventHandler):
    """Collects changes to what a build reads, ignoring what builds and the intake write,
    and the paths they were made to (for `build --changed`)."""

    IGNORED = ("output", ".forumgen", "pending", ".git")  # written by builds and the intake
    MOST = 500  # paths worth naming to a build; past that it scans everything

    def __init__(self, site_dir: Path, changed: threading.Event) -> None:
        self.site_dir, self.changed = site_dir, changed
        self._paths: set[Path] = set()
        self._lock = threading.Lock()

    def take(self) -> list[Path] | None:
        """The paths changed since the last call, or None if there are too many to name,
        or none (only folders said they changed, as some file systems' events do)."""
        with self._lock:
            paths, self._paths = self._paths, set()
        if not paths or len(paths) > self.MOST:
            return None
        return sorted(paths)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed", "closed_no_write"):
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            path = os.fsdecode(raw)
            if not path:
                continue
            try:
                parts = Path(path).relative_to(self.site_dir).parts
            except ValueError:
                continue
            if parts and parts[0] not in self.IGNORED and not parts[-1].startswith("."):
                # A folder is modified when its entries change: each has its own event.
                if not (event.is_directory and event.event_type == "modified"):
                    with self._lock:
                        self._paths.add(Path(path))
                self.changed.set()


def watch(
    site_dir: Path, rebuild: Callable[[list[Path] | None], object], debounce: float = 0.3
) -> Callable[[], None]:
    """Rebuild after changes settle, telling `rebuild` the paths changed (None: too many
    to name); returns a function that stops watching."""
    changed = threading.Event()
    stopping = threading.Event()
    observer = Observer()
    handler = _Changes(site_dir, changed)
    # Only what builds read: watching output/ would cost an inotify watch per page folder.
    observer.schedule(handler, str(site_dir), recursive=False)
    for name in ("content", "themes", "static"):
        if (site_dir / name).is_dir():
            observer.schedule(handler, str(site_dir / name), recursive=True)
    observer.start()

    def loop() -> None:
        while not stopping.is_set():
            if not changed.wait(0.2):
                continue
            while True:  # let a burst of saves settle
                changed.clear()
                time.sleep(debounce)
                if not changed.is_set():
                    break
            if not stopping.is_set():
                rebuild(handler.take())

    thread = threading.Thread(target=loop, name="forumgen-watch", daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        observer.stop()
        observer.join(5)
        thread.join(5)

    return stop


class ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib name)
        # The request line is the client's: escaped, an ESC in it cannot act on the
        # terminal showing the log.
        logging.getLogger("forumgen.access").info(
            "%s %s", self.address_string(), visible(format % args)
        )


def run(app_factory: Callable[[], WSGIApp], host: str, port: int, server: str) -> None:
    """Serve until interrupted. `app_factory` is called where the app will run: in this
    process for wsgiref and waitress, in each worker for gunicorn."""
    if server == "wsgiref":
        family = address(host, port)[0]
        server_class: type[ThreadingServer] = type(
            "Server", (ThreadingServer,), {"address_family": family}
        )
        with make_server(
            host, port, app_factory(), server_class=server_class, handler_class=QuietHandler
        ) as httpd:
            httpd.serve_forever()
    elif server == "waitress":
        waitress = importlib.import_module("waitress")
        waitress.serve(app_factory(), host=host, port=port, threads=WAITRESS_THREADS)
    elif server == "gunicorn":
        _run_gunicorn(app_factory, host, port)
    else:
        raise ValueError(f"unknown server {server!r}")


def _run_gunicorn(app_factory: Callable[[], WSGIApp], host: str, port: int) -> None:
    base = importlib.import_module("gunicorn.app.base")

    class Embedded(base.BaseApplication):  # type: ignore[misc, name-defined]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", 2)

        def load(self) -> WSGIApp:
            return app_factory()

    Embedded().run()


def available_servers() -> list[str]:
    """wsgiref always; gunicorn and waitress when installed."""
    found = ["wsgiref"]
    for name in ("gunicorn", "waitress"):
        try:
            importlib.import_module(name)
            found.append(name)
        except ImportError:
            pass
    return found
