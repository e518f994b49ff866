"""The intake's Bottle routes: parse -> validate -> store -> rebuild -> respond.

Refusals are HTML pages (in the site's theme) for browsers and JSON for API clients
(`Accept: application/json`). Paths are relative to where the app is mounted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import socket
import sqlite3
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import bottle

from forumgen import theme
from forumgen.chars import visible
from forumgen.config import CONFIG_FILE, Config, read_config
from forumgen.content import TOPIC_ID
from forumgen.errors import Problems, SiteError
from forumgen.files import remove_stale_scratch
from forumgen.headers import Secured, WSGIApp, security_headers
from forumgen.loader import ReplyCache, load_topic, read_categories, topic_info
from forumgen.locks import state_dir
from forumgen.model import Topic
from forumgen.pages import NEW_TOPIC, last_page, post_views, topic_address
from forumgen.scaffold import scratch_dir

from . import validate
from .clients import client_address, from_this_machine, rate_key
from .limits import Duplicates, RateLimiter
from .rebuild import Rebuilder
from .reserved import ReservedNames
from .store import Store

log = logging.getLogger("intake")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
PUBLISH_WAIT = 10.0  # seconds a browser waits for the rebuild to write its post's page
# Room for the largest allowed body in the worst form encoding (a 4-byte character
# percent-encoded is 12 bytes) plus the other fields.
BYTES_PER_CHAR = 12
OTHER_FIELDS = 16 * 1024
EVERYONE = "*"  # the total rate limit's address: no client address looks like it


class Refusal(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        errors: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.errors = dict(errors or {})
        self.headers = dict(headers or {})


class Intake:
    """One site's intake; `app` is its Bottle application."""

    def __init__(
        self,
        site_dir: Path,
        base_url: str | None = None,
        *,
        output: Path | None = None,
        drafts: bool = False,
    ) -> None:
        self.site_dir = site_dir
        self.base_url = base_url
        self._config_lock = threading.Lock()
        self._config_seen = _signature(site_dir / CONFIG_FILE)
        self.rebuilder = Rebuilder(site_dir, base_url, output=output, drafts=drafts)
        self._configure(load_config_only(site_dir))
        self.duplicates = Duplicates(state_dir(site_dir) / "intake.sqlite")
        self.rebuilder.catch_up()  # a build requested before a crash or restart
        self.store.catch_up()  # and commits not pushed then
        self.replies = ReplyCache()
        remove_stale_scratch(scratch_dir(self.config))
        self.app = bottle.Bottle()
        self.app.route("/topics/<slug>/replies", "POST", self._guard(self.reply))
        self.app.route("/topics", "POST", self._guard(self.new_topic))
        self.app.route("/health", "GET", self.health)

    def _configure(self, config: Config) -> None:
        """Take up `config` (with `base_url` overridden, if it is) and what follows from it."""
        if self.base_url:
            config = dataclasses.replace(config, base_url=self.base_url)
        self.config = config
        self.env = theme.environment(config)
        self.store = Store(config, pulled=self._pulled)
        self.reserved = ReservedNames(config)
        database = state_dir(self.site_dir) / "intake.sqlite"
        self.limiter = RateLimiter(database, config.intake.rate_limit)
        total = config.intake.total_rate_limit
        if total == "off":
            self.total_limiter = None
        else:
            self.total_limiter = RateLimiter(database, total)
        self.max_request = config.intake.max_body_chars * BYTES_PER_CHAR + OTHER_FIELDS
        # Bottle parses a form only up to its in-memory limit (100 KiB), below a body of
        # `max_body_chars` in CJK, percent-encoded (12,000 characters are 108 KB): the
        # request size is bounded here, before bottle reads a byte, so it may parse all.
        bottle.BaseRequest.MEMFILE_MAX = max(bottle.BaseRequest.MEMFILE_MAX, self.max_request)
        self.rebuilder.timeout = config.intake.rebuild_timeout

    def follow_config(self) -> None:
        """Take up forumgen.yaml again when it changed, so switching `intake.moderation`
        (or any setting) needs no restart, as the builds need none. A broken file is
        logged and the last good settings kept: the intake must go on taking posts."""
        seen = _signature(self.site_dir / CONFIG_FILE)
        if seen == self._config_seen:
            return
        with self._config_lock:
            if seen == self._config_seen:
                return
            self._config_seen = seen
            try:
                config = read_config(self.site_dir)
            except SiteError as error:
                log.error(
                    "forumgen.yaml has problems; the intake keeps its last good "
                    "settings until they are fixed:\n%s",
                    error,
                )
                return
            self._configure(config)
            log.info(
                "forumgen.yaml changed: settings taken up (moderation: %s)",
                config.intake.moderation,
            )

    def _pulled(self) -> None:
        """Other hosts' posts came in with a push (git mode): show them here too."""
        try:
            self.rebuilder.request()
        except OSError:
            log.exception(
                "posts pulled from git, but their rebuild could not be requested; "
                "they appear with the next rebuild"
            )

    # Routes -------------------------------------------------------------------------

    def reply(self, slug: str) -> Any:
        fields = self._form()
        topic = topic_info(self.config, slug)
        if topic is None:
            raise Refusal(404, f"There is no topic '{slug}'.")
        if topic.locked:
            raise Refusal(403, "This topic is locked: it takes no new replies.")
        submission = self._validated(
            lambda: validate.reply(
                fields, topic, self._max_body, reserved=self.reserved, engine=self.config.markdown
            )
        )
        return self._accept(submission)

    def new_topic(self) -> Any:
        fields = self._form()
        submission = self._validated(
            lambda: validate.new_topic(
                fields, self._max_body, reserved=self.reserved, engine=self.config.markdown
            )
        )
        if submission.category not in self._categories():
            raise Refusal(
                404,
                f"There is no category '{submission.category}'.",
                {"category": "is not a category of this forum"},
            )
        return self._accept(submission)

    def health(self) -> Any:
        """Anyone learns whether the forum publishes, and since when; the details (the
        build's error with its paths, the git state with post ids, the moderation mode)
        only a request from this machine, such as a monitor or an operator's curl."""
        self.follow_config()
        self.rebuilder.catch_up()
        self.store.catch_up()
        state = self.rebuilder.state()
        status = "ok" if state.ok else "error"
        if not from_this_machine(bottle.request.environ):
            return self._json(
                200, {"status": status, "last_build": {"time": state.time or None, "ok": state.ok}}
            )
        body: dict[str, Any] = {
            "status": status,
            "moderation": self.config.intake.moderation,
            "last_build": {
                "time": state.time or None,
                "duration": state.duration,
                "ok": state.ok,
                "summary": state.summary,
                "error": state.error,
                "generation": state.generation,
                "builds": state.builds,
                "changed": state.changed,
                "left_out": list(state.left_out),
            },
        }
        if self.store.git is not None:
            body["git"] = self.store.git.state()
        return self._json(200, body)

    # Steps --------------------------------------------------------------------------

    @property
    def _max_body(self) -> int:
        return self.config.intake.max_body_chars

    def _categories(self) -> set[str]:
        return {c.slug for c in read_categories(self.config, Problems(self.site_dir))}

    def _form(self) -> dict[str, str]:
        """Check size, type and origin before the body is read, then parse it."""
        request = bottle.request
        length = request.content_length
        if length < 0 or request.environ.get("CONTENT_LENGTH", "") == "":
            raise Refusal(411, "A Content-Length header is required.")
        if length > self.max_request:
            raise Refusal(413, f"The request is too large (at most {self.max_request} bytes).")
        content_type = request.content_type.split(";")[0].strip().lower()
        if content_type not in FORM_TYPES:
            raise Refusal(
                415, "Send the form as application/x-www-form-urlencoded or multipart/form-data."
            )
        self._check_origin()
        self._read_body(length)
        try:
            forms = request.forms
            return {key: forms.getunicode(key) or "" for key in forms.keys()}
        except (ValueError, UnicodeDecodeError, bottle.HTTPError):
            raise Refusal(400, "The form data could not be read.") from None

    def _read_body(self, length: int) -> None:
        """Read the whole body within `intake.read_timeout` seconds, or refuse with 408.

        A client trickling its body in (slowloris) would otherwise hold a worker thread
        for as long as it likes: every byte restarts a socket timeout. Under gunicorn a
        timer shuts the socket's reading side at the deadline, which ends the read at
        once; the answer can still be sent. Other servers either buffer bodies before
        calling the app (waitress) or are for local use (`forumgen serve`)."""
        environ = bottle.request.environ
        sock: socket.socket | None = environ.get("gunicorn.socket")
        late = threading.Event()

        def stop_reading() -> None:
            late.set()
            try:
                sock.shutdown(socket.SHUT_RD)  # type: ignore[union-attr]
            except OSError:
                pass  # closed by the client meanwhile

        timer = threading.Timer(self.config.intake.read_timeout, stop_reading)
        if sock is not None:
            timer.start()
        try:
            body = environ["wsgi.input"].read(length)
        except OSError:
            body = b""
        finally:
            timer.cancel()
        if len(body) < length:
            if late.is_set():
                raise Refusal(408, "The request body arrived too slowly.")
            raise Refusal(400, "The request body ended before its Content-Length.")
        environ["wsgi.input"] = io.BytesIO(body)

    def _check_origin(self) -> None:
        origin = bottle.request.get_header("Origin")
        if origin is None:
            referer = bottle.request.get_header("Referer")
            if referer:
                parts = urlsplit(referer)
                origin = f"{parts.scheme}://{parts.netloc}"
        if origin is not None and origin not in self.config.origins:
            raise Refusal(403, "Posts are accepted only from the forum's own pages.")

    def _validated(self, check: Callable[[], validate.Submission]) -> validate.Submission:
        """The submission, or a refusal naming every bad field (413 when the body is the
        only problem and it is too long)."""
        try:
            return check()
        except validate.FieldErrors as exc:
            status = 400
            if list(exc.errors) == ["body"] and exc.errors["body"].startswith("must be at most"):
                status = 413  # too long is the only problem
            raise Refusal(status, "Please correct the fields below.", exc.errors) from None

    def _accept(self, submission: validate.Submission) -> Any:
        wait = self.limiter.hit(rate_key(client_address(bottle.request.environ)))
        if wait is not None:
            raise _too_many(wait, "Too many posts from your address")
        # Then the limit on everyone together, against floods from many addresses.
        if self.total_limiter:
            wait = self.total_limiter.hit(EVERYONE)
        else:
            wait = None
        if wait is not None:
            raise _too_many(wait, "The forum is taking too many posts right now")
        key = hashlib.sha256(repr(dataclasses.astuple(submission)).encode()).hexdigest()
        first = self.duplicates.claim(key)
        if first is not None:
            log.info("a repeat of %s/%s: not stored again", *first)
            return self._answer(*first, published=self.store.publish)
        try:
            stored = self.store.save(submission)
        except BaseException:
            self.duplicates.release(key)
            raise
        self.duplicates.stored(key, stored.post.topic, stored.post.id)
        post = stored.post
        if not stored.published:
            return self._answer(post.topic, post.id, published=False)
        # From here on the post is stored: nothing may turn the answer into an error.
        try:
            generation: int | None = self.rebuilder.request([post.path])
        except OSError:
            log.exception(
                "post %s/%s stored, but its rebuild could not be requested; "
                "it appears with the next rebuild",
                post.topic,
                post.id,
            )
            generation = None
        permalink = self._permalink(post.topic, post.id)
        if not self._wants_json():
            if generation is None or not self.rebuilder.shown(generation, PUBLISH_WAIT):
                return self._page(202, "published_soon", link=self._url(permalink))
        return self._done(post.topic, post.id, "published", permalink)

    def _answer(self, topic: str, post_id: str, published: bool) -> Any:
        """The answer for a stored post that needs no rebuild request: one waiting for
        moderation, or the repeat of a post already published (its rebuild is requested)."""
        if not published:
            # The static page shows its moderation notice when it is the URL's target.
            if post_id == TOPIC_ID:
                where = NEW_TOPIC
            else:
                where = self._last_page(topic)
            return self._done(topic, post_id, "pending", where + "#awaiting-moderation")
        return self._done(topic, post_id, "published", self._permalink(topic, post_id))

    def _permalink(self, slug: str, post_id: str) -> str:
        """The post's permalink; the topic page if the topic cannot be read right now."""
        topic = self._topic(slug)
        if topic is not None:
            for view in post_views(topic, self.config.posts_per_page):
                if view.post.id == post_id:
                    return view.permalink
        return topic_address(slug)

    def _last_page(self, slug: str) -> str:
        """The topic's last page, whichever page the form was sent from: a reply waiting
        for moderation is added there once approved (or on the next page, which does not
        exist yet when this one is full), so that is where its notice belongs."""
        topic = self._topic(slug)
        if topic is None:
            return topic_address(slug)
        return last_page(topic, self.config.posts_per_page)

    def _topic(self, slug: str) -> Topic | None:
        """The published topic as its files say now, or None if it cannot be read."""
        try:
            return load_topic(self.config, slug, self.replies)
        except OSError:
            return None

    # Responses ----------------------------------------------------------------------

    def _wants_json(self) -> bool:
        return "application/json" in (bottle.request.get_header("Accept") or "")

    def _url(self, path: str) -> str:
        return self.config.base_url + quote(path, safe="/#")

    def _done(self, topic: str, post_id: str, state: str, path: str) -> Any:
        """201 JSON for API clients; a 303 to the page for browsers."""
        if self._wants_json():
            return self._json(
                201, {"id": f"{topic}/{post_id}", "status": state, "url": self._url(path)}
            )
        bottle.response.status = 303
        bottle.response.set_header("Location", self._url(path))
        return ""

    def _json(self, status: int, body: dict[str, Any]) -> str:
        bottle.response.status = status
        bottle.response.content_type = "application/json"
        return json.dumps(body, ensure_ascii=False, sort_keys=True)

    def _page(self, status: int, kind: str, **context: Any) -> str:
        bottle.response.status = status
        bottle.response.content_type = "text/html; charset=utf-8"
        page = {"path": "", "template": "intake.html"}
        return self.env.get_template("intake.html").render(kind=kind, page=page, **context)

    def _guard(self, route: Callable[..., Any]) -> Callable[..., Any]:
        """Turn refusals, and storage failing (503), into answers in the client's format."""

        def handler(*args: Any, **kwargs: Any) -> Any:
            try:
                self.follow_config()
                self.rebuilder.catch_up()
                self.store.catch_up()
                return route(*args, **kwargs)
            except (OSError, sqlite3.Error) as exc:  # disk full, not writable: a post is
                # only ever accepted once stored, so the visitor must hear it failed
                log.exception("could not take a post")
                refusal = Refusal(
                    503,
                    f"The forum could not store your post right now ({_reason(exc)}); "
                    "nothing was saved, please try again later.",
                    headers={"Retry-After": "60"},
                )
                return self._refuse(refusal)
            except Refusal as refusal:
                return self._refuse(refusal)

        return handler

    def _refuse(self, refusal: Refusal) -> Any:
        """The refusal as a 4xx/5xx answer in the client's format."""
        # All but the status come from the request (the path's slug is in the message):
        # escaped, a %0A or an ESC in them can neither forge log lines nor act on a
        # terminal showing the log.
        log.info(
            "refused %s %s: %d %s %s",
            visible(bottle.request.method),
            visible(bottle.request.path),
            refusal.status,
            visible(refusal.message),
            visible(repr(refusal.errors)),
        )
        for name, value in refusal.headers.items():
            bottle.response.set_header(name, value)
        if self._wants_json():
            return self._json(refusal.status, {"error": refusal.message, "fields": refusal.errors})
        return self._page(refusal.status, "refused", message=refusal.message, errors=refusal.errors)


def _reason(exc: OSError | sqlite3.Error) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    if "full" in str(exc):
        return "No space left on device"
    return str(exc)


def _too_many(wait: float, why: str) -> Refusal:
    seconds = max(1, int(wait + 0.999))
    return Refusal(429, f"{why}; try again in {seconds} s.", headers={"Retry-After": str(seconds)})


def load_config_only(site_dir: Path) -> Config:
    """The site's config; the intake refuses to start on a broken one rather than guess."""
    try:
        return read_config(site_dir)
    except SiteError as error:
        raise SystemExit(
            f"forumgen intake: cannot start, {site_dir} has problems:\n{error}"
        ) from None


def _signature(path: Path) -> tuple[int, int, int] | None:
    """What tells that a file changed without reading it: inode, size and mtime."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def create_app(
    site_dir: str | Path,
    base_url: str | None = None,
    *,
    output: str | Path | None = None,
    drafts: bool = False,
) -> WSGIApp:
    """The intake's WSGI application for the site in `site_dir`, every answer with the
    site's security headers. Posts are published by rebuilding into output/; `forumgen
    serve` passes its preview folder as `output` and the address it listens on as
    `base_url` (overriding the config's), and `drafts` to show drafts in it."""
    intake = Intake(
        Path(site_dir).resolve(),
        base_url,
        output=None if output is None else Path(output).resolve(),
        drafts=drafts,
    )
    return Secured(intake.app, security_headers(intake.config))
