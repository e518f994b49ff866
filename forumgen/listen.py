"""Where `forumgen serve` listens: checked before anything is built, so a port in use or
an address of another machine is one line of explanation, not a traceback after a build."""

from __future__ import annotations

import errno
import socket
from typing import Any


def origin(host: str, port: int) -> str:
    """The http origin of an address (IPv6 hosts in brackets)."""
    if ":" in host:
        return f"http://[{host}]:{port}"
    return f"http://{host}:{port}"


def address(host: str, port: int) -> tuple[socket.AddressFamily, Any]:
    """The family and socket address the server binds for host:port."""
    family, _kind, _proto, _name, where = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    return family, where


def address_problem(host: str, port: int) -> str | None:
    """Why a server could not listen on host:port, in one line, or None if it can.
    Checked before anything is built, so a wrong --port or --host writes nothing."""
    try:
        family, where = address(host, port)
    except (socket.gaierror, UnicodeError) as exc:
        return f"cannot listen on {host}: {getattr(exc, 'strerror', None) or exc}"
    error = _bind_error(family, where)
    if error is None:
        return None
    if error.errno == errno.EADDRINUSE:
        free = next(
            (
                p
                for p in range(port + 1, 65536)
                if _bind_error(family, (where[0], p, *where[2:])) is None
            ),
            None,
        )
        return f"port {port} is in use" + (f"; try --port {free}" if free else "")
    if error.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {host}: it is not an address of this machine"
    return f"cannot listen on {host} port {port}: {error.strerror or error}"


def _bind_error(family: socket.AddressFamily, where: Any) -> OSError | None:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As the servers do: a port whose last connections are closing is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(where)
        except OSError as exc:
            return exc
    return None
