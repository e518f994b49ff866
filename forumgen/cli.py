"""The `forumgen` command: parse options, call the API, print the report. No logic here."""

from __future__ import annotations

import dataclasses
import logging
import shlex
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from . import __version__
from .build import BuildReport, Progress, build, check
from .changes import OutsideSite
from .chars import visible
from .config import Config, check_base_url, find_site, read_config
from .editor import EditorError, find_editor, on_terminal, write_in_editor
from .errors import Problems, SiteError
from .loader import topic_info
from .locks import state_dir
from .parallel import default_jobs
from .scaffold import (
    ScaffoldError,
    check_reply,
    check_topic_slug,
    init_site,
    new_reply,
    new_topic,
)
from .wording import counted

if TYPE_CHECKING:  # imported where used: `forumgen build` starts faster without them
    from .importers.common import ImportReport
    from .moderation import Pending
    from .serve import Preview

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


SITE_HELP = (
    "The site folder (holding forumgen.yaml). Default: found from the current folder upward."
)


@dataclass(frozen=True)
class Options:
    """Options given before the command (`forumgen --site DIR build`), in ctx.obj."""

    site_dir: Path | None = None


def site_option(command: F) -> F:
    return click.option(
        "--site", "site_dir", type=click.Path(file_okay=False, path_type=Path), help=SITE_HELP
    )(command)


def resolve_site(site_dir: Path | None) -> Path:
    """The site to work on: --site after the command, else --site before it, else the
    nearest folder upward from here that holds a forumgen.yaml."""
    site_dir = site_dir or _site_before_command()
    if site_dir is not None:
        if not site_dir.is_dir():
            raise click.UsageError(f"--site {site_dir}: the folder does not exist")
        if not (site_dir / "forumgen.yaml").is_file():
            raise click.UsageError(f"{site_dir} has no forumgen.yaml (run `forumgen init`)")
        return site_dir.resolve()
    found = find_site(Path.cwd())
    if found is None:
        raise click.UsageError(
            "no forumgen.yaml in this folder or above it: run `forumgen "
            "init DIR` to create a site, or pass --site DIR"
        )
    return found


def _site_before_command() -> Path | None:
    context = click.get_current_context(silent=True)
    if context:
        options = context.find_object(Options)
    else:
        options = None
    return options.site_dir if options else None


def cannot_build(reason: str) -> NoReturn:
    click.echo(
        f"cannot build: {reason}. Files already written are complete; the next "
        "build finishes the rest.",
        err=True,
    )
    sys.exit(1)


def _why_not_built(exc: OSError | sqlite3.OperationalError) -> str:
    """Why a build stopped for a reason outside the site's files: a full disk, an
    unwritable output folder, or the build cache (full disk, unwritable, locked)."""
    if isinstance(exc, sqlite3.OperationalError):
        return f"the build cache in .forumgen/ could not be used ({exc})"
    filename: str | None = exc.filename
    if filename:
        return f"{exc.strerror or exc}: {filename}"
    return f"{exc.strerror or exc}"


def fail(error: SiteError) -> NoReturn:
    """Print every problem as path:line: message and exit 1."""
    for problem in error.problems:
        click.echo(str(problem), err=True)
    click.echo(f"{counted(len(error.problems), 'problem')} found; nothing was written.", err=True)
    sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="forumgen")
@click.option(
    "--site",
    "site_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help=SITE_HELP + " Also accepted after the command, where it wins.",
)
@click.pass_context
def main(context: click.Context, site_dir: Path | None) -> None:
    """forumgen: a forum kept as Markdown files, built into a static site.

    A site is a folder with forumgen.yaml, content/categories.yaml and one folder per
    topic under content/topics/. Run `forumgen init DIR` to start one.
    """
    context.obj = Options(site_dir)


@main.command(short_help="Create a new site.")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), required=False)
@click.option("--title", default="My forum", show_default=True, help="The forum's name.")
def init(directory: Path | None, title: str) -> None:
    """Create a new site in DIRECTORY (default: the --site given before `init`, else
    here) with a welcome topic, then print the command that previews it."""
    directory = directory or _site_before_command() or Path(".")
    try:
        written = init_site(directory, title)
    except ScaffoldError as exc:
        raise click.UsageError(str(exc)) from None
    for path in written:
        click.echo(f"created {shlex.quote(str(path))}")
    here = directory.resolve() == Path.cwd().resolve()
    if here:
        go = ""
    else:
        go = f"cd {shlex.quote(str(directory))} && "
    click.echo(
        f"Next: {go}forumgen serve to preview it; `forumgen build` renders it "
        "into output/ for publishing."
    )


@main.group(short_help="Write a new topic or reply file.")
def new() -> None:
    """Write a new topic or reply file with correct front matter.

    Without --body, the post is written in your editor ($VISUAL, else $EDITOR), as with
    `git commit`; off a terminal the file gets a placeholder to replace.
    """


TOPIC_PLACEHOLDER = "Write the opening post here.\n"
REPLY_PLACEHOLDER = "Write the reply here.\n"
BODY_HELP = "The post text, or - to read it from standard input. Default: written in your editor."


def _post_text(body: str | None, what: str, placeholder: str) -> tuple[str, str | None]:
    """The post's text and, when it is only `placeholder`, why no editor was opened.
    An editor that fails or is left empty stops the command before anything is written."""
    if body is not None:
        text: str = sys.stdin.read() if body == "-" else body
        if not text.strip():
            raise click.BadParameter("the post is empty", param_hint="--body")
        return text, None
    if not on_terminal():
        return placeholder, "this is not a terminal"
    editor = find_editor()
    if editor is None:
        return placeholder, "no editor was found (set $VISUAL or $EDITOR)"
    try:
        return write_in_editor(editor, what), None
    except EditorError as exc:
        raise click.ClickException(str(exc)) from None


def _placeholder_note(path: Path, reason: str | None) -> None:
    if reason:
        click.echo(
            f"{path}: holds a placeholder text because {reason}; write the post "
            "in this file, or the placeholder is published.",
            err=True,
        )


@new.command("topic")
@site_option
@click.option("--title", required=True, help="The topic's title.")
@click.option("--category", required=True, help="A category slug from categories.yaml.")
@click.option("--author", required=True, help="Display name of the author.")
@click.option("--tag", "tags", multiple=True, help="A tag; repeat for several.")
@click.option("--slug", help="Folder and URL name. Default: made from the title.")
@click.option("--body", help=BODY_HELP)
def new_topic_command(
    site_dir: Path | None,
    title: str,
    category: str,
    author: str,
    tags: tuple[str, ...],
    slug: str | None,
    body: str | None,
) -> None:
    """Write content/topics/<slug>/topic.md and print its path.

    Without --body, your editor ($VISUAL, else $EDITOR) opens for the opening post, as
    with `git commit`: save and close it to write the file; an empty post or an editor
    that fails writes nothing. Off a terminal (in a script) or with no editor, the file
    gets a placeholder text to replace, and a note on standard error says so.
    """
    config = _config(resolve_site(site_dir))
    _category(config, category)  # reads categories.yaml alone: other topics may be broken
    try:
        if slug is not None:
            check_topic_slug(config, slug)
        text, placeholder = _post_text(body, f'the opening post of "{title}"', TOPIC_PLACEHOLDER)
        post = new_topic(config, title, category, author, text, list(tags), slug, durable=False)
    except ScaffoldError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(post.path)
    _placeholder_note(post.path, placeholder)


@new.command("reply", short_help="Write a reply file in content/topics/SLUG/.")
@site_option
@click.argument("slug")
@click.option("--author", required=True, help="Display name of the author.")
@click.option(
    "--reply-to",
    default="",
    help="Id of the post answered (its file name without .md; 'topic' for the opening post).",
)
@click.option("--body", help=BODY_HELP)
def new_reply_command(
    site_dir: Path | None, slug: str, author: str, reply_to: str, body: str | None
) -> None:
    """Write content/topics/SLUG/<id>.md, named after the current time, and print its path.

    Without --body, your editor ($VISUAL, else $EDITOR) opens for the reply, as with
    `git commit`: save and close it to write the file; an empty reply or an editor that
    fails writes nothing. Off a terminal (in a script) or with no editor, the file gets a
    placeholder text to replace, and a note on standard error says so.
    """
    config = _config(resolve_site(site_dir))
    try:
        check_reply(config, slug, reply_to)
        text, placeholder = _post_text(
            body, _reply_wanted(config, slug, reply_to), REPLY_PLACEHOLDER
        )
        post = new_reply(config, slug, author, text, reply_to, durable=False)
    except ScaffoldError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(post.path)
    _placeholder_note(post.path, placeholder)


def _reply_wanted(config: Config, slug: str, reply_to: str) -> str:
    """What the editor's template asks for, naming the topic by its title."""
    info = topic_info(config, slug)
    title = f'"{info.title}"' if info else slug
    if reply_to == "topic":
        return f"your reply to the opening post of {title}"
    if reply_to:
        return f"your reply to post {reply_to} of {title}"
    return f"your reply in {title}"


def _config(site_dir: Path) -> Config:
    """Only the config: commands that must work while some content file is broken."""
    try:
        return read_config(site_dir)
    except SiteError as error:
        fail(error)


def _base_url_option(
    _context: click.Context, _param: click.Parameter, url: str | None
) -> str | None:
    """--base-url checked by the rules of base_url in forumgen.yaml, before any work."""
    try:
        if url is None:
            return None
        return check_base_url(url)
    except ValueError as exc:
        raise click.BadParameter(f"{url!r} {exc}") from None


@main.command("build", short_help="Render the site into output/.")
@site_option
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the site. Default: output/ in the site folder.",
)
@click.option(
    "--base-url",
    callback=_base_url_option,
    help="Override base_url from forumgen.yaml, e.g. for a preview.",
)
@click.option(
    "--clean",
    is_flag=True,
    help="Rewrite every file instead of only changed ones, and delete every other "
    "file in output/, naming those no build made (keep such files in static/).",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=default_jobs,
    show_default="all cores",
    help="Processes rendering pages in parallel.",
)
@click.option(
    "--keep-going",
    is_flag=True,
    help="Leave out broken topics and replies and build the rest (still exits "
    "1); a problem in forumgen.yaml, the theme, categories.yaml or "
    "authors.yaml still stops the build.",
)
@click.option(
    "--drafts",
    is_flag=True,
    help="Include topics and replies marked `draft: true`, with a Draft badge "
    "(for a preview: never publish such a build).",
)
@click.option(
    "--changed",
    "changed",
    multiple=True,
    metavar="PATH",
    help="A file changed since the last build (repeat for each; relative to the site "
    "folder, or absolute; deleted files too): only the topic folders of these files "
    "are scanned, for programs that know what they wrote. Output is the same as a full "
    "build's. Files changed without being named here are missed until a plain build.",
)
@click.option(
    "--timings",
    is_flag=True,
    help="After the summary, print how long each phase of the build took: where a slow "
    "build spends its time.",
)
@click.option(
    "--topics-written",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Create FILE as soon as the pages of the changed topics and their authors are "
    "written, before the listings, feeds and search index: for a program waiting until "
    "a post is on its topic's page (the intake does).",
)
def build_command(
    site_dir: Path | None,
    output: Path | None,
    base_url: str | None,
    clean: bool,
    jobs: int,
    keep_going: bool,
    drafts: bool,
    changed: tuple[str, ...],
    timings: bool,
    topics_written: Path | None,
) -> None:
    """Render the site into output/, rewriting only files whose bytes changed. Any problem
    in the content stops the build with output/ untouched, unless --keep-going. Drafts
    are left out (their problems are still reported), unless --drafts."""
    site = resolve_site(site_dir)
    try:
        report = _with_progress(
            "Rendering",
            lambda progress: build(
                site,
                output=output,
                base_url=base_url,
                clean=clean,
                jobs=jobs,
                progress=progress,
                keep_going=keep_going,
                drafts=drafts,
                changed=changed or None,
                topics_written=None if topics_written is None else partial(_touch, topics_written),
            ),
        )
    except OutsideSite as exc:
        raise click.UsageError(str(exc)) from None
    except SiteError as error:
        fail(error)
    except (OSError, sqlite3.OperationalError) as exc:
        cannot_build(_why_not_built(exc))
    for stray in report.strays:
        click.echo(
            f"removed {_under(site, report.output / stray)} (not made by the build; "
            "put it in static/ to keep it)"
        )
    click.echo(summary(report))
    if timings:
        width = max(len(phase) for phase, _ in report.phases)
        for phase, seconds in report.phases:
            click.echo(f"  {phase:<{width}}  {seconds:6.3f} s")
    if report.left_out:
        for problem in report.left_out:
            click.echo(str(problem), err=True)
        click.echo(
            f"{counted(len(report.left_out), 'problem')} found; what they are in was "
            "left out, the rest was built.",
            err=True,
        )
        sys.exit(1)


def _touch(path: Path) -> None:
    """Create `path` (empty); if it cannot be, whoever waits for it waits for the end of
    the build instead, which is no reason to stop the build."""
    try:
        path.touch()
    except OSError as exc:
        click.echo(f"could not create {path}: {exc.strerror}", err=True)


def _under(site: Path, path: Path) -> str:
    """A path as the site's folder sees it (output/CNAME), or whole if outside it."""
    if path.is_relative_to(site):
        return path.relative_to(site).as_posix()
    return str(path)


def summary(report: BuildReport) -> str:
    return (
        f"{report.total} files in {report.output}: {report.written} written, "
        f"{report.unchanged} unchanged, {report.removed} removed; {report.rendered} "
        f"pages rendered in {report.seconds:.2f} s"
    )


@main.command("check", short_help="Validate the site; for pull requests.")
@site_option
def check_command(site_dir: Path | None) -> None:
    """Validate config and content without writing anything; exit 1 on any problem."""
    try:
        found = check(resolve_site(site_dir))
    except SiteError as error:
        fail(error)
    counts = (
        counted(found.categories, "category", "categories"),
        counted(found.topics, "topic"),
        counted(found.posts, "post"),
    )
    click.echo(f"ok: {', '.join(counts)}")


@main.command("serve", short_help="Preview the site, rebuilt and reloaded on changes.")
@site_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--server",
    "server_name",
    type=click.Choice(["wsgiref", "gunicorn", "waitress"]),
    default="wsgiref",
    show_default=True,
    help="WSGI server: the built-in one, or gunicorn/waitress when installed "
    "(gunicorn without live reload).",
)
@click.option(
    "--watch/--no-watch",
    default=True,
    show_default=True,
    help="Rebuild when content, themes or forumgen.yaml change, and reload the open pages.",
)
def serve_command(
    site_dir: Path | None, host: str, port: int, server_name: str, watch: bool
) -> None:
    """Preview the site at http://HOST:PORT/: render it into .forumgen/preview/ for that
    address and serve it with the intake (at intake.url), rebuilding on changes and
    reloading open pages. output/ is left as `forumgen build` made it. Stop with Ctrl-C."""
    from . import listen, serve

    if server_name not in serve.available_servers():
        raise click.UsageError(f"{server_name} is not installed: pip install {server_name}")
    site = resolve_site(site_dir)
    problem = listen.address_problem(host, port)
    if problem is not None:  # before anything is built or written
        click.echo(problem, err=True)
        sys.exit(2)
    config = _config(site)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # Like other generators' preview servers, build for the address actually served, so
    # feeds, canonical links and the intake's origin check match what the browser sees.
    config = dataclasses.replace(config, base_url=listen.origin(host, port) + config.base_path)
    preview = serve.Preview(site, config.base_url)
    if watch:
        reload = serve.live_reload(config, server_name)
    else:
        reload = None

    def rebuild(changed: list[Path] | None = None) -> None:
        problems = _build_preview(preview, changed)
        if reload is not None:
            reload.publish(problems)

    rebuild()
    if watch:
        stop = serve.watch(site, rebuild)
    else:
        stop = None
    click.echo(
        f"Serving a preview at {config.base_url} (intake at {config.intake_url}), "
        f"rendered in {preview.output}; `forumgen build` writes output/. Ctrl-C stops."
    )
    try:
        serve.run(
            lambda: serve.application(config, preview.output, reload), host, port, server_name
        )
    except KeyboardInterrupt:
        pass
    finally:
        if reload is not None:
            reload.close()
        if stop:
            stop()
    click.echo("Stopped.")


def _build_preview(preview: Preview, changed: list[Path] | None) -> list[str]:
    """Build the preview; print the summary or the problems, and return the problems
    (none when it built). The server keeps serving the last good preview either way."""
    try:
        report = preview.build(changed)
    except SiteError as error:
        problems = [str(problem) for problem in error.problems]
    except (OSError, sqlite3.OperationalError) as exc:
        problems = [f"cannot build: {_why_not_built(exc)}"]
    else:
        click.echo(summary(report))
        return []
    for line in problems:
        click.echo(line, err=True)
    click.echo("Build failed; the preview shows the last good build.", err=True)
    return problems


def _rebuild_and_report(site: Path) -> bool:
    """Build, scanning everything as a plain build does: a moderator at a terminal
    publishes what the site holds, topics written by `new` or an import included, and
    the scan costs little next to a person's pace. Print the summary or the problems."""
    try:
        report = build(site, jobs=1)
    except SiteError as error:
        for problem in error.problems:
            click.echo(str(problem), err=True)
        click.echo("Build failed; the previous output is unchanged.", err=True)
        return False
    click.echo(summary(report))
    return True


@main.group("import", short_help="Import a mailing list or a Discourse forum.")
def import_group() -> None:
    """Import an archive into content/. Files that exist are never changed, so running an
    import again writes only what is new."""


def _category(config: Config, wanted: str | None) -> str:
    """The category to import into: --category, else the first one of the site."""
    from .loader import read_categories

    problems = Problems(config.site_dir)
    known = [c.slug for c in read_categories(config, problems)]
    if problems.items:
        fail(SiteError(problems.items))
    if wanted is None and known:
        return known[0]
    if wanted not in known:
        raise click.BadParameter(
            f"unknown category '{wanted}' (known: {', '.join(known)})", param_hint="--category"
        )
    return wanted


def _with_progress(label: str, run: Callable[[Progress | None], T]) -> T:
    """Run with a progress bar on a terminal, quietly when piped."""
    if not sys.stderr.isatty():
        return run(None)
    with click.progressbar(length=1, label=label, file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        return run(progress)


@import_group.command("mbox")
@site_option
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--category", help="Category slug for the new topics. Default: the first in categories.yaml."
)
@click.option(
    "--update",
    is_flag=True,
    help="Also rewrite posts imported before whose text this version imports "
    "differently (their other fields are kept).",
)
def import_mbox_command(
    site_dir: Path | None, files: tuple[Path, ...], category: str | None, update: bool
) -> None:
    """Import mailing-list archives (mbox FILES) as topics and replies. Plain-text mail
    is kept as sent (format: mail); HTML-only mail becomes Markdown."""
    from .importers.mbox import import_mbox

    config = _config(resolve_site(site_dir))
    slug = _category(config, category)
    report = _with_progress(
        "Importing", lambda progress: import_mbox(config, list(files), slug, progress, update)
    )
    _report_import(report, counted(len(files), "file"))


@import_group.command("discourse")
@site_option
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--category",
    help="Category slug for topics whose category is not among the "
    "imported ones. Default: the first in categories.yaml.",
)
@click.option(
    "--old-url",
    default="",
    metavar="URL",
    help="The old forum's address (e.g. https://forum.example.org): links to its "
    "topics and posts are rewritten to the new ones.",
)
def import_discourse_command(
    site_dir: Path | None, sources: tuple[Path, ...], category: str | None, old_url: str
) -> None:
    """Import Discourse topic JSON (/t/<id>.json) and its /categories.json, given as files
    or folders searched for *.json."""
    from .importers.discourse import import_discourse

    config = _config(resolve_site(site_dir))
    slug = _category(config, category)
    report = _with_progress(
        "Importing",
        lambda progress: import_discourse(config, list(sources), slug, old_url, progress),
    )
    _report_import(report, counted(len(sources), "source"))


def _report_import(report: ImportReport, source: str) -> None:
    for problem in report.problems:
        click.echo(problem, err=True)
    click.echo(report.line(source))


@main.group(short_help="Review posts waiting in pending/.")
def moderate() -> None:
    """Review posts waiting in pending/ (queue mode of the intake)."""


@moderate.command("list")
@site_option
def moderate_list(site_dir: Path | None) -> None:
    """List waiting posts, oldest first; then, on standard error, the published posts
    the last build of output/ left out because of a problem (the intake's rebuilds leave
    them out rather than stop), each as path:line: problem."""
    from . import leftout, moderation

    config = _config(resolve_site(site_dir))
    waiting = moderation.list_pending(config)
    for post in waiting:
        if post.new_topic:
            what = f"new topic {post.title!r}"
        else:
            what = f"reply in {post.topic}"
        when = post.date.isoformat() if post.date else "?"
        # Escaped (`\x9b`): a control character in a post must not act on the terminal.
        click.echo("\t".join(visible(field) for field in (post.id, when, post.author, what)))
    click.echo(f"{counted(len(waiting), 'post')} waiting.", err=True)
    left_out = leftout.last(state_dir(config.site_dir))
    if left_out:
        click.echo(
            f"{counted(len(left_out), 'problem')} left "
            "published posts out of the last build (fix them, then build):",
            err=True,
        )
    for problem in left_out:
        click.echo(f"  {problem}", err=True)


@moderate.command("show")
@site_option
@click.argument("post_id")
def moderate_show(site_dir: Path | None, post_id: str) -> None:
    """Print a waiting post's file, control characters other than newlines and tabs
    written out (`\x9b`) rather than sent to the terminal."""
    config = _config(resolve_site(site_dir))
    post = _pending(config, post_id)
    click.echo(
        visible(post.path.read_text(encoding="utf-8", errors="replace"), keep="\n\t"), nl=False
    )


@moderate.command("approve")
@site_option
@click.argument("post_id")
@click.option(
    "--build/--no-build", default=True, show_default=True, help="Rebuild the site after approving."
)
def moderate_approve(site_dir: Path | None, post_id: str, build: bool) -> None:
    """Publish a waiting post (move it into content/) and rebuild. With `intake.git:
    commit` the post is committed (and pushed with `intake.git_push`) as the intake
    commits the posts it publishes."""
    from . import gitcommit, moderation

    site = resolve_site(site_dir)
    config = _config(site)
    try:
        target = moderation.approve(config, _pending(config, post_id).id)
    except moderation.ModerationError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"approved: {target.relative_to(site)}")
    try:
        gitcommit.record_published(config, target)
        in_git = True
    except gitcommit.GitError as exc:
        click.echo(f"forumgen moderate: the post is approved, but git failed: {exc}", err=True)
        in_git = False
    if (build and not _rebuild_and_report(site)) or not in_git:
        sys.exit(1)


@moderate.command("reject")
@site_option
@click.argument("post_id")
@click.option("--keep", is_flag=True, help="Move it to pending/rejected/ instead of deleting.")
def moderate_reject(site_dir: Path | None, post_id: str, keep: bool) -> None:
    """Delete a waiting post (or keep it aside with --keep)."""
    from . import moderation

    config = _config(resolve_site(site_dir))
    target = moderation.reject(config, _pending(config, post_id).id, keep)
    click.echo(
        f"rejected: {post_id}"
        + (f" (kept in {target.relative_to(config.site_dir)})" if target else "")
    )


def _pending(config: Config, post_id: str) -> Pending:
    from . import moderation

    try:
        return moderation.find(config, post_id)
    except moderation.ModerationError as exc:
        raise click.UsageError(str(exc)) from None
