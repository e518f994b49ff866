"""The intake service: takes posts from the forum's forms, stores them durably and
rebuilds the site. `create_app(site_dir)` returns the Bottle (WSGI) application."""

from .app import create_app

__all__ = ["create_app"]
