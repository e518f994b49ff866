"""Who sent a request: the visitor's address, what the rate limit counts it under, and
whether the request comes from this machine (which may see the intake's details).

Behind a proxy on this machine (nginx, as the README sets it up) every request arrives
from a loopback address, the visitor's own address in `X-Forwarded-For`. That header is
believed only from a loopback peer: anyone else could write it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from typing import Any

IPv6_CLIENT_PREFIX = 64
"""One IPv6 client: the smallest network a provider hands a customer (RFC 6177), in
which a client picks any of 2**64 addresses at will."""
# Headers in which a proxy names the client it forwards a request for (WSGI names).
_FORWARDING = ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")
_FORWARDED_FOR = re.compile(r'(?:^|[;,\s])for\s*=\s*("[^"]*"|[^;,\s]*)', re.IGNORECASE)


def client_address(environ: Mapping[str, Any]) -> str:
    """The visitor's address. X-Forwarded-For is believed only from a proxy on this
    machine (nginx in front of gunicorn); anyone else could forge it."""
    remote = str(environ.get("REMOTE_ADDR", ""))
    forwarded = str(environ.get("HTTP_X_FORWARDED_FOR", ""))
    if _loopback(remote) and forwarded:
        return forwarded.split(",")[-1].strip()
    return remote


def rate_key(address: str) -> str:
    """What the per-address rate limit counts `address` under: an IPv4 address as it is
    (an IPv4-mapped IPv6 address as that IPv4 address), an IPv6 address by its /64, so
    a client cannot get a fresh limit by taking another address of its network."""
    ip = _ip(address)
    if ip is None:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        host_bits = 128 - IPv6_CLIENT_PREFIX
        network = ipaddress.IPv6Address(int(ip) >> host_bits << host_bits)
        return f"{network}/{IPv6_CLIENT_PREFIX}"
    return str(ip)


def from_this_machine(environ: Mapping[str, Any]) -> bool:
    """Whether the request was sent from this machine: its peer is a loopback address
    (127.0.0.0/8, ::1) and no proxy header names a client anywhere else. A proxy on this
    machine forwards requests from anyone, naming them in X-Forwarded-For (or Forwarded,
    or X-Real-IP); a header that cannot be read counts as naming someone else."""
    if not _loopback(str(environ.get("REMOTE_ADDR", ""))):
        return False
    return all(_loopback(address) for address in _named_clients(environ))


def _named_clients(environ: Mapping[str, Any]) -> Iterator[str]:
    for header in _FORWARDING:
        value = environ.get(header)
        if value is None:
            continue
        if header == "HTTP_FORWARDED":
            found = [m.group(1).strip('"') for m in _FORWARDED_FOR.finditer(str(value))]
            yield from found or [str(value)]
        else:
            yield from (part.strip() for part in str(value).split(","))


def _loopback(address: str) -> bool:
    ip = _ip(address)
    return ip is not None and ip.is_loopback


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address in `address`, written plain, in brackets or with a port
    (`[2001:db8::1]:4711`, `192.0.2.1:80`), or None if it is none."""
    text = address.strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip
