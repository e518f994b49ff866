"""Live reload for `forumgen serve`: open pages reload after each rebuild, and show a
failed build's problems until a later build succeeds.

Nothing of it is ever written into a build: serve answers two URLs under a reserved path,
`<base path>__forumgen__/reload.js` (the script, `livereload.js`) and `.../events` (a
Server-Sent Events stream of build outcomes), and adds the script's tag to the HTML pages
it serves as they go out. The script is a file from the site's own origin, so the pages'
Content-Security-Policy (`script-src 'self'`) needs no exception.

Every stream ends after STREAM_SECONDS (the browser's EventSource reconnects by itself)
and says something every HEARTBEAT_SECONDS, so an open page holds a server thread only
for a while, a closed one is noticed, and stopping the server never waits for a page.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .headers import StartResponse, WSGIApp

RESERVED = "__forumgen__/"
SCRIPT = Path(__file__).with_name("livereload.js")
STREAM_SECONDS = 25.0
HEARTBEAT_SECONDS = 10.0
RETRY_MS = 1000
HEAD_END = re.compile(rb"</head\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class Outcome:
    """The outcome of the latest build; `generation` counts builds since serve started."""

    generation: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def event(self) -> bytes:
        data = json.dumps(
            {"generation": self.generation, "ok": self.ok, "problems": list(self.problems)},
            ensure_ascii=False,
        )
        return f"event: build\ndata: {data}\n\n".encode()


class LiveReload:
    """The builds' outcomes, told to every open page. `max_streams` bounds the pages
    listening at once, for servers with a fixed number of threads: a page beyond it is
    still served, it just does not reload by itself."""

    def __init__(self, base_path: str, max_streams: int) -> None:
        self.prefix = base_path + RESERVED
        self.max_streams = max_streams
        self._changed = threading.Condition()
        self._outcome = Outcome(0, ())
        self._streams = 0
        self._closing = False

    @property
    def script_url(self) -> str:
        return quote(self.prefix, safe="/") + "reload.js"

    def publish(self, problems: Sequence[str]) -> None:
        """A build ended, with these problems (none: it succeeded)."""
        with self._changed:
            self._outcome = Outcome(self._outcome.generation + 1, tuple(problems))
            self._changed.notify_all()

    def close(self) -> None:
        """End every stream: the server is stopping."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()

    # The reserved URLs -------------------------------------------------------------

    def app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """reload.js and the event stream, mounted at `prefix` (PATH_INFO below it)."""
        name, method = environ.get("PATH_INFO", ""), environ["REQUEST_METHOD"]
        if name == "/reload.js" and method in ("GET", "HEAD"):
            script = SCRIPT.read_bytes()
            start_response(
                "200 OK",
                [
                    ("Content-Type", "text/javascript; charset=utf-8"),
                    ("Content-Length", str(len(script))),
                    ("Cache-Control", "no-cache"),
                ],
            )
            return [b""] if method == "HEAD" else [script]
        if name != "/events" or method != "GET":
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"404 Not Found\n"]
        with self._changed:
            full = self._streams >= self.max_streams
            if not full:
                self._streams += 1
        if full:  # 204 tells EventSource not to reconnect
            start_response("204 No Content", [])
            return [b""]
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/event-stream; charset=utf-8"),
                ("Cache-Control", "no-cache"),
                ("X-Accel-Buffering", "no"),
            ],
        )
        return _Stream(self)

    def _events(self) -> Generator[bytes, None, None]:
        """The current outcome at once, then each new one, with heartbeats, until the
        stream's time is up."""
        yield f"retry: {RETRY_MS}\n\n".encode()
        deadline = time.monotonic() + STREAM_SECONDS
        sent: Outcome | None = None
        while True:
            with self._changed:
                outcome, closing = self._outcome, self._closing
            if closing:
                return
            yield outcome.event() if outcome != sent else b": still here\n\n"
            sent = outcome
            left = deadline - time.monotonic()
            if left <= 0:
                return
            with self._changed:
                self._changed.wait_for(self._news(outcome), min(HEARTBEAT_SECONDS, left))

    def _news(self, last: Outcome) -> Callable[[], bool]:
        return lambda: self._outcome != last or self._closing

    def _ended(self) -> None:
        with self._changed:
            self._streams -= 1

    # Adding the script to pages ------------------------------------------------------

    def inject(self, app: WSGIApp) -> WSGIApp:
        """`app` with the script's tag added to its HTML answers to GET and HEAD; their
        Content-Length follows, and their ETag names the build generation too, since the
        tag carries it."""

        def injected(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            method = environ["REQUEST_METHOD"]
            if method not in ("GET", "HEAD"):
                return app(environ, start_response)
            generation = self._outcome.generation
            suffix = f"-g{generation}"
            inner = {**environ, "REQUEST_METHOD": "GET"}  # HEAD: the length of the GET
            tag = environ.get("HTTP_IF_NONE_MATCH", "")
            if tag.endswith(f'{suffix}"'):  # given out for this generation
                inner["HTTP_IF_NONE_MATCH"] = tag[: -len(suffix) - 1] + '"'
            answer: dict[str, Any] = {}

            def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                answer.update(status=status, headers=headers, exc_info=exc_info)
                return None

            result = app(inner, capture)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            headers: list[tuple[str, str]] = answer["headers"]
            kind = next((v for k, v in headers if k.lower() == "content-type"), "")
            if kind.startswith("text/html"):
                if body:
                    body = self._with_script(body, generation)
                headers = [
                    (k, _etag(v, suffix) if k.lower() == "etag" else v)
                    for k, v in headers
                    if k.lower() != "content-length"
                ]
                if body:
                    headers.append(("Content-Length", str(len(body))))
            start_response(answer["status"], headers, answer["exc_info"])
            return [b""] if method == "HEAD" else [body]

        return injected

    def _with_script(self, page: bytes, generation: int) -> bytes:
        tag = (
            f'<script src="{html.escape(self.script_url)}" data-generation="{generation}"'
            " defer></script>"
        ).encode()
        end = HEAD_END.search(page)
        at = end.start() if end else len(page)
        return page[:at] + tag + page[at:]


def _etag(value: str, suffix: str) -> str:
    """A page's ETag marked with the generation it was served in (`suffix`, `-g<n>`)."""
    if value.endswith('"'):
        return f'{value[:-1]}{suffix}"'
    return value


class _Stream:
    """The event stream as a WSGI body: servers call close() when it ends or the page
    went away, iterated or not, which frees its place."""

    def __init__(self, reload: LiveReload) -> None:
        self.reload = reload
        self.events = reload._events()
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return self.events

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.events.close()
            self.reload._ended()
