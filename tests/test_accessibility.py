"""Every kind of page of the example forum (its archives by month included: the listings',
and that of its most active member, who writes a few more replies for it) checked with
axe-core in headless Chromium: no serious or critical violation, in the light colours on
a desktop screen and in the dark ones on a phone; the intake's own pages (a refusal,
"your post appears shortly") and the moderation notice included.

The theme's colours for code are checked in its stylesheets themselves: every Pygments
token class, in the light and the dark scheme, against the code block's background.

The site's Content-Security-Policy forbids inline script, so axe is injected through
the driver (script evaluated by the browser's debugging protocol is not subject to it).
Every violation found, whatever its impact, is written to
test-artifacts/accessibility-<variant>.json for people to read.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pygments.token import STANDARD_TYPES
from tools import npm_file

from browser import ARTIFACTS, chromium, console_errors, follow, save_screenshot, screenshot_folder
from forumgen.authors import shown_on_page
from forumgen.build import load
from forumgen.i18n import STRINGS
from forumgen.model import slugify
from servers import ServedExample, served_example

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # the browser fixture skips, or fails, saying what to install
    pass

TEXT = STRINGS["en"]
STATIC = Path(__file__).resolve().parent.parent / "themes/default/static"
STYLESHEETS = ("style.css", "pygments.css")  # in the order base.html links them
DARK = "(prefers-color-scheme: dark)"
AA_TEXT = 4.5  # WCAG 2 AA, text of normal size
FAILING = ("serious", "critical")
RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']}).then(
  result => done(result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map(n => ({target: n.target, html: n.html, summary: n.failureSummary}))}))),
  error => done({error: String(error)}));
"""


def most_replies(site: Path) -> tuple[str, int]:
    """The author of the most replies, and how many they wrote."""
    counts = Counter(p.author for t in load(site)[1].topics for p in t.posts[1:])
    return counts.most_common(1)[0]


def past_the_cap(site: Path) -> None:
    """The example's most active member writes replies until their page cannot list them
    all (see authors.shown_on_page): they get an archive by month. The replies go to the
    shortest topic, after its last post."""
    config, forum = load(site)
    author, count = most_replies(site)
    topic = min(forum.topics, key=lambda t: (len(t.posts), t.slug))
    last = max(p.date for p in topic.posts)
    for n in range(shown_on_page(config) + 1 - count):
        when = last + timedelta(days=n + 1)
        reply = site / "content/topics" / topic.slug / f"more-{n:02d}.md"
        reply.write_text(
            f"---\nauthor: {author}\ndate: {when.isoformat()}\n---\nOne more, number {n}.\n",
            encoding="utf-8",
        )


@pytest.fixture(scope="module")
def forum(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedExample]:
    with served_example(tmp_path_factory.mktemp("accessibility"), past_the_cap) as served:
        yield served


@pytest.fixture(scope="module")
def pages(forum: ServedExample) -> dict[str, str]:
    """A page of each kind, found in the example's content."""
    config, site = load(forum.site)
    long = next(t for t in site.topics if len(t.posts) > config.posts_per_page)
    short = next(t for t in site.topics if not t.locked and t.tags)
    locked = next(t for t in site.topics if t.locked)
    mail = next(t for t in site.topics if t.opening.format == "mail")
    started = min(t.opening.date for t in site.topics).astimezone(config.tz)
    prolific = most_replies(forum.site)[0]
    wrote = min(p.date for t in site.topics for p in t.posts if p.author == prolific)
    wrote = wrote.astimezone(config.tz)
    return {
        "index": "/",
        "index page 2": "/page/2/",
        "category": f"/c/{long.category}/",
        "tag": f"/tag/{slugify(short.tags[0])}/",
        "topic": f"/t/{short.slug}/",
        "topic page 2": f"/t/{long.slug}/page/2/",
        "locked topic": f"/t/{locked.slug}/",
        "mail topic": f"/t/{mail.slug}/",
        "author": f"/u/{slugify(long.posts[1].author)}/",
        "archive": "/archive/",
        "archive month": f"/archive/{started:%Y}/{started:%m}/",
        "author archive": f"/u/{slugify(prolific)}/archive/",
        "author archive month": f"/u/{slugify(prolific)}/archive/{wrote:%Y}/{wrote:%m}/",
        "tags": "/tags/",
        "categories": "/categories/",
        "authors": "/u/",
        "new topic": "/new/",
        "not found": "/no/such/page/",
        "search": "/search/",
        "search results": "/search/?q=gunicorn+worker",
        "awaiting moderation": f"/t/{short.slug}/#awaiting-moderation",
        "new topic awaiting moderation": "/new/#awaiting-moderation",
    }


def axe_violations(driver: Any, axe: str) -> list[dict[str, Any]]:
    driver.execute_script(axe)
    found = driver.execute_async_script(RUN_AXE)
    assert isinstance(found, list), found  # else axe failed: {"error": ...}
    return found


def report(problems: dict[str, list[dict[str, Any]]]) -> str:
    lines = []
    for page, violations in problems.items():
        for v in violations:
            lines.append(f"{page}: {v['id']} ({v['impact']}): {v['help']}")
            lines += [f"    {' '.join(n['target'])}  {n['html'][:120]}" for n in v["nodes"][:8]]
    return "\n".join(lines)


def submit_new_topic(driver: Any, forum: ServedExample, author: str, body: str) -> None:
    """Fill in the new-topic form and send it; returns on the intake's answer."""
    driver.get(forum.url("/new/"))

    def field(label: str) -> Any:
        named = driver.find_element(By.XPATH, f'//label[normalize-space()="{label}"]')
        return driver.find_element(By.ID, named.get_attribute("for"))

    field(TEXT["field_title"]).send_keys(f"Checked by axe {uuid.uuid4().hex[:8]}")
    field(TEXT["field_author"]).send_keys(author)
    field(TEXT["field_body"]).send_keys(body)
    Select(field(TEXT["field_category"])).select_by_index(1)
    follow(driver, driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]"))


@pytest.mark.parametrize("variant", ["desktop-light", "phone-dark"])
def test_no_serious_or_critical_violations(
    forum: ServedExample, pages: dict[str, str], variant: str
) -> None:
    axe = npm_file("axe-core", "axe.min.js").read_text(encoding="utf-8")
    shots = screenshot_folder(f"accessibility-{variant}")
    width, height = (1280, 900) if variant.startswith("desktop") else (375, 812)
    found: dict[str, list[dict[str, Any]]] = {}
    console: dict[str, list[str]] = {}
    with chromium(width, height) as driver:
        driver.set_script_timeout(60)
        if variant.endswith("dark"):
            driver.execute_cdp_cmd(
                "Emulation.setEmulatedMedia",
                {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
            )

        def check(name: str, expected: tuple[str, ...] = ()) -> None:
            assert driver.find_element(By.CSS_SELECTOR, "main h1").is_displayed(), name
            found[name] = axe_violations(driver, axe)
            save_screenshot(driver, shots / f"{name.replace(' ', '-')}.png")
            console[name] = console_errors(driver, expected)

        for name, path in pages.items():
            driver.get(forum.url(path))
            if name == "search results":  # checked once search.js has shown them
                WebDriverWait(driver, 20).until(
                    lambda d: d.find_elements(By.CSS_SELECTOR, "#search[data-done] mark")
                )
            check(name, ("status of 404",) if name == "not found" else ())
            if "moderation" in name:
                notice = driver.find_element(By.ID, "awaiting-moderation")
                assert notice.is_displayed() and notice.text == TEXT["queue_notice"]

        # The intake's answers, in the site's theme: a refusal naming the bad fields...
        submit_new_topic(driver, forum, "***", "   ")
        assert driver.find_element(By.TAG_NAME, "h1").text == TEXT["refused_title"]
        check("intake refusal", ("status of 400",))

        # ...and "your post appears shortly", when the rebuild showing it does not succeed
        # (a category listed twice stops every build; a broken post would only be left
        # out).
        categories = forum.site / "content/categories.yaml"
        kept = categories.read_bytes()
        first = yaml.safe_load(kept)[0]["slug"]
        categories.write_bytes(kept + f"\n- {{slug: {first}, name: Again}}\n".encode())
        try:
            submit_new_topic(driver, forum, "Axe Ada", f"Kept for later, {variant}.")
        finally:
            categories.write_bytes(kept)
        assert driver.find_element(By.TAG_NAME, "h1").text == TEXT["published_soon_title"]
        check("intake published soon")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"accessibility-{variant}.json").write_text(
        json.dumps(found, indent=1, ensure_ascii=False), encoding="utf-8"
    )
    assert len(found) == len(pages) + 2
    failing = {
        page: [v for v in violations if v["impact"] in FAILING]
        for page, violations in found.items()
    }
    failing = {page: violations for page, violations in failing.items() if violations}
    assert not failing, f"axe-core ({variant}):\n{report(failing)}"
    assert not any(console.values()), {page: e for page, e in console.items() if e}


def test_keyboard_reaches_content_forms_and_wide_code(
    forum: ServedExample, pages: dict[str, str]
) -> None:
    """Without a mouse: the first Tab shows the skip link, which leads to the content; the
    reply form's fields come in order (the honeypot never); a code block too wide for a
    phone scrolls with the arrow keys."""
    from selenium.webdriver.common.keys import Keys

    with chromium(375, 812) as driver:
        driver.get(forum.url(pages["topic page 2"]))
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.TAB)
        skip = driver.switch_to.active_element
        assert skip.get_attribute("class") == "skip-link" and skip.text == TEXT["skip"]
        top = driver.execute_script("return arguments[0].getBoundingClientRect().top", skip)
        assert skip.is_displayed() and 0 <= top < 812
        skip.send_keys(Keys.ENTER)
        assert driver.switch_to.active_element.tag_name == "main"

        author = driver.find_element(By.ID, "f-author")
        driver.execute_script("arguments[0].focus()", author)
        order = [author.get_attribute("name")]
        for _ in range(3):
            driver.switch_to.active_element.send_keys(Keys.TAB)
            active = driver.switch_to.active_element
            order.append(active.get_attribute("name") or active.text)
        # The honeypot sits between the message and the button in the page.
        assert order == ["author", "reply_to", "body", TEXT["submit_reply"]]

        wide = driver.execute_script("""
            return [...document.querySelectorAll('.post-body pre')]
                .find(pre => pre.scrollWidth > pre.clientWidth + 40);""")
        assert wide is not None, "no code block wider than a phone on this page"
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", wide)
        driver.execute_script("arguments[0].focus()", wide)
        assert driver.switch_to.active_element == wide  # reachable with Tab: tabindex=0
        for _ in range(5):
            wide.send_keys(Keys.ARROW_RIGHT)
        assert driver.execute_script("return arguments[0].scrollLeft", wide) > 0


# Code colours ----------------------------------------------------------------------------

Rules = dict[str, dict[str, str]]
"""Selector -> its declarations, as the cascade leaves them for equally specific rules."""


def top_level_blocks(css: str) -> list[tuple[str, str]]:
    """(prelude, body) of each outermost `{...}` block of a stylesheet, comments removed."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    blocks, depth, start, prelude = [], 0, 0, ""
    for i, char in enumerate(css):
        if char == "{":
            if depth == 0:
                prelude, start = css[start:i].strip(), i + 1
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                blocks.append((prelude, css[start:i]))
                start = i + 1
    assert depth == 0, "unbalanced braces"
    return blocks


def apply_rules(css: str, rules: Rules, dark: bool) -> None:
    """Add the stylesheet's plain rules to `rules` in order, and those of its dark-scheme
    @media blocks too if `dark`; other @media blocks (widths, print, motion) are left out."""
    for prelude, body in top_level_blocks(css):
        if prelude.startswith("@media"):
            if dark and prelude.removeprefix("@media").strip() == DARK:
                apply_rules(body, rules, dark=False)
            continue
        declarations = {}
        for declaration in body.split(";"):
            name, colon, value = declaration.partition(":")
            if colon:
                declarations[name.strip()] = value.strip()
        for selector in prelude.split(","):
            rules.setdefault(" ".join(selector.split()), {}).update(declarations)


def scheme_rules(dark: bool) -> Rules:
    rules: Rules = {}
    for name in STYLESHEETS:
        apply_rules((STATIC / name).read_text(encoding="utf-8"), rules, dark)
    return rules


def colour(value: str, rules: Rules) -> str:
    """A colour value as #rrggbb, custom properties (`var(--x)`, set on :root) resolved."""
    found = re.fullmatch(r"var\((--[\w-]+)\)", value)
    if found:
        return colour(rules[":root"][found.group(1)], rules)
    assert re.fullmatch(r"#[0-9a-fA-F]{3}|#[0-9a-fA-F]{6}", value), f"not a plain colour: {value}"
    digits = value[1:] if len(value) == 7 else "".join(c * 2 for c in value[1:])
    return "#" + digits.lower()


def luminance(hex_colour: str) -> float:
    """WCAG 2's relative luminance."""
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: str, second: str) -> float:
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_code_token_is_readable_on_the_code_background(scheme: str) -> None:
    """Each Pygments token class (a code block without a language included: its text has
    the block's own colour) in the colour the theme's stylesheets give it in `scheme`,
    against the background of the block (or its own background, if it has one)."""
    rules = scheme_rules(dark=scheme == "dark")
    block = rules[".highlight"]
    background = colour(block.get("background-color") or block["background"], rules)
    text = colour(block.get("color") or rules["body"]["color"], rules)
    low = {}
    for name in sorted(set(STANDARD_TYPES.values()) - {""}):
        own = rules.get(f".highlight .{name}", {})
        fore = colour(own["color"], rules) if "color" in own else text
        back = colour(own["background-color"], rules) if "background-color" in own else background
        if contrast(fore, back) < AA_TEXT:
            low[name] = f"{fore} on {back}: {contrast(fore, back):.2f}"
    assert not low, f"{scheme}: token classes below {AA_TEXT}:1 {low}"
