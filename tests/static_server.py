"""`python tests/static_server.py OUTPUT PORT`: serves a build folder on 127.0.0.1 with
forumgen's own static-file app (as `forumgen serve` does, without the intake and without
building), for the link checker.

Every answer carries a `LinkChecker` header: the way a server tells linkchecker it may
send more than ten requests a second (without it, linkchecker waits 0.1-0.6 s between
requests to one host, minutes for a forum).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from wsgiref.simple_server import make_server

from forumgen.serve import QuietHandler, StaticFiles, ThreadingServer


def application(output: Path) -> Any:
    files = StaticFiles(output)

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [*headers, ("LinkChecker", "unthrottled")], exc_info)

        return files(environ, start)

    return app


if __name__ == "__main__":
    with make_server(
        "127.0.0.1",
        int(sys.argv[2]),
        application(Path(sys.argv[1])),
        server_class=ThreadingServer,
        handler_class=QuietHandler,
    ) as httpd:
        httpd.serve_forever()
