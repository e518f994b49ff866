"""The package list, found when the wheel is built so that a new subpackage of `forumgen`
or `intake` cannot be left out of it, plus `forumgen.themes`: the built-in themes live at
the repository's top level as `themes/` (the repository is itself a site) and
pyproject.toml's `package-dir` maps that folder into the package. Everything else is in
pyproject.toml; this is here only because `[tool.setuptools.packages.find]` finds packages
inside the folders it searches, never one mapped in from elsewhere."""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(
            include=["forumgen", "forumgen.*", "intake", "intake.*"],
            exclude=["forumgen.themes", "forumgen.themes.*"],
        ),
        "forumgen.themes",
    ]
)
