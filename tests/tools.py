"""The outside programs some tests run: Chromium, the Nu HTML Checker, axe-core.

Without one of them, the tests needing it skip with the reason and the install command,
unless FORUMGEN_REQUIRE_TOOLS=1 (as `.ci/run` sets it): then they fail, so a machine
missing a tool can never pass them silently.

npm packages are looked up in FORUMGEN_TOOLS (default `~/.cache/forumgen/tools`), where
`.ci/run` installs them with `npm install --prefix`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TOOLS = Path(os.environ.get("FORUMGEN_TOOLS", Path.home() / ".cache/forumgen/tools"))
NODE_MODULES = TOOLS / "node_modules"


def require(missing: list[str], install: str) -> None:
    """Skip (or fail, under FORUMGEN_REQUIRE_TOOLS=1) when anything in `missing` is absent."""
    if not missing:
        return
    reason = f"needs {', '.join(missing)} ({install})"
    if os.environ.get("FORUMGEN_REQUIRE_TOOLS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def npm_file(package: str, relative: str) -> Path:
    """A file of an npm package installed in FORUMGEN_TOOLS; skips or fails if absent."""
    path = NODE_MODULES / package / relative
    require(
        [] if path.is_file() else [f"{package} in {TOOLS}"],
        f"npm install --prefix {TOOLS} {package}",
    )
    return path
