"""The intake service: takes posts from the forum's forms, stores them durably and
rebuilds the site. `create_app(site_dir)` returns the WSGI application (Bottle inside)."""

from .app import create_app

__all__ = ["create_app"]
