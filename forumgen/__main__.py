"""`python -m forumgen` is the `forumgen` command."""

from .cli import main

main(prog_name="forumgen")
