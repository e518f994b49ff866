"""`forumgen import mbox`: real mbox files made with the standard library, in the
charsets and shapes archives hold, become exactly one post per message in the right
thread, publish no address, and import again without writing anything."""

from __future__ import annotations

import mailbox
import re
import shutil
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr
from pathlib import Path

import lxml.html
import pytest
import yaml

from conftest import SiteFactory, snapshot
from forumgen.content import TOPIC_FILE

ADDRESS = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


def _mime(text: str, charset: str, subtype: str = "plain") -> MIMEText:
    return MIMEText(text, subtype, charset)


def _headers(msg: Message, **headers: str) -> Message:
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    return msg


def messages() -> list[Message]:
    """Ten distinct messages (two of them sent twice), oldest first."""
    a = _mime("部署时 gunicorn 超时，怎么办？\n联系 li@example.cn\n", "gb2312")
    _headers(
        a,
        Subject=Header("[wsgi-list] 部署问题", "utf-8").encode(),
        From=formataddr((str(Header("李明", "gb2312")), "li@example.cn")),
        Date="Fri, 01 Mar 2024 10:00:00 +0800",
        Message_ID="<a1@example.cn>",
    )
    a.replace_header("From", f"{Header('李明', 'gb2312').encode()} <li@example.cn>")

    b = _mime(
        "Essayez un café avec --timeout 60.\n\nOn Fri, 1 Mar 2024, Li Ming "
        "<li@example.cn> wrote:\n> gunicorn times out\n> when deployed\n\n-- \n"
        "José Müller\njose@example.es\n",
        "iso-8859-1",
    )
    _headers(
        b,
        Subject="Re: [wsgi-list] =?utf-8?b?6YOo572y6Zeu6aKY?=",
        From="=?iso-8859-1?q?Jos=E9_M=FCller?= <jose@example.es>",
        Date="Fri, 01 Mar 2024 04:30:00 +0100",
        Message_ID="<b2@example.es>",
        In_Reply_To="<a1@example.cn>",
        References="<a1@example.cn>",
    )

    c = _mime(
        "<html><body><p>Try <b>bold</b> moves and "
        "<a href='mailto:ann@example.org'>mail Ann</a>.</p>"
        "<blockquote>old words</blockquote></body></html>",
        "utf-8",
        "html",
    )
    _headers(
        c,
        Subject="Re: [wsgi-list] 部署问题",
        From="Ann <ann@example.org>",
        Date="Sat, 02 Mar 2024 09:00:00 +0000",
        Message_ID="<c3@example.org>",
        References="<a1@example.cn> <b2@example.es>",
    )

    d = MIMEMultipart("alternative")
    d.attach(_mime("Workers time out after 30 s.\n", "utf-8"))
    d.attach(_mime("<p>Workers <i>time out</i> after 30 s.</p>", "utf-8", "html"))
    _headers(
        d,
        Subject="Gunicorn timeouts",
        From="tom@example.org",
        Date="Sun, 03 Mar 2024 12:00:00 -0500",
        Message_ID="<d4@example.org>",
    )

    e = _mime("Same here, since the upgrade.\n", "utf-8")  # no In-Reply-To: by subject
    _headers(
        e,
        Subject="RE: Gunicorn timeouts",
        From="Eve <eve@example.org>",
        Date="Mon, 04 Mar 2024 08:00:00 +0000",
        Message_ID="<e5@example.org>",
    )

    f = _mime("Changing the subject, same thread.\n", "utf-8")
    _headers(
        f,
        Subject="Worker classes (was: Gunicorn timeouts)",
        From="Tom <tom@example.org>",
        Date="Mon, 04 Mar 2024 09:00:00 +0000",
        Message_ID="<f6@example.org>",
        In_Reply_To="<e5@example.org>",
    )

    g = _mime("A message without any Message-ID.\n", "utf-8")
    _headers(
        g,
        Subject="No id here",
        From="Gus <gus@example.org>",
        Date="Tue, 05 Mar 2024 10:00:00 +0000",
    )

    h = EmailMessage()  # GBK text labelled GB2312: 镕 is not in GB2312
    h.set_content("朱镕基说：好。".encode("gbk"), "text", "plain")
    h.replace_header("Content-Type", 'text/plain; charset="gb2312"')
    _headers(
        h,
        Subject="回复: [wsgi-list] 部署问题",
        From="=?utf-8?b?546L5Lqu?= <w@example.cn>",
        Date="Tue, 05 Mar 2024 11:00:00 +0800",
        Message_ID="<h8@example.cn>",
        In_Reply_To="<a1@example.cn>",
    )

    i = _mime("Answering something this archive never had.\n", "utf-8")
    _headers(
        i,
        Subject="Lost context",
        From="Ida <ida@example.org>",
        Date="Wed, 06 Mar 2024 10:00:00 +0000",
        Message_ID="<i9@example.org>",
        In_Reply_To="<gone@example.org>",
    )

    j = Message()  # a charset nobody knows, holding UTF-8
    j.set_payload("Ünïcode in an unknown charset.\n".encode())
    j["Content-Type"] = "text/plain; charset=x-no-such-charset"
    _headers(
        j,
        Subject="AW: Gunicorn timeouts",
        From="Jo <jo@example.org>",
        Date="Thu, 07 Mar 2024 10:00:00 +0000",
        Message_ID="<j10@example.org>",
        In_Reply_To="<d4@example.org>",
    )
    return [a, b, c, d, e, f, g, h, i, j]


def write_mbox(path: Path, items: list[Message]) -> Path:
    box = mailbox.mbox(str(path))
    for item in items:
        box.add(item)
    box.flush()
    box.close()
    return path


@pytest.fixture
def archives(tmp_path: Path) -> tuple[Path, Path]:
    mails = messages()
    first = write_mbox(tmp_path / "2024-03a.mbox", mails[:6])
    # The second file repeats B and G: the same message found twice is one post.
    second = write_mbox(tmp_path / "2024-03b.mbox", [mails[1], *mails[6:], mails[6]])
    return first, second


def posts(site: SiteFactory) -> dict[str, dict[str, object]]:
    """topic/id -> front matter, with the body under 'body'."""
    found = {}
    for path in sorted((site.root / "content/topics").glob("*/*.md")):
        _, front, body = path.read_text(encoding="utf-8").split("---\n", 2)
        found[f"{path.parent.name}/{path.stem}"] = {**yaml.safe_load(front), "body": body}
    return found


def by_author(found: dict[str, dict[str, object]], author: str) -> tuple[str, dict[str, object]]:
    [item] = [(key, post) for key, post in found.items() if post["author"] == author]
    return item


def test_each_message_is_one_post_in_its_thread(
    site: SiteFactory, archives: tuple[Path, Path]
) -> None:
    result = site.cli("import", "mbox", *map(str, archives), "--category", "help")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "imported 4 topics and 6 replies from 2 files; 0 already imported, 2 duplicates"
    )
    found = posts(site)
    assert len(found) == 10
    zh_key, zh = by_author(found, "李明")
    topic = zh_key.split("/")[0]
    assert zh_key.endswith("/topic") and re.fullmatch(r"部署问题-[0-9a-f]{6}", topic)
    assert zh["title"] == "部署问题" and zh["category"] == "help"
    assert zh["date"] == "2024-03-01T10:00:00+08:00"
    jose_key, jose = by_author(found, "José Müller")
    assert jose_key.startswith(f"{topic}/20240301T033000Z-")
    assert jose["reply_to"] == "topic" and jose["date"] == "2024-03-01T04:30:00+01:00"
    ann_key, ann = by_author(found, "Ann")
    assert ann_key.startswith(topic + "/") and ann["reply_to"] == jose_key.split("/")[1]
    assert "**bold**" in str(ann["body"]) and "<b>" not in str(ann["body"])
    wang_key, wang = by_author(found, "王亮")
    assert wang_key.startswith(topic + "/") and "朱镕基说：好。" in str(wang["body"])

    tom_key, tom = by_author(found, "tom")  # no display name: the address's local part
    timeouts = tom_key.split("/")[0]
    assert tom_key.endswith("/topic") and tom["title"] == "Gunicorn timeouts"
    assert str(tom["body"]).strip() == "Workers time out after 30 s."
    eve_key, eve = by_author(found, "Eve")  # joined by its subject
    assert eve_key.startswith(timeouts + "/") and eve["reply_to"] == "topic"
    tom2_key, tom2 = by_author(found, "Tom")  # a new subject, still the same thread
    assert tom2_key.startswith(timeouts + "/") and tom2["reply_to"] == eve_key.split("/")[1]
    jo_key, jo = by_author(found, "Jo")
    assert jo_key.startswith(timeouts + "/") and "Ünïcode" in str(jo["body"])
    assert by_author(found, "Gus")[0].startswith("no-id-here-")
    ida_key, ida = by_author(found, "Ida")
    assert ida_key.endswith("/topic") and ida["title"] == "Lost context"

    # Plain text is kept as sent (addresses masked), to be shown as mail; HTML-only mail
    # becomes Markdown.
    assert jose["format"] == "mail" and jose["body"] == (
        "Essayez un café avec --timeout 60.\n\nOn Fri, 1 Mar 2024, Li Ming li@… wrote:\n"
        "> gunicorn times out\n> when deployed\n\n-- \nJosé Müller\njose@…\n"
    )
    assert "format" not in ann and tom["format"] == "mail"


def test_no_address_is_written_anywhere(site: SiteFactory, archives: tuple[Path, Path]) -> None:
    assert site.cli("import", "mbox", *map(str, archives)).exit_code == 0
    site.build()
    assert site.cli("check").exit_code == 0
    for folder in (site.root / "content", site.output):
        for path in folder.rglob("*"):
            if path.is_file():
                text = path.read_bytes().decode("utf-8", "replace")
                assert not ADDRESS.search(text), (path, ADDRESS.findall(text))
    topic = next(p.parent.name for p in (site.root / "content/topics").glob("部署问题-*/topic.md"))
    page = lxml.html.fromstring((site.output / "t" / topic / "index.html").read_bytes())
    assert "李明" in page.xpath("//article[@id='p-topic']//*[@itemprop='author']//text()")
    folded = page.xpath("//details[summary='Quoted text']/blockquote//text()")
    assert "gunicorn times out" in " ".join(folded)
    assert page.xpath("//details[summary='Signature']")
    assert (site.output / "u/李明/index.html").is_file()


def test_reimport_writes_nothing_and_a_larger_archive_tops_up(
    site: SiteFactory, archives: tuple[Path, Path], tmp_path: Path
) -> None:
    first, second = archives
    assert site.cli("import", "mbox", str(first)).exit_code == 0
    result = site.cli("import", "mbox", str(first), str(second))
    assert result.output.strip() == (
        "imported 2 topics and 2 replies from 2 files; 6 already imported, 2 duplicates"
    ), result.output
    before = snapshot(site.root / "content")
    again = site.cli("import", "mbox", str(second), str(first))
    assert "imported 0 topics and 0 replies" in again.output and "10 already" in again.output
    assert snapshot(site.root / "content") == before
    # Topping up gives what importing everything at once gives.
    fresh = SiteFactory(tmp_path / "fresh")
    assert fresh.cli("import", "mbox", str(first), str(second)).exit_code == 0
    whole = {k: v[0] for k, v in snapshot(fresh.root / "content").items()}
    assert {k: v[0] for k, v in before.items()} == whole


def test_unknown_category_names_the_known_ones(
    site: SiteFactory, archives: tuple[Path, Path]
) -> None:
    result = site.cli("import", "mbox", str(archives[0]), "--category", "nope")
    assert result.exit_code == 2
    assert "unknown category 'nope' (known: general, help)" in result.output
    assert not (site.root / "content/topics").exists()


def test_broken_mail_never_stops_an_import(site: SiteFactory, tmp_path: Path) -> None:
    raw = (
        b"From: =?bogus-charset?q?Bad=ZZ?= <x@example.org>\n"
        b"Subject: =?utf-8?b?broken base64!?= \xff\xfe raw bytes\n"
        b"Date: not a date\n"
        b"Content-Type: text/plain; charset=gb2312\n"
        b"Content-Transfer-Encoding: base64\n\n"
        b"!!!not base64 at all\n"
    )
    box = mailbox.mbox(str(tmp_path / "broken.mbox"))
    box.add(raw)
    box.add(b"From: nobody\n\n")  # no subject, no date, no body
    box.flush()
    result = site.cli("import", "mbox", str(tmp_path / "broken.mbox"))
    assert result.exit_code == 0, result.output
    assert "imported 2 topics and 0 replies" in result.output
    assert site.cli("check").exit_code == 0
    assert all(
        TOPIC_FILE in {p.name for p in d.iterdir()}
        for d in (site.root / "content/topics").iterdir()
    )
    shutil.rmtree(site.root / "content/topics")


def test_a_reply_dated_before_its_thread_still_joins_it(site: SiteFactory, tmp_path: Path) -> None:
    """Senders' clocks are wrong: the answer may carry an earlier date than the question."""
    root = _mime("Question.\n", "utf-8")
    _headers(
        root,
        Subject="Clock skew",
        From="Ann <ann@example.org>",
        Date="Mon, 04 Mar 2024 12:00:00 +0000",
        Message_ID="<root@example.org>",
    )
    answer = _mime("Answer.\n", "utf-8")
    _headers(
        answer,
        Subject="Re: Clock skew",
        From="Bob <bob@example.org>",
        Date="Mon, 04 Mar 2024 11:00:00 +0000",
        Message_ID="<answer@example.org>",
        In_Reply_To="<root@example.org>",
    )
    path = write_mbox(tmp_path / "skew.mbox", [answer, root])
    assert "imported 1 topic and 1 reply" in site.cli("import", "mbox", str(path)).output
    found = posts(site)
    key, bob = by_author(found, "Bob")
    assert key.startswith("clock-skew-") and bob["reply_to"] == "topic"
    assert by_author(found, "Ann")[0] == key.split("/")[0] + "/topic"


def test_a_sender_name_too_long_for_a_file_name_still_builds(
    site: SiteFactory, tmp_path: Path
) -> None:
    """A name of 64 four-byte letters has a slug of 256 bytes, one more than a file name
    may have: its author page gets a slug cut to 200 bytes (a hash keeps two such names
    apart), and `check` and `build` agree that the site is fine."""
    names = ["\U00020000" * 64, "\U00020000" * 63 + "b"]
    mails = []
    for n, name in enumerate(names):
        mail = _mime(f"Message {n}.\n", "utf-8")
        _headers(
            mail,
            Subject=f"Long name {n}",
            From=formataddr((name, "x@example.org")),
            Date=f"Mon, 04 Mar 2024 1{n}:00:00 +0000",
            Message_ID=f"<long{n}@example.org>",
        )
        mails.append(mail)
    path = write_mbox(tmp_path / "long.mbox", mails)
    assert site.cli("import", "mbox", str(path)).exit_code == 0
    assert site.cli("check").exit_code == 0
    site.build()
    pages = sorted((site.output / "u").glob("*/index.html"))
    assert len(pages) == 2
    assert all(len(p.parent.name.encode()) <= 200 for p in pages)
    assert {lxml.html.fromstring(p.read_bytes()).findtext(".//h1") for p in pages} == set(names)
