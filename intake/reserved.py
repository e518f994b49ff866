"""The names of `content/authors.yaml` belong to the forum's members: the intake refuses
them, and every name that looks the same, to visitors. Posts written through git or the
command line are trusted and not checked.

"Looks the same" is decided by the confusable skeleton of Unicode Technical Standard #39
(ICU's implementation, through PyICU as packaged by pyicu-wheels, with the confusables
data of the ICU it carries), after NFKC, so full-width letters are letters, and with
punctuation, spaces and invisible characters left out: "Maria.Keller", "Ｍａｒｉａ Ｋｅｌｌｅｒ"
and "Mаria Keller" with a Cyrillic "а" are all "Maria Keller". A skeleton tells apart
what looks different, and upper and lower case do, yet "MARIA KELLER" is the same name:
two names are compared as written, in lower case and in upper case, and are the same if
they look alike in any of the three. Each catches what the others miss: "lngrid" (a
small L) looks like "Ingrid" only as written, "T0M" like "TOM" only in upper case.
"""

from __future__ import annotations

import json
import threading
import unicodedata

import icu

from forumgen.config import Config
from forumgen.errors import Problems
from forumgen.files import atomic_write
from forumgen.loader import read_authors
from forumgen.locks import state_dir
from forumgen.scaffold import scratch_dir

_CHECKER = icu.SpoofChecker()  # its skeletons may be asked for from any thread


def look_alike_keys(name: str) -> frozenset[str]:
    """Keys that two names share when they look the same: the skeleton of the name as
    written, in lower case and in upper case, each compared only with its own kind."""
    plain = _letters(unicodedata.normalize("NFKC", name))
    views = {"as written": plain, "lower": plain.casefold(), "upper": plain.upper()}
    return frozenset(
        f"{view}:{_skeleton(_letters(unicodedata.normalize('NFKC', text)))}"
        for view, text in views.items()
    )


def _letters(text: str) -> str:
    """`text` without punctuation, separators (spaces) and other invisible characters."""
    return "".join(c for c in text if unicodedata.category(c)[0] not in "PZC")


def _skeleton(text: str) -> str:
    return str(_CHECKER.getSkeleton(0, text))


KEPT = "reserved-names.json"
"""In the site's state folder: the names authors.yaml last listed when it read cleanly."""


class ReservedNames:
    """Whether a name is, or looks like, one of the site's authors. authors.yaml is read
    again when it changes; while it is broken, the names it last listed stay reserved,
    also for a worker started meanwhile: they are kept on disk (`KEPT`) when read."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._seen: tuple[int, int, int] | None = None
        self._kept = state_dir(config.site_dir) / KEPT
        self._keys: frozenset[str] | None = None  # until the file or `KEPT` is read
        self._lock = threading.Lock()
        self._current()

    def __call__(self, name: str) -> bool:
        return not self._current().isdisjoint(look_alike_keys(name))

    def _current(self) -> frozenset[str]:
        path = self.config.content_dir / "authors.yaml"
        try:
            stat = path.stat()
            seen: tuple[int, int, int] | None = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        except OSError:
            seen = None
        with self._lock:
            if self._keys is None or seen != self._seen:
                problems = Problems(self.config.site_dir)
                authors = read_authors(self.config, problems)
                if not problems.items:
                    names = sorted({author.name for author in authors.values()})
                    self._keys = _keys(names)
                    self._keep(names)
                elif self._keys is None:  # broken since this process started
                    self._keys = _keys(self._last_good())
                self._seen = seen
            assert self._keys is not None  # set by the first call, whatever it read
            return self._keys

    def _last_good(self) -> list[str]:
        """The names kept by the last clean read of authors.yaml (none if unreadable)."""
        try:
            names = json.loads(self._kept.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []

    def _keep(self, names: list[str]) -> None:
        if names != self._last_good():
            data = json.dumps(names, ensure_ascii=False).encode()
            atomic_write(self._kept, data, scratch=scratch_dir(self.config))


def _keys(names: list[str]) -> frozenset[str]:
    return frozenset(key for name in names for key in look_alike_keys(name))
