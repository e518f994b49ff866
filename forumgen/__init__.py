"""forumgen: a forum kept as Markdown files, rendered into a static site."""

__version__ = "0.1.0"
