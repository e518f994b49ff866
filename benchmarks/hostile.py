"""How long each slow or deep Markdown case takes to render, with both engines.

`python -m benchmarks.hostile` renders cmark-gfm's pathological inputs and the cases
Python-Markdown cannot take (tests/pathological.py), each at the default body limit of
20,000 characters, through `forumgen.markup.render`, and prints a table: case, engine,
seconds (the best of three) and whether it stayed under the bound of 0.2 s.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from forumgen.markup import COMMONMARK, PYTHON_MARKDOWN, render

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from pathological import at_max_body  # type: ignore[import-not-found]  # noqa: E402

BOUND = 0.2


def main() -> int:
    render("warm *up*", COMMONMARK), render("warm *up*", PYTHON_MARKDOWN)
    worst = 0.0
    print(f"{'case':40} {'engine':16} {'seconds':>8}  ok")
    for name, source in at_max_body().items():
        for engine in (COMMONMARK, PYTHON_MARKDOWN):
            times = []
            for _ in range(3):
                started = time.perf_counter()
                render(source, engine)
                times.append(time.perf_counter() - started)
            worst = max(worst, min(times))
            print(
                f"{name:40} {engine.name:16} {min(times):8.3f}  "
                f"{'yes' if min(times) <= BOUND else 'NO'}"
            )
    print(f"max {worst:.3f} s (bound {BOUND} s)")
    return 0 if worst <= BOUND else 1


if __name__ == "__main__":
    sys.exit(main())
