"""`forumgen moderate`: list, show, approve (into content/, rebuilt), reject (or keep)."""

from __future__ import annotations

from conftest import SiteFactory
from forumgen.build import load
from intake.store import Store
from intake.validate import Submission
from servers import gunicorn


def queue(site: SiteFactory) -> tuple[str, str]:
    site.topic("hello", title="Hello")
    config = load(site.root)[0]
    store = Store(config)
    reply = store.save(Submission(author="Queued Quinn", body="Please approve me.", topic="hello"))
    topic = store.save(
        Submission(author="Newbie", body="My first topic.", title="Hello", category="help")
    )
    return f"hello/{reply.post.id}", f"{topic.post.topic}/topic"


def test_list_show_approve_reject(site: SiteFactory) -> None:
    reply_id, topic_id = queue(site)
    assert topic_id == "hello-2/topic"  # 'hello' is taken by a published topic
    listed = site.cli("moderate", "list")
    assert listed.exit_code == 0
    assert reply_id in listed.output and "Queued Quinn" in listed.output
    assert "new topic 'Hello'" in listed.output and "2 posts waiting." in listed.output
    shown = site.cli("moderate", "show", reply_id.split("/")[1])  # the id alone is enough
    assert "Please approve me." in shown.output and "author: Queued Quinn" in shown.output

    approved = site.cli("moderate", "approve", reply_id)
    assert approved.exit_code == 0, approved.output
    assert f"approved: content/topics/{reply_id}.md" in approved.output
    assert "Queued Quinn" in (site.output / "t/hello/index.html").read_text()

    kept = site.cli("moderate", "reject", topic_id, "--keep")
    assert kept.exit_code == 0
    assert (site.root / "pending/rejected/hello-2/topic.md").is_file()
    assert "0 posts waiting." in site.cli("moderate", "list").output
    assert not (site.root / "content/topics/hello-2").exists()


def test_approve_new_topic_and_delete_rejection(site: SiteFactory) -> None:
    reply_id, topic_id = queue(site)
    result = site.cli("moderate", "approve", topic_id)
    assert result.exit_code == 0, result.output
    assert (site.output / "t/hello-2/index.html").is_file()
    assert site.cli("moderate", "reject", reply_id).exit_code == 0
    assert list((site.root / "pending").rglob("*.md")) == []


def test_unknown_id_is_a_usage_error(site: SiteFactory) -> None:
    site.topic("hello")
    result = site.cli("moderate", "approve", "nope/123")
    assert result.exit_code == 2
    assert "no pending post 'nope/123'" in result.output


def test_approving_a_topic_whose_slug_was_taken_leaves_other_replies_waiting(
    site: SiteFactory,
) -> None:
    """A new topic waits as hello-2; meanwhile a topic hello-2 is published (written by
    hand, or pulled from git) and a visitor's reply to it waits in the same folder. The
    waiting topic is approved under the next free slug, alone: the reply waits on, for
    the published hello-2 it answered."""
    site.topic("hello", title="Hello")
    site.save_config(intake={"moderation": "queue", "rate_limit": "100/second"})
    with gunicorn(site.root, workers=1) as server:
        topic = server.post(
            "/topics",
            {"title": "Hello", "category": "help", "author": "Newbie", "body": "My own topic."},
            json_api=True,
        )
        assert topic.status == 201 and topic.json()["id"] == "hello-2/topic"
        site.topic("hello-2", title="Hello again", author="Owner")
        reply = server.post(
            "/topics/hello-2/replies",
            {"author": "Rae", "body": "Answering the owner."},
            json_api=True,
        )
        assert reply.status == 201
    reply_id = reply.json()["id"]

    approved = site.cli("moderate", "approve", "hello-2/topic")
    assert approved.exit_code == 0, approved.output
    assert "approved: content/topics/hello-3/topic.md" in approved.output
    assert [p.name for p in (site.root / "content/topics/hello-3").iterdir()] == ["topic.md"]
    assert "My own topic." in (site.output / "t/hello-3/index.html").read_text()
    assert "Answering the owner." not in (site.output / "t/hello-3/index.html").read_text()
    listed = site.cli("moderate", "list").output
    assert f"{reply_id}\t" in listed and "1 post waiting." in listed

    approved = site.cli("moderate", "approve", reply_id)
    assert approved.exit_code == 0, approved.output
    assert f"approved: content/topics/{reply_id}.md" in approved.output
    assert "Answering the owner." in (site.output / "t/hello-2/index.html").read_text()
    assert list((site.root / "pending").rglob("*.md")) == []


def test_control_characters_never_reach_the_terminal(site: SiteFactory) -> None:
    """A waiting post written by hand, or taken before the intake refused C1 controls,
    may hold characters a terminal obeys (U+009B and ESC start escape sequences, BEL
    rings): `list` and `show` print them escaped (`\\x9b`); `show` keeps the post's
    lines and tabs."""
    site.topic("hello", title="Hello")
    store = Store(load(site.root)[0])
    reply = store.save(
        Submission(
            author="Eve\x9b2J",
            topic="hello",
            body="Line one\x9b2J\x1b[31m\n\tindented\x07 \u202eevil",
        )
    )
    store.save(Submission(author="Mal", body="Hi.", title="Title\x9b1A", category="help"))
    listed = site.cli("moderate", "list")
    shown = site.cli("moderate", "show", f"hello/{reply.post.id}")
    assert listed.exit_code == shown.exit_code == 0
    obeyed = {chr(c) for c in [*range(32), *range(0x7F, 0xA0)]} - {"\n", "\t"}
    assert not set(listed.output + shown.output) & obeyed
    assert f"hello/{reply.post.id}\t" in listed.output
    assert "\tEve\\x9b2J\treply in hello" in listed.output
    assert "new topic 'Title\\x9b1A'" in listed.output
    assert "Line one\\x9b2J\\x1b[31m\n\tindented\\x07 \\u202eevil\n" in shown.output


def test_approving_builds_everything_the_site_holds(site: SiteFactory) -> None:
    """The build after an approval scans the whole site, as a plain build does: a topic
    written meanwhile by `forumgen new`, an import or an editor is published with it,
    never left out until someone thinks of building."""
    reply_id, topic_id = queue(site)
    site.topic("other", title="Other")
    site.build()
    edit = site.root / "content/topics/other/topic.md"
    edit.write_text(edit.read_text().replace("title: Other", "title: Edited by hand"))
    for post in (reply_id, topic_id):
        approved = site.cli("moderate", "approve", post)
        assert approved.exit_code == 0, approved.output
    assert "Queued Quinn" in (site.output / "t/hello/index.html").read_text()
    assert "My first topic." in (site.output / "t/hello-2/index.html").read_text()
    assert "Edited by hand" in (site.output / "t/other/index.html").read_text()
