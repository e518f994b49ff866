"""`gunicorn intake.wsgi:application` with FORUMGEN_SITE naming the site folder."""

from __future__ import annotations

import logging
import os

from .app import create_app

_site = os.environ.get("FORUMGEN_SITE")
if not _site:
    raise SystemExit(
        "forumgen intake: set FORUMGEN_SITE to the site folder (the one holding forumgen.yaml)"
    )
logging.basicConfig(
    level=os.environ.get("FORUMGEN_LOG_LEVEL", "INFO"),
    format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s",
)
application = create_app(_site)
