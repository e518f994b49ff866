"""The HTTP headers that keep the forum's pages from being turned against their readers.

Everything `forumgen serve` and the intake answer carries them, and the README's nginx
recipe sets the same for `output/`. The theme uses no inline script or style, so the
policy can forbid both: even HTML that got past the sanitizer could not run a script.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from .config import Config

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def security_headers(config: Config) -> list[tuple[str, str]]:
    intake = urlsplit(config.intake_url)
    # Forms post to the intake, which may live on another origin.
    form_action = "'self'" + (f" {intake.scheme}://{intake.netloc}" if intake.netloc else "")
    policy = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            f"form-action {form_action}",
            "frame-ancestors 'none'",
        ]
    )
    return [
        ("Content-Security-Policy", policy),
        ("X-Content-Type-Options", "nosniff"),
        # Not no-referrer: browsers would then send "Origin: null" with the forms'
        # posts, and the intake accepts posts only from the forum's own origin.
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("X-Frame-Options", "DENY"),
    ]


class Secured:
    """WSGI middleware adding `headers` to every response that does not set them."""

    def __init__(self, app: WSGIApp, headers: list[tuple[str, str]]) -> None:
        self.app, self.headers = app, headers

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            present = {name.lower() for name, _ in headers}
            return start_response(
                status,
                [*headers, *(h for h in self.headers if h[0].lower() not in present)],
                exc_info,
            )

        return self.app(environ, start)
