"""Mail posts (`format: mail`): archives imported with `forumgen import mbox` keep each
plain-text mail as sent and show it the way mail archives do (public-inbox, HyperKitty):
every line kept, quotes nested by depth, patches as diff code blocks, format=flowed
undone, nothing in a mail ever taken for markup. The series and replies are made by
real `git format-patch` and the standard library; the real list mails in tests/data/mail
are described in tests/data/SOURCES.md. Everything goes through the CLI and is checked
on the built pages, element by element."""

from __future__ import annotations

import mailbox
import os
import shutil
import subprocess
from email.message import EmailMessage
from pathlib import Path

import lxml.html
import pytest
from test_search import postings
from tools import require

from browser import chromium
from conftest import SiteFactory, snapshot
from servers import forumgen_serve

DATA = Path(__file__).parent / "data" / "mail"
Html = lxml.html.HtmlElement


# Making mail ------------------------------------------------------------------------


def git_series(folder: Path) -> Path:
    """A two-patch series with its cover letter, as `git format-patch --cover-letter
    --thread --binary` writes it: two files changed, a file without a final newline, a
    new binary file, trailers, and a commit message with '#include', '*' and '_'."""
    require([] if shutil.which("git") else ["git"], "apt-get install git")
    repo = folder / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "docs").mkdir()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Ann Author",
        "GIT_AUTHOR_EMAIL": "ann@example.org",
        "GIT_COMMITTER_NAME": "Ann Author",
        "GIT_COMMITTER_EMAIL": "ann@example.org",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }

    def git(*args: str, when: str = "2024-03-04T10:00:00Z") -> str:
        run = subprocess.run(
            ["git", *args],
            cwd=repo,
            check=True,
            capture_output=True,
            text=True,
            env={**env, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when},
        )
        return run.stdout

    def write(name: str, text: str | bytes) -> None:
        path = repo / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())

    git("init", "-q")
    write(
        "src/arbiter.c",
        '#include <signal.h>\n#include <stdio.h>\n\n#include "arbiter.h"\n\n'
        "static void stop_workers(struct arbiter *a)\n{\n\tstruct worker *w;\n\n"
        "\tfor (w = a->workers; w; w = w->next)\n\t\tkill(w->pid, SIGKILL);\n"
        "\ta->alive = 0;\n}\n",
    )
    write("src/arbiter.h", "struct arbiter {\n\tint alive;\n};\n")
    write("docs/settings.rst", "graceful_timeout\n    Seconds to wait for workers.")
    git("add", "-A")
    git("commit", "-qm", "base")
    write(
        "src/arbiter.c",
        "#include <signal.h>\n#include <stdio.h>\n#include <time.h>\n\n"
        '#include "arbiter.h"\n\nstatic void stop_workers(struct arbiter *a)\n{\n'
        "\tstruct worker *w;\n\tint waited = 0;\n\n"
        "\tfor (w = a->workers; w; w = w->next)\n\t\tkill(w->pid, SIGTERM);\n"
        "\twhile (a->alive && waited++ < a->graceful_timeout)\n\t\tsleep(1);\n"
        "\tfor (w = a->workers; w; w = w->next)\n\t\tkill(w->pid, SIGKILL);\n"
        "\ta->alive = 0;\n}\n",
    )
    write("src/arbiter.h", "struct arbiter {\n\tint alive;\n\tint graceful_timeout;\n};\n")
    git(
        "commit",
        "-qam",
        "arbiter: wait for workers on SIGTERM\n\n"
        "The arbiter sent SIGKILL right after SIGTERM, so a worker in the middle\n"
        "of a request never finished it. Wait up to graceful_timeout seconds;\n"
        "*then* kill what is left. Workers named _idle_ go at once.\n\n"
        "#include <time.h> is not needed for sleep() but keeps the diff honest.\n\n"
        "Signed-off-by: Ann Author <ann@example.org>\n"
        "Reviewed-by: Bob Reviewer <bob@example.org>\n"
        "Tested-by: Carol Tester <carol@example.org>",
    )
    write("docs/settings.rst", "graceful_timeout\n    Seconds to wait for workers to finish.")
    write("docs/timeline.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01\x02\x03")
    git("add", "-A", when="2024-03-04T10:05:00Z")
    git(
        "commit",
        "-qm",
        "docs: describe graceful_timeout\n\nSigned-off-by: Ann Author <ann@example.org>",
        when="2024-03-04T10:05:00Z",
    )
    series = git(
        "format-patch",
        "--cover-letter",
        "--thread",
        "--binary",
        "--stdout",
        "HEAD~2",
        when="2024-03-04T09:55:00Z",
    )
    series = series.replace("*** SUBJECT HERE ***", "arbiter: honour graceful_timeout").replace(
        "*** BLURB HERE ***",
        "Workers killed on SIGTERM drop the requests they are "
        "serving. This series\nwaits for graceful_timeout first, and documents it.",
    )
    path = folder / "series.mbox"
    path.write_text(series, encoding="utf-8")
    return path


def mail(
    body: str,
    subject: str,
    sender: str,
    date: str,
    message_id: str,
    answers: str = "",
    charset: str = "utf-8",
    flowed: str = "",
) -> EmailMessage:
    msg = EmailMessage()
    msg.set_content(body, charset=charset)
    if flowed:
        msg.set_param("format", "flowed")
        if flowed == "delsp":
            msg.set_param("delsp", "yes")
    for name, value in (
        ("Subject", subject),
        ("From", sender),
        ("Date", date),
        ("Message-ID", message_id),
        ("In-Reply-To", answers),
        ("References", answers),
    ):
        if value:
            msg[name] = value
    return msg


def message_ids(path: Path) -> dict[str, str]:
    """Subject -> Message-ID of each message of an mbox."""
    box = mailbox.mbox(str(path))
    try:
        return {str(m["subject"]): str(m["message-id"]) for m in box}
    finally:
        box.close()


def add_mail(path: Path, *messages: EmailMessage) -> Path:
    box = mailbox.mbox(str(path))
    for message in messages:
        box.add(message)
    box.flush()
    box.close()
    return path


REVIEW = """On Mon, 4 Mar 2024 10:00:00 +0000, Ann Author <ann@example.org> wrote:
> The arbiter sent SIGKILL right after SIGTERM, so a worker in the middle
> of a request never finished it.

Good catch. One question below.

> @@ -1,12 +1,18 @@
>  #include <signal.h>
>  #include <stdio.h>
> +#include <time.h>
>
>  #include "arbiter.h"

Nit: sleep() lives in <unistd.h>, not <time.h>.

> +	while (a->alive && waited++ < a->graceful_timeout)
> +		sleep(1);

What if graceful_timeout is 0? Then this never waits at all, which
is what --graceful-timeout 0 promises. Fine by me:

Reviewed-by: Bob Reviewer <bob@example.org>

--
Bob
"""

ANSWER = """Bob Reviewer wrote:
> Ann Author wrote:
>> +	while (a->alive && waited++ < a->graceful_timeout)
>> +		sleep(1);
>
> What if graceful_timeout is 0?

Then it does not wait: that is what --graceful-timeout 0 has always meant.
> > > Third level, quoted from an older mail
>>>> Fourth level, written without spaces
> > >>> Fifth level, both styles mixed

v2 moves the include, see https://git.example.org/gunicorn/commit/?id=1234abcd.
"""

COMPILER_LOG = """Building with the series applied fails here:

\x1b[01m\x1b[Ksrc/arbiter.c:\x1b[m\x1b[K In function '\x1b[01m\x1b[Kstop_workers\x1b[m\x1b[K':
src/arbiter.c:15:17: \x1b[01;31m\x1b[Kerror: \x1b[m\x1b[Kimplicit declaration of function \
'sleep' [-Werror=implicit-function-declaration]
   15 |                 sleep(1);
      |                 ^~~~~
cc1: all warnings being treated as errors
make: *** [Makefile:12: src/arbiter.o] Error 1

#include <unistd.h> fixes it.
"""


@pytest.fixture
def series_site(site: SiteFactory, tmp_path: Path) -> tuple[SiteFactory, Path]:
    """A site with the series, Bob's review, Ann's answer and Carol's compiler log
    imported, and built."""
    path = git_series(tmp_path)
    ids = message_ids(path)
    patch1 = ids["[PATCH 1/2] arbiter: wait for workers on SIGTERM"]
    add_mail(
        path,
        mail(
            REVIEW,
            "Re: [PATCH 1/2] arbiter: wait for workers on SIGTERM",
            "Bob Reviewer <bob@example.org>",
            "Mon, 04 Mar 2024 12:00:00 +0000",
            "<review@example.org>",
            patch1,
        ),
        mail(
            ANSWER,
            "Re: [PATCH 1/2] arbiter: wait for workers on SIGTERM",
            "Ann Author <ann@example.org>",
            "Mon, 04 Mar 2024 13:00:00 +0000",
            "<answer@example.org>",
            "<review@example.org>",
        ),
        mail(
            COMPILER_LOG,
            "Re: [PATCH 1/2] arbiter: wait for workers on SIGTERM",
            "Carol Tester <carol@example.org>",
            "Mon, 04 Mar 2024 14:00:00 +0000",
            "<log@example.org>",
            patch1,
        ),
    )
    result = site.cli("import", "mbox", str(path), "--category", "help")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("imported 1 topic and 5 replies")
    site.build()
    return site, path


# Reading pages ------------------------------------------------------------------------


def topic_page(site: SiteFactory, prefix: str) -> Html:
    [folder] = [p for p in (site.root / "content/topics").iterdir() if p.name.startswith(prefix)]
    return site.page(f"t/{folder.name}/")


def post_with(page: Html, text: str) -> Html:
    """The body of the one post whose text holds `text`."""
    [body] = [b for b in page.xpath("//div[@class='post-body']") if text in b.text_content()]
    return body


def shown_lines(paragraph: Html) -> list[str]:
    """A mail paragraph's lines as a reader sees them: its text split at <br>."""
    lines = [paragraph.text or ""]
    for child in paragraph:
        if child.tag == "br":
            lines.append("")
        else:
            lines[-1] += child.text_content()
        lines[-1] += child.tail or ""
    return lines


def text_lines(body: Html) -> list[str]:
    """Every text line of a mail post, outside code blocks, in order."""
    return [line for p in body.xpath(".//p") for line in shown_lines(p)]


def code_lines(body: Html) -> list[str]:
    """The lines of the post's diff code blocks, in order."""
    return [
        line
        for pre in body.xpath(".//div[@class='highlight']/pre")
        for line in pre.text_content().split("\n")[:-1]
    ]


def depth(element: Html) -> int:
    return len(element.xpath("ancestor::blockquote"))


def paragraph_with(body: Html, text: str) -> Html:
    [found] = [p for p in body.xpath(".//p") if any(text in line for line in shown_lines(p))]
    return found


def patch_of(series: str, subject: str) -> list[str]:
    """The diff lines of a message of the series: from its first `diff --git` line to
    the last line before its `-- ` signature."""
    message = series[series.index(subject) :]
    message = message[: message.index("\n-- \n")]
    return message[message.index("diff --git") :].rstrip("\n").split("\n")


# Patches --------------------------------------------------------------------------------


def test_a_patch_series_is_stored_as_sent_and_shown_as_mail(
    series_site: tuple[SiteFactory, Path],
) -> None:
    site, path = series_site
    series = path.read_text(encoding="utf-8")
    files = {
        p.read_text(encoding="utf-8").split("\n---\n", 1)[1]: p
        for p in (site.root / "content/topics").glob("*/*.md")
    }
    assert all("\nformat: mail\n" in p.read_text(encoding="utf-8") for p in files.values())
    # The body is the text as sent (addresses masked), never Markdown.
    patch = patch_of(series, "[PATCH 1/2]")
    [body1] = [b for b in files if b.startswith("The arbiter sent SIGKILL")]
    assert "\n".join(patch) in body1 and "Tested-by: Carol Tester carol@…\n---\n" in body1

    page = topic_page(site, "arbiter-honour-graceful-timeout-")
    assert page.xpath("//h1")[0].text_content().strip() == "arbiter: honour graceful_timeout"
    cover = post_with(page, "Workers killed on SIGTERM")
    assert text_lines(cover)[:4] == [
        "Workers killed on SIGTERM drop the requests they are serving. This series",
        "waits for graceful_timeout first, and documents it.",
        "Ann Author (2):",
        "  arbiter: wait for workers on SIGTERM",
    ]
    assert " docs/timeline.png | Bin 0 -> 20 bytes" in text_lines(cover)

    first = post_with(page, "keeps the diff honest")
    lines = text_lines(first)
    # Trailers each on their line, then the '---' and the diffstat as text, not a rule.
    at = lines.index("Signed-off-by: Ann Author ann@…")
    assert lines[at : at + 6] == [
        "Signed-off-by: Ann Author ann@…",
        "Reviewed-by: Bob Reviewer bob@…",
        "Tested-by: Carol Tester carol@…",
        "---",
        " src/arbiter.c | 6 ++++++",
        " src/arbiter.h | 1 +",
    ]
    assert "#include <time.h> is not needed for sleep() but keeps the diff honest." in lines
    assert "*then* kill what is left. Workers named _idle_ go at once." in lines
    assert not first.xpath(".//hr | .//h1 | .//h2 | .//h3 | .//em | .//strong | .//li")
    # Every line of the patch, changed or not, is its own line of a diff code block.
    assert code_lines(first) == patch
    assert [s.text for s in first.xpath(".//pre//span[@class='gi']")][1:3] == [
        "+#include <time.h>",
        "+\tint waited = 0;",
    ]  # after '+++ b/src/arbiter.c'
    assert first.xpath(".//pre[@tabindex='0']")  # wide code scrolls, from the keyboard too
    assert first.xpath("./div[@class='mail']/details/summary")[0].text == "Signature"
    assert shown_lines(first.xpath(".//details/p")[0]) == ["-- ", "2.39.5"]

    second = post_with(page, "b/docs/timeline.png")
    patch2 = patch_of(series, "[PATCH 2/2]")
    assert code_lines(second) == patch2
    assert code_lines(second).count("\\ No newline at end of file") == 2
    assert "GIT binary patch" in code_lines(second) and "HcmV?d00001" in code_lines(second)


def test_review_replies_quote_by_depth_and_quoted_patches_stay_diffs(
    series_site: tuple[SiteFactory, Path],
) -> None:
    site, _ = series_site
    page = topic_page(site, "arbiter-honour-graceful-timeout-")
    review = post_with(page, "Good catch")
    mail_div = review.xpath("./div[@class='mail']")[0]
    assert [depth(p) for p in mail_div.xpath("./p")] == [0, 0, 0, 0, 0]
    assert shown_lines(paragraph_with(review, "The arbiter sent")) == [
        "The arbiter sent SIGKILL right after SIGTERM, so a worker in the middle",
        "of a request never finished it.",
    ]
    assert depth(paragraph_with(review, "The arbiter sent")) == 1
    # A quoted hunk is a diff again; quoted lines without their hunk header stay text.
    [quoted] = review.xpath(".//blockquote/div[@class='highlight']/pre")
    assert quoted.text_content().split("\n")[:-1] == [
        "@@ -1,12 +1,18 @@",
        " #include <signal.h>",
        " #include <stdio.h>",
        "+#include <time.h>",
        "",
        ' #include "arbiter.h"',
    ]
    assert shown_lines(paragraph_with(review, "waited++")) == [
        "+\twhile (a->alive && waited++ < a->graceful_timeout)",
        "+\t\tsleep(1);",
    ]
    assert "Nit: sleep() lives in <unistd.h>, not <time.h>." in text_lines(review)
    assert shown_lines(paragraph_with(review, "Reviewed-by")) == ["Reviewed-by: Bob Reviewer bob@…"]
    # '--' without its space is a signature too (folded), as mail clients treat it.
    assert shown_lines(review.xpath(".//details[summary='Signature']/p")[0]) == ["--", "Bob"]

    answer = post_with(page, "Fifth level")
    for text, level in (
        ("+\twhile", 2),
        ("What if graceful_timeout is 0?", 1),
        ("Then it does not wait", 0),
        ("Third level", 3),
        ("Fourth level", 4),
        ("Fifth level", 5),
        ("v2 moves", 0),
    ):
        found = [e for e in answer.xpath(".//p | .//pre") if text in e.text_content()]
        assert [depth(e) for e in found] == [level], text
    [link] = answer.xpath(".//a")
    assert link.get("href") == "https://git.example.org/gunicorn/commit/?id=1234abcd"
    assert link.get("rel") == "nofollow ugc noopener" and link.tail.startswith(".")


def test_a_pasted_compiler_log_keeps_its_lines_and_columns(
    series_site: tuple[SiteFactory, Path],
) -> None:
    site, _ = series_site
    log = post_with(topic_page(site, "arbiter-honour-graceful-timeout-"), "cc1:")
    assert shown_lines(paragraph_with(log, "cc1:")) == [
        "src/arbiter.c: In function 'stop_workers':",  # the terminal's colours are gone
        "src/arbiter.c:15:17: error: implicit declaration of function 'sleep' "
        "[-Werror=implicit-function-declaration]",
        "   15 |                 sleep(1);",
        "      |                 ^~~~~",
        "cc1: all warnings being treated as errors",
        "make: *** [Makefile:12: src/arbiter.o] Error 1",
    ]
    assert shown_lines(paragraph_with(log, "fixes it")) == ["#include <unistd.h> fixes it."]
    assert not log.xpath(".//h1 | .//em | .//strong")


def test_real_list_patches(site: SiteFactory) -> None:
    """Patches as the git list received them in 2005-2008 (tests/data/SOURCES.md)."""
    result = site.cli("import", "mbox", str(DATA / "git-list.mbox"))
    assert result.output.startswith("imported 3 topics"), result.output
    site.build()
    raw = (DATA / "git-list.mbox").read_text(encoding="utf-8")

    russian = topic_page(site, "изменён-список")
    body = post_with(russian, "texlive")
    assert text_lines(body)[:2] == [
        "textlive-* исправлены на texlive-*",
        "docutils заменён на python-docutils",
    ]
    assert code_lines(body) == raw[
        raw.index("diff --git a/howto") : raw.index("\n-- \n1.5.6.5")
    ].split("\n")
    assert (
        "#. на машине dinar: добавить свой открытый ssh-ключ в authorized_keys2 "
        "пользователя ddev" in "\n".join(code_lines(body))
    )

    ipv6 = topic_page(site, "git-try-all-addresses")
    assert (
        ipv6.xpath("//article[@id='p-topic']//*[@itemprop='name']")[0].text
        == "YOSHIFUJI Hideaki / 吉藤英明"
    )  # an ISO-2022-JP encoded word
    body = post_with(ipv6, "Try all addresses")
    assert code_lines(body) == raw[
        raw.index("diff --git a/connect.c") : raw.index("\n\n-- \nYOSHIFUJI")
    ].split("\n")
    assert shown_lines(body.xpath(".//details[summary='Signature']/p")[0])[:2] == [
        "-- ",
        "YOSHIFUJI Hideaki @ USAGI Project  yoshfuji@…",
    ]

    cvs = post_with(topic_page(site, "fixed-two-bugs"), "cvsimport")  # quoted-printable
    assert "Signed-off-by: David Kågedal davidk@…" in text_lines(cvs)
    assert (
        text_lines(cvs)[text_lines(cvs).index("Signed-off-by: David Kågedal davidk@…") + 1] == "---"
    )
    assert [line for line in code_lines(cvs) if line.startswith("@@")] == [
        "@@ -29,6 +29,10 @@ OPTIONS",
        "@@ -44,7 +48,7 @@ OPTIONS",
        "@@ -57,6 +61,9 @@ OPTIONS",
        "@@ -190,7 +190,7 @@ sub conn {",
        "@@ -691,7 +691,7 @@ while(<CVS>) {",
    ]
    footer = cvs.xpath(".//details[summary='Signature']")[0]
    assert footer.xpath(".//a/@href") == ["http://vger.kernel.org/majordomo-info.html"]


# Quotes and flowed text -----------------------------------------------------------------


def test_real_replies_nest_their_quotes(site: SiteFactory) -> None:
    """Replies from the notmuch and aur-general lists (tests/data/SOURCES.md)."""
    assert site.cli("import", "mbox", str(DATA / "notmuch-list.mbox")).exit_code == 0
    site.build()
    body = post_with(topic_page(site, "guidelines-cp-mkdir"), "Thank you Allan")
    for text, level in (
        ("Le 29/12/2011 11:13, Allan McRae a écrit :", 0),
        ("On 29/12/11 19:56, François Boulogne wrote:", 1),
        ("Hi,", 2),
        ("install -d $pkgdir/usr/{bin,share/man/man1", 2),
        ("Use install with -m specifying the correct permissions", 1),
        ("Thank you Allan", 0),
    ):
        assert depth(paragraph_with(body, text)) == level, text
    assert body.xpath(".//blockquote/blockquote//a/@href") == [
        "https://wiki.archlinux.org/index.php/Arch_Packaging_Standards"
    ]
    assert text_lines(body.xpath(".//details[summary='Signature']")[0]) == [
        "-- ",
        "François Boulogne.",
        "https://www.sciunto.org",
    ]

    search = post_with(topic_page(site, "error-out-if-no-query"), "Definitely.")
    assert "A Xapian exception occurred: Syntax: <expression> AND <expression>" in text_lines(
        search
    )
    assert shown_lines(paragraph_with(search, "./notmuch search")) == [
        "$ ./notmuch search",
        "Error: notmuch search requires at least one search term.",
    ]


def test_format_flowed_is_undone_and_fixed_text_is_not(site: SiteFactory, tmp_path: Path) -> None:
    path = add_mail(
        tmp_path / "flowed.mbox",
        mail(
            "This paragraph was written as one long line and sent \nflowed, in three "
            "pieces that a mail client \njoins again.\n\n"
            "> A quoted paragraph, also \n> flowed.\n>> And one level deeper, \n>> "
            "flowed too.\n\n From the start of a line, space-stuffed.\n"
            "The last line, flowed \n-- \nSig\n",
            "Flowed",
            "Fay <fay@example.org>",
            "Tue, 05 Mar 2024 10:00:00 +0000",
            "<flowed@example.org>",
            flowed="yes",
        ),
        mail(
            "中文邮件按行折断，每一行\n都是单独的一行。\n第三行。\n",
            "DelSp",
            "Dee <dee@example.org>",
            "Tue, 05 Mar 2024 11:00:00 +0000",
            "<delsp@example.org>",
            flowed="delsp",
        ),
        mail(
            "Fixed text keeps its breaks,   \neven after trailing spaces.\n",
            "Fixed",
            "Fix <fix@example.org>",
            "Tue, 05 Mar 2024 12:00:00 +0000",
            "<fixed@example.org>",
        ),
    )
    assert site.cli("import", "mbox", str(path)).exit_code == 0
    shutil.copy(DATA / "syzbot-flowed.mbox", tmp_path / "syzbot.mbox")
    assert site.cli("import", "mbox", str(tmp_path / "syzbot.mbox")).exit_code == 0
    site.build()

    flowed = post_with(topic_page(site, "flowed-"), "one long line")
    assert text_lines(flowed) == [
        "This paragraph was written as one long line and sent flowed, in three pieces that "
        "a mail client joins again.",
        "A quoted paragraph, also flowed.",
        "And one level deeper, flowed too.",
        "From the start of a line, space-stuffed.",
        "The last line, flowed ",
        "-- ",
        "Sig",
    ]  # a signature is never joined to a line
    assert depth(paragraph_with(flowed, "And one level deeper")) == 2
    assert shown_lines(flowed.xpath(".//details[summary='Signature']/p")[0]) == ["-- ", "Sig"]

    delsp = post_with(topic_page(site, "delsp-"), "中文")
    assert text_lines(delsp) == ["中文邮件按行折断，每一行", "都是单独的一行。", "第三行。"]
    fixed = post_with(topic_page(site, "fixed-"), "Fixed text")
    assert text_lines(fixed) == ["Fixed text keeps its breaks,   ", "even after trailing spaces."]

    crash = post_with(topic_page(site, "warning-refcount-bug"), "syzbot found")
    lines = text_lines(crash)
    assert (
        "WARNING: CPU: 1 PID: 26973 at lib/refcount.c:25 refcount_warn_saturate+0x174/0x1f0 "
        "lib/refcount.c:25" in lines
    )  # DelSp=yes: the soft break's space goes
    assert (
        "Hardware name: Google Google Compute Engine/Google Compute Engine, BIOS Google "
        "01/01/2011" in lines
    )
    assert " __dump_stack lib/dump_stack.c:77 [inline]" in lines  # one space was stuffing
    assert "Reported-by: syzbot+85d9878b19c94f9019ad@…" in lines
    assert "---" in lines and not crash.xpath(".//hr")
    slug = next(
        p.name
        for p in (site.root / "content/topics").iterdir()
        if p.name.startswith("warning-refcount-bug")
    )
    assert list(postings(site.output, "saturate")) == [(slug, "topic")]  # searchable


def test_chinese_mail_keeps_its_lines_and_labels_in_the_sites_language(
    site: SiteFactory, tmp_path: Path
) -> None:
    site.save_config(language="zh-CN")
    text = (
        "把 --timeout 调到 60，\n再看日志。\n\n在 2024年3月5日 周二 10:00，李明 写道：\n"
        "> 部署时 gunicorn 超时，\n> 怎么办？\n> 第三行\n> 第四行\n\n-- \n王亮\n"
    )
    path = add_mail(
        tmp_path / "zh.mbox",
        mail(
            text,
            "回复: 部署问题",
            "王亮 <w@example.cn>",
            "Tue, 05 Mar 2024 11:00:00 +0800",
            "<zh@example.cn>",
            charset="gb18030",
        ),
    )
    assert site.cli("import", "mbox", str(path)).exit_code == 0
    site.build()
    body = post_with(topic_page(site, "部署问题-"), "再看日志")
    assert text_lines(body)[:2] == ["把 --timeout 调到 60，", "再看日志。"]
    folded = body.xpath(".//details[summary='引用的内容']")[0]
    assert shown_lines(folded.xpath(".//blockquote/p")[0]) == [
        "部署时 gunicorn 超时，",
        "怎么办？",
        "第三行",
        "第四行",
    ]
    assert shown_lines(body.xpath(".//details[summary='签名']/p")[0]) == ["-- ", "王亮"]


# Safety ---------------------------------------------------------------------------------

HOSTILE = """Hello <script>alert(1)</script> and <img src=x onerror=alert(2)>.
Click javascript:alert(3) or [here](javascript:alert(4)) or <a href="javascript:alert(5)">x</a>.
{{ config.base_url }} {% for x in range(3) %}loop{% endfor %} {# comment #}
https://example.org/"onmouseover="alert(6)" and https://example.org/<b>bold</b>
&lt;b&gt;entity&lt;/b&gt; stays as typed.

> <iframe src="https://evil.example.org/"></iframe>
> {{ 7 * 7 }}

diff --git a/x.html b/x.html
--- a/x.html
+++ b/x.html
@@ -1 +1 @@
-<p>old</p>
+<script>alert(8)</script>{{ 6 * 7 }}
"""


def test_nothing_in_a_mail_is_markup_or_template(site: SiteFactory, tmp_path: Path) -> None:
    path = add_mail(
        tmp_path / "hostile.mbox",
        mail(
            HOSTILE,
            "Hostile <b>subject</b> {{ x }}",
            "Mallory <m@example.org>",
            "Wed, 06 Mar 2024 10:00:00 +0000",
            "<hostile@example.org>",
        ),
    )
    assert site.cli("import", "mbox", str(path)).exit_code == 0
    site.build()
    page = topic_page(site, "hostile-")
    body = post_with(page, "Hello")
    assert not body.xpath(
        ".//script | .//img | .//iframe | .//b | .//*[@onerror]"
        " | .//*[@onmouseover] | .//@*[starts-with(name(), 'on')]"
    )
    assert not page.xpath("//@href[contains(., 'javascript:')] | //@src")
    assert page.xpath("//h1")[0].text_content().strip() == "Hostile <b>subject</b> {{ x }}"
    links = body.xpath(".//a")
    assert [a.get("href") for a in links] == [
        "https://example.org/",
        "https://example.org/",
        "https://evil.example.org/",
    ]
    assert {a.get("rel") for a in links} == {"nofollow ugc noopener"}
    lines = text_lines(body)
    assert lines[:5] == HOSTILE.split("\n")[:5]  # shown exactly as typed
    assert [line for p in body.xpath(".//blockquote/p") for line in shown_lines(p)] == [
        '<iframe src="https://evil.example.org/"></iframe>',
        "{{ 7 * 7 }}",
    ]
    assert code_lines(body)[-1] == "+<script>alert(8)</script>{{ 6 * 7 }}"
    assert "49" not in body.text_content() and "42" not in body.text_content()
    assert "<script" not in (site.output / "feed.xml").read_text(encoding="utf-8")


# The format field ----------------------------------------------------------------------


def test_format_is_checked_and_switching_it_renders_the_post_again(site: SiteFactory) -> None:
    body = "*not emphasis* and a_b_c\n# not a heading\n---\n"
    path = site.topic("hand-written", body=body)
    site.build()
    assert site.page("t/hand-written/").xpath("//div[@class='post-body']//em")  # Markdown
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("category: general\n", "category: general\nformat: mail\n"), encoding="utf-8"
    )
    site.build()
    shown = site.page("t/hand-written/").xpath("//div[@class='post-body']")[0]
    assert not shown.xpath(".//em | .//h1 | .//hr")
    assert text_lines(shown) == ["*not emphasis* and a_b_c", "# not a heading", "---"]

    path.write_text(
        text.replace("category: general\n", "category: general\nformat: html\n"), encoding="utf-8"
    )
    result = site.cli("check")
    assert result.exit_code != 0
    assert (
        "content/topics/hand-written/topic.md:6: unknown format 'html': use markdown or "
        "mail" in result.output
    )
    site.reply("hand-written", "r1", body="> quoted\nText", format="mali")
    result = site.cli("check")
    assert (
        "content/topics/hand-written/r1.md:4: unknown format 'mali': use markdown or mail "
        "(did you mean 'mail'?)" in result.output
    )


# Upgrading an archive imported before ---------------------------------------------------


def test_update_rewrites_only_posts_whose_imported_form_changed(
    site: SiteFactory, tmp_path: Path
) -> None:
    path = git_series(tmp_path)
    assert site.cli("import", "mbox", str(path)).exit_code == 0
    fresh = snapshot(site.root / "content")
    files = sorted((site.root / "content/topics").glob("*/*.md"))
    # As an older forumgen wrote them: Markdown, no format; one post hidden since.
    old, kept = files[0], files[1]
    old_text = old.read_text(encoding="utf-8")
    front, body = old_text.split("\n---\n", 1)
    old.write_text(
        front.replace("format: mail", "hidden: true")
        + "\n---\n"
        + body.replace("\n---\n", "\n\n---\n").rstrip("\n")
        + "\n",
        encoding="utf-8",
    )
    before = snapshot(site.root / "content")

    plain = site.cli("import", "mbox", str(path))
    assert plain.output.strip().endswith("3 already imported, 0 duplicates")
    assert snapshot(site.root / "content") == before  # a plain import writes nothing

    update = site.cli("import", "mbox", str(path), "--update")
    assert update.exit_code == 0, update.output
    assert update.output.strip().endswith("3 already imported, 0 duplicates, 1 updated")
    after = snapshot(site.root / "content")
    name = old.relative_to(site.root / "content").as_posix()
    assert {k for k in after if after[k] != before[k]} == {name}
    assert old.read_text(encoding="utf-8") == old_text.replace(
        "format: mail\n", "hidden: true\nformat: mail\n"
    )
    assert (
        after[kept.relative_to(site.root / "content").as_posix()]
        == fresh[kept.relative_to(site.root / "content").as_posix()]
    )
    again = site.cli("import", "mbox", str(path), "--update")
    assert again.output.strip().endswith("0 updated") and snapshot(site.root / "content") == after


# In a browser ----------------------------------------------------------------------------


def test_on_a_phone_prose_wraps_and_only_patches_scroll(
    series_site: tuple[SiteFactory, Path], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    site, _ = series_site
    long_line = (
        "A line far longer than any phone is wide, " * 6 + "https://example.org/" + "x" * 120
    )
    add_mail(
        tmp_path / "long.mbox",
        mail(
            long_line + "\n\n" + HOSTILE,
            "Long lines",
            "Lou <lou@example.org>",
            "Thu, 07 Mar 2024 10:00:00 +0000",
            "<long@example.org>",
        ),
    )
    assert site.cli("import", "mbox", str(tmp_path / "long.mbox")).exit_code == 0
    site.build()
    folder = next(
        p.name for p in (site.root / "content/topics").iterdir() if p.name.startswith("long-lines-")
    )
    series = next(
        p.name for p in (site.root / "content/topics").iterdir() if p.name.startswith("arbiter-")
    )
    with (
        forumgen_serve(site.root, log=tmp_path / "serve.log") as server,
        chromium(375, 812) as driver,
    ):
        for slug in (folder, series):
            driver.get(f"http://127.0.0.1:{server.port}/t/{slug}/")
            assert driver.execute_script(
                "return document.documentElement.scrollWidth <= window.innerWidth"
            ), slug
            wide = driver.execute_script("""
                return [...document.querySelectorAll('.mail p, .mail summary')]
                    .filter(e => e.scrollWidth > e.clientWidth + 1).length""")
            assert wide == 0, slug
            assert driver.execute_script("return window.__ran") == []
        first = driver.find_element(By.CSS_SELECTOR, ".mail p")
        assert first.value_of_css_property("white-space") == "pre-wrap"
        assert first.value_of_css_property("font-family").startswith("ui-monospace")
        scrolling = driver.execute_script("""
            return [...document.querySelectorAll('.mail pre')]
                .filter(e => e.scrollWidth > e.clientWidth && e.tabIndex === 0).length""")
        assert scrolling >= 1  # the patch keeps its lines and scrolls sideways
