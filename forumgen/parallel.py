"""Work spread over forked processes: each worker inherits the parent's state (the site,
the plan, the template environment) at fork time instead of receiving it pickled, so
only the parts' indexes and the results cross between processes."""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# The work of the running parallel step; set just before the workers fork, cleared after.
_FORKED: tuple[Callable[[Any], Any], Sequence[Any], Callable[[], None] | None] | None = None


def default_jobs() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def slices(items: Sequence[T], jobs: int, most: int = 500) -> list[Sequence[T]]:
    """Work split into parts small enough to balance the workers and report progress."""
    step = max(1, min(most, len(items) // (jobs * 8) or 1))
    return [items[i : i + step] for i in range(0, len(items), step)]


def fork_map(
    work: Callable[[Any], R],
    parts: Sequence[Any],
    jobs: int,
    start: Callable[[], None] | None = None,
) -> Iterator[R]:
    """work(part) for each part, in forked worker processes when there are several jobs
    and parts (results in completion order), else in this process. `start` runs first
    in each worker, to replace what must not cross a fork (database connections)."""
    global _FORKED
    if jobs < 2 or len(parts) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        yield from map(work, parts)
        return
    _FORKED = (work, parts, start)
    # The workers share the parent's objects until they write to them; the garbage
    # collector writes to every object it scans, so without this each worker would
    # soon hold its own copy of all the parent holds (the whole plan of the site).
    gc.freeze()
    try:
        with multiprocessing.get_context("fork").Pool(min(jobs, len(parts)), _forked_start) as pool:
            yield from pool.imap_unordered(_forked_call, range(len(parts)))
    finally:
        _FORKED = None
        gc.unfreeze()


def _forked_start() -> None:
    assert _FORKED is not None
    if _FORKED[2] is not None:
        _FORKED[2]()


def _forked_call(index: int) -> Any:
    assert _FORKED is not None
    return _FORKED[0](_FORKED[1][index])
