"""The example forum in headless Chromium, used the way a reader uses it: following links,
opening a permalink, posting replies and topics through the forms, on a phone and on a
desktop screen.

`forumgen serve` serves a copy of the bundled example (publish mode, so posts appear at
once); every page visited is saved as a screenshot (see browser.py) and must log no
error to the console.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import lxml.etree
import lxml.html
import pytest

from browser import chromium, console_errors, follow, save_screenshot, screenshot_folder, wait
from forumgen.build import load
from forumgen.i18n import STRINGS
from forumgen.model import Category, Topic, slugify
from servers import ServedExample, Server, example_copy, forumgen_serve, served_example

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select
except ImportError:  # the browser fixtures skip, or fail, saying what to install
    pass

PHONE, DESKTOP = (375, 812), (1280, 900)
TEXT = STRINGS["en"]


@dataclass
class Example:
    """What the tests need to know of the example forum, found in its content."""

    long: Topic  # has a third page
    long_category: Category
    short: Topic  # one page, takes replies
    tag: str
    posts_per_page: int


@pytest.fixture(scope="module")
def forum(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedExample]:
    with served_example(tmp_path_factory.mktemp("browser")) as served:
        yield served


@pytest.fixture(scope="module")
def example(forum: ServedExample) -> Example:
    config, site = load(forum.site)
    per_page = config.posts_per_page
    long = next(t for t in site.topics if len(t.posts) > 2 * per_page)
    short = next(t for t in site.topics if not t.locked and 3 <= len(t.posts) < per_page and t.tags)
    return Example(long, site.category(long.category), short, short.tags[0], per_page)


@pytest.fixture(scope="module")
def shots() -> Path:
    return screenshot_folder("browser")


@pytest.fixture(scope="module")
def desktop() -> Iterator[Any]:
    with chromium(*DESKTOP) as driver:
        yield driver


@pytest.fixture(scope="module")
def phone() -> Iterator[Any]:
    with chromium(*PHONE) as driver:
        yield driver


# Helpers ---------------------------------------------------------------------------------


def path_of(driver: Any) -> str:
    return unquote(urlsplit(driver.current_url).path)


def seen(driver: Any, folder: Path, name: str, expected: tuple[str, ...] = ()) -> None:
    """Screenshot the page for people to look at; the console must show no error."""
    save_screenshot(driver, folder / f"{name}.png")
    errors = console_errors(driver, expected)
    assert not errors, f"{name}: console errors {errors}"


def h1(driver: Any) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, "main h1").text)


def labelled(driver: Any, label: str) -> Any:
    """The form control a visible label names, as a person finds it."""
    element = driver.find_element(By.XPATH, f'//label[normalize-space()="{label}"]')
    assert element.is_displayed(), label
    return driver.find_element(By.ID, element.get_attribute("for"))


def settled_scroll(driver: Any) -> None:
    """Wait until the page stops scrolling (scrolling to a fragment may be smooth)."""
    readings: list[float] = []

    def still() -> bool:
        readings.append(float(driver.execute_script("return window.scrollY")))
        time.sleep(0.05)
        return len(readings) >= 3 and len(set(readings[-3:])) == 1

    wait(still, 10, "a still page")


def in_view(driver: Any, element: Any) -> dict[str, float]:
    """Where the element's top is, below whatever sticks to the top of the window."""
    return dict(
        driver.execute_script(
            """
        const box = arguments[0].getBoundingClientRect();
        const header = document.querySelector('.site-header');
        const sticky = getComputedStyle(header).position === 'sticky';
        return {top: box.top, bottom: box.bottom, window: window.innerHeight,
                covered: sticky ? header.getBoundingClientRect().bottom : 0,
                scrolled: window.scrollY};""",
            element,
        )
    )


def assert_in_view(driver: Any, element: Any) -> None:
    where = in_view(driver, element)
    assert where["scrolled"] > 0, where
    # Its top (the author line) shows below the sticky header, within the window.
    assert where["covered"] - 1 <= where["top"] <= where["window"] - 60, where


def post_reply(driver: Any, author: str, body: str, reply_to: int | None = None) -> None:
    labelled(driver, TEXT["field_author"]).send_keys(author)
    if reply_to is not None:
        Select(labelled(driver, TEXT["field_reply_to"])).select_by_index(reply_to)
    labelled(driver, TEXT["field_body"]).send_keys(body)
    follow(
        driver,
        driver.find_element(
            By.XPATH, f'//form//button[normalize-space()="{TEXT["submit_reply"]}"]'
        ),
    )


# The page's width against the window's. A phone widens window.innerWidth to what
# overflows (zooming out), so the layout viewport (clientWidth) is the measure, and the
# window must keep the width of the screen.
WIDTHS = """return {page: document.documentElement.scrollWidth,
                 viewport: document.documentElement.clientWidth,
                 window: window.innerWidth}"""


def sideways(driver: Any, screen: int) -> dict[str, int] | None:
    """The widths if the page scrolls sideways (or makes the window wider), else None."""
    widths: dict[str, int] = driver.execute_script(WIDTHS)
    fits = widths["page"] <= widths["viewport"] <= widths["window"] <= screen
    return None if fits else widths


def no_horizontal_scroll(driver: Any, screen: int) -> None:
    widths = sideways(driver, screen)
    assert widths is None, f"{driver.current_url}: scrolls sideways, {widths}"


def assert_form_usable(driver: Any, form: Any) -> int:
    """Every control of the form is visible, within the window, not covered, enabled;
    the honeypot is out of sight. Returns the number of controls checked."""
    width = driver.execute_script("return document.documentElement.clientWidth")
    controls = form.find_elements(By.CSS_SELECTOR, "input, select, textarea, button")
    checked = 0
    for control in controls:
        name = control.get_attribute("name") or control.text
        if driver.execute_script("return arguments[0].closest('.hp') !== null", control):
            box = driver.execute_script("return arguments[0].getBoundingClientRect()", control)
            assert box["right"] <= 0, f"the honeypot shows: {box}"
            continue
        driver.execute_script(
            "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", control
        )
        assert control.is_displayed() and control.is_enabled(), name
        box = driver.execute_script("return arguments[0].getBoundingClientRect()", control)
        assert box["left"] >= 0 and box["right"] <= width, f"{name} outside the window: {box}"
        assert box["width"] >= 44 and box["height"] >= 24, f"{name} too small: {box}"
        on_top = driver.execute_script(
            """
            const box = arguments[0].getBoundingClientRect();
            const hit = document.elementFromPoint(box.left + box.width / 2,
                                                  box.top + box.height / 2);
            return hit === arguments[0] || arguments[0].contains(hit);""",
            control,
        )
        assert on_top, f"{name} is covered by another element"
        checked += 1
    assert form.find_element(By.CSS_SELECTOR, "button[type=submit]").is_displayed()
    return checked


# Tests -----------------------------------------------------------------------------------


def test_reader_follows_links_from_the_index_to_an_author(
    forum: ServedExample, example: Example, desktop: Any, shots: Path
) -> None:
    driver = desktop
    topic, category = example.long, example.long_category
    driver.get(forum.url("/"))
    assert h1(driver) == TEXT["latest"]
    seen(driver, shots, "navigate-1-index")

    categories = driver.find_element(By.CSS_SELECTOR, "aside.sidebar")
    follow(driver, categories.find_element(By.LINK_TEXT, category.name))
    assert path_of(driver) == f"/c/{category.slug}/"
    assert h1(driver) == category.name
    seen(driver, shots, "navigate-2-category")

    listing = driver.find_element(By.CSS_SELECTOR, "ul.topic-list")
    follow(driver, listing.find_element(By.LINK_TEXT, topic.title))
    assert path_of(driver) == f"/t/{topic.slug}/"
    assert h1(driver) == topic.title
    seen(driver, shots, "navigate-3-topic")

    pages = driver.find_element(By.CSS_SELECTOR, "nav.pagination")
    follow(driver, pages.find_element(By.PARTIAL_LINK_TEXT, TEXT["next"]))
    assert path_of(driver) == f"/t/{topic.slug}/page/2/"
    assert driver.find_element(By.CSS_SELECTOR, "nav.pagination [aria-current=page]").text == "2"
    first = driver.find_element(By.CSS_SELECTOR, "article.post")
    number = first.find_element(By.CSS_SELECTOR, ".post-number").text
    assert number == f"#{example.posts_per_page + 1}"
    seen(driver, shots, "navigate-4-topic-page-2")

    author = first.find_element(By.CSS_SELECTOR, "a.post-author")
    name = author.text
    follow(driver, author)
    assert path_of(driver) == f"/u/{slugify(name)}/"
    assert h1(driver) == name
    links = [
        unquote(a.get_attribute("href"))
        for a in driver.find_elements(By.CSS_SELECTOR, "ul.activity a")
    ]
    assert any(f"/t/{topic.slug}/page/2/#p-" in link for link in links), links
    seen(driver, shots, "navigate-5-author")


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_permalink_on_page_3_scrolls_the_post_into_view(
    forum: ServedExample,
    example: Example,
    size: tuple[int, int],
    request: pytest.FixtureRequest,
    shots: Path,
) -> None:
    driver = request.getfixturevalue("desktop" if size == DESKTOP else "phone")
    page = lxml.html.fromstring(forum.server.get(f"/t/{example.long.slug}/page/3/").body)
    posts = page.xpath('//article[contains(concat(" ", @class, " "), " post ")]')
    assert len(posts) == example.posts_per_page
    target = posts[-3]  # far below the first screen, with room to scroll it to the top
    permalink = target.xpath('.//a[contains(@class, "post-number")]/@href')[0]
    assert unquote(permalink) == f"/t/{example.long.slug}/page/3/#{target.get('id')}"

    driver.get(forum.url(permalink))
    wait(lambda: driver.execute_script("return window.scrollY") > 0, 10, "a scroll to the post")
    settled_scroll(driver)
    post = driver.find_element(By.ID, target.get("id"))
    assert driver.execute_script("return document.querySelector(':target')") == post
    assert_in_view(driver, post)
    assert post.find_element(By.CSS_SELECTOR, "a.post-author").is_displayed()
    save_screenshot(driver, shots / f"permalink-page-3-{size[0]}.png", full_page=False)
    assert not console_errors(driver)


def test_reply_in_publish_mode_lands_on_the_new_post(
    forum: ServedExample, example: Example, desktop: Any, shots: Path
) -> None:
    driver, topic = desktop, example.short
    driver.get(forum.url(f"/t/{topic.slug}/"))
    before = len(driver.find_elements(By.CSS_SELECTOR, "article.post"))
    text = f"Seen from a real browser, {uuid.uuid4().hex[:8]}."
    post_reply(driver, "Browser Bea", f"{text}\n\nWith **bold** words.", reply_to=1)

    path, fragment = path_of(driver), urlsplit(driver.current_url).fragment
    assert path == f"/t/{topic.slug}/" and fragment.startswith("p-"), driver.current_url
    assert len(driver.find_elements(By.CSS_SELECTOR, "article.post")) == before + 1
    post = driver.find_element(By.ID, fragment)
    assert text in post.text
    assert post.find_element(By.CSS_SELECTOR, ".post-body strong").text == "bold"
    assert post.find_element(By.CSS_SELECTOR, "a.post-author").text == "Browser Bea"
    assert post.find_element(By.CSS_SELECTOR, ".in-reply-to a").text == "#2"
    assert driver.execute_script("return document.querySelector(':target')") == post
    settled_scroll(driver)
    assert in_view(driver, post)["top"] < in_view(driver, post)["window"]
    stored = list((forum.site / "content/topics" / topic.slug).glob("2*.md"))
    assert any(text in file.read_text(encoding="utf-8") for file in stored)
    seen(driver, shots, "reply-published")


def test_reply_in_queue_mode_shows_the_moderation_notice(
    tmp_path: Path, example: Example, desktop: Any, shots: Path
) -> None:
    """Sent from the second page of a long topic, the reply is announced on its last
    page, where it will appear once approved."""
    driver, topic = desktop, example.long
    last = -(-len(topic.posts) // example.posts_per_page)
    site = example_copy(tmp_path / "site", moderation="queue", rate_limit="100/minute")
    with forumgen_serve(site, log=tmp_path / "serve.log") as server:
        queued = ServedExample(site, server)
        driver.get(queued.url(f"/t/{topic.slug}/page/2/"))
        notice = driver.find_element(By.ID, "awaiting-moderation")
        assert not notice.is_displayed()
        hint = driver.find_element(By.CSS_SELECTOR, "section.reply .hint")
        assert hint.text == TEXT["moderation_notice"] and hint.is_displayed()
        text = f"Waiting for a moderator, {uuid.uuid4().hex[:8]}."
        post_reply(driver, "Queued Quinn", text)

        assert last > 2 and path_of(driver) == f"/t/{topic.slug}/page/{last}/"
        assert urlsplit(driver.current_url).fragment == "awaiting-moderation"
        notice = driver.find_element(By.ID, "awaiting-moderation")
        assert notice.is_displayed() and notice.text == TEXT["queue_notice"]
        settled_scroll(driver)
        assert in_view(driver, notice)["top"] < in_view(driver, notice)["window"]
        assert text not in driver.find_element(By.TAG_NAME, "body").text
        pending = list((site / "pending/topics" / topic.slug).glob("*.md"))
        assert len(pending) == 1 and text in pending[0].read_text(encoding="utf-8")
        assert not (site / "content/topics" / topic.slug / pending[0].name).exists()
        seen(driver, shots, "reply-queued")


def test_invalid_reply_is_stopped_by_the_browser_then_by_the_intake(
    forum: ServedExample, example: Example, phone: Any, shots: Path
) -> None:
    driver, topic = phone, example.short
    driver.get(forum.url(f"/t/{topic.slug}/"))
    button = driver.find_element(
        By.XPATH, f'//form//button[normalize-space()="{TEXT["submit_reply"]}"]'
    )
    # Empty required fields: the browser itself refuses to send the form.
    page = driver.find_element(By.TAG_NAME, "html")
    driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", button
    )
    button.click()
    time.sleep(0.5)
    assert page.is_displayed() and path_of(driver) == f"/t/{topic.slug}/"
    author, body = labelled(driver, TEXT["field_author"]), labelled(driver, TEXT["field_body"])
    assert driver.execute_script("return arguments[0].validity.valueMissing", author)
    assert driver.execute_script("return arguments[0].validity.valueMissing", body)
    assert driver.switch_to.active_element == author

    # What the browser lets through, the intake refuses, naming each field.
    author.send_keys("***")
    body.send_keys("   ")
    follow(driver, button)
    assert h1(driver) == TEXT["refused_title"]
    errors = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "ul.field-errors li")]
    assert errors == [
        f"{TEXT['field_author']}: must contain at least one letter or digit",
        f"{TEXT['field_body']}: is required",
    ], errors
    alert = driver.find_element(By.CSS_SELECTOR, "[role=alert]")
    assert alert.is_displayed()
    no_horizontal_scroll(driver, PHONE[0])
    seen(driver, shots, "reply-refused-phone", expected=("status of 400",))


def test_new_topic_in_publish_mode_lands_on_the_topic(
    forum: ServedExample, example: Example, desktop: Any, shots: Path
) -> None:
    driver = desktop
    driver.get(forum.url("/"))
    header = driver.find_element(By.CSS_SELECTOR, "header.site-header nav")
    follow(driver, header.find_element(By.LINK_TEXT, TEXT["new_topic"]))
    assert path_of(driver) == "/new/" and h1(driver) == TEXT["new_topic_heading"]
    seen(driver, shots, "new-topic-form")

    title = f"Browser-made topic {uuid.uuid4().hex[:6]}"
    labelled(driver, TEXT["field_title"]).send_keys(title)
    Select(labelled(driver, TEXT["field_category"])).select_by_visible_text(
        example.long_category.name
    )
    labelled(driver, TEXT["field_tags"]).send_keys("browser, testing")
    labelled(driver, TEXT["field_author"]).send_keys("Topic Tess")
    labelled(driver, TEXT["field_body"]).send_keys("Opened from the new-topic form.")
    follow(
        driver,
        driver.find_element(
            By.XPATH, f'//form//button[normalize-space()="{TEXT["submit_topic"]}"]'
        ),
    )

    assert path_of(driver) == f"/t/{slugify(title)}/", driver.current_url
    assert h1(driver) == title
    meta = driver.find_element(By.CSS_SELECTOR, ".thread-meta")
    assert meta.find_element(By.CSS_SELECTOR, "a.category").text == example.long_category.name
    assert [a.text for a in meta.find_elements(By.CSS_SELECTOR, "a.tag")] == [
        "#browser",
        "#testing",
    ]
    opening = driver.find_element(By.CSS_SELECTOR, "article.post")
    assert "Opened from the new-topic form." in opening.text
    seen(driver, shots, "new-topic-published")

    # The forum's front page lists it, newest first.
    follow(driver, driver.find_element(By.CSS_SELECTOR, "header.site-header a.site-title"))
    assert driver.find_element(By.CSS_SELECTOR, "ul.topic-list a.topic-title").text == title


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_layout_fits_the_screen_and_forms_are_usable(
    forum: ServedExample,
    example: Example,
    size: tuple[int, int],
    request: pytest.FixtureRequest,
    shots: Path,
) -> None:
    driver = request.getfixturevalue("desktop" if size == DESKTOP else "phone")
    author = example.long.posts[1].author
    pages = {
        "index": "/",
        "index-page-2": "/page/2/",
        "category": f"/c/{example.long_category.slug}/",
        "tag": f"/tag/{slugify(example.tag)}/",
        "topic": f"/t/{example.long.slug}/",
        "topic-page-2": f"/t/{example.long.slug}/page/2/",
        "author": f"/u/{slugify(author)}/",
        "new-topic": "/new/",
        "not-found": "/no/such/page/",
    }
    forms = 0
    for name, path in pages.items():
        driver.get(forum.url(path))
        assert driver.find_element(By.CSS_SELECTOR, "main h1").is_displayed(), name
        no_horizontal_scroll(driver, size[0])
        for form in driver.find_elements(By.CSS_SELECTOR, "main form"):
            forms += 1
            assert assert_form_usable(driver, form) >= 4, name
        seen(
            driver,
            shots,
            f"layout-{size[0]}-{name}",
            expected=("status of 404",) if name == "not-found" else (),
        )
    assert forms == 3  # the reply form on both topic pages, the new-topic form


SCREENS = {"desktop": (1280, 800), "phone": PHONE}
MEASURE = """
const width = e => e.getBoundingClientRect().width;
const all = selector => [...document.querySelectorAll(selector)];
const code = all('.post-body > .highlight').map(e => [width(e), width(e.parentElement)]);
const title = document.querySelector('.site-title');
const side = document.querySelector('article.thread aside');
const boxes = all('article.post').map(e => e.getBoundingClientRect());
return {viewport: document.documentElement.clientWidth,
        header: document.querySelector('.site-header').getBoundingClientRect().height,
        posts: all('article.post').map(width),
        column: {left: Math.min(...boxes.map(b => b.left)),
                 right: Math.max(...boxes.map(b => b.right)), top: boxes[0].top},
        side: side && side.offsetParent !== null ? side.getBoundingClientRect().toJSON() : null,
        scrolled: window.scrollY, window: window.innerHeight,
        page: document.documentElement.scrollHeight,
        prose: all('.post-body > p').map(width),
        code: code,
        title_cut: title.scrollWidth > title.clientWidth,
        controls: all('.site-header input, .site-header .button')
          .filter(e => e.offsetParent !== null).map(e => e.getBoundingClientRect().toJSON())};
"""
MEASURE_LINE = 48 * 16  # --measure in style.css: prose lines of about 90 characters


def side_stays_in_view(driver: Any, side: dict[str, float]) -> None:
    """Scrolled to the page's last post, far past where the side column first ended, the
    side column is still beside the posts, whole, below the sticky header."""
    last = driver.find_elements(By.CSS_SELECTOR, "article.post")[-1]
    driver.execute_script("arguments[0].scrollIntoView({block: 'end', behavior: 'instant'})", last)
    settled_scroll(driver)
    found = driver.execute_script(MEASURE)
    assert found["scrolled"] > side["bottom"], found  # the page is long enough to tell
    now = found["side"]
    assert now and now["left"] == side["left"], found
    assert found["header"] - 1 <= now["top"] and now["bottom"] <= found["window"], found


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_topic_pages_use_the_width_of_the_screen(
    forum: ServedExample, example: Example, screen: str, shots: Path
) -> None:
    """At 1280x800 the posts and, to their right, a side column of the topic's facts and
    pages span at least 85% of the window's width (the posts were a column of 830 px, then
    prose alone left the right third empty); the posts' prose keeps lines of at most 48rem
    (768 px, about 90 characters) and their code blocks take the post's whole width; the
    side column stays in view when the reader scrolls down a long page. On a 375x812
    phone there is no side column (its facts and pages are a row above the first post),
    the header is one row at most 64 px tall (it was 145 px: title, search and links each
    on a row) showing the whole title, the search field and the new-topic button, posts
    take at least 90% of the width, and nothing scrolls sideways. The screenshots are
    kept as the record (test-artifacts/screenshots/browser/screen-*, the desktop's also
    scrolled down: screen-*-scrolled). On both, the header's search field takes a query."""
    width, height = SCREENS[screen]
    _config, site = load(forum.site)
    coded = next(t for t in site.topics if "```" in t.opening.body and t.opening.format != "mail")
    pages = {"code": f"/t/{coded.slug}/", "long-page-2": f"/t/{example.long.slug}/page/2/"}
    with chromium(width, height) as driver:
        for name, path in pages.items():
            driver.get(forum.url(path))
            no_horizontal_scroll(driver, width)
            found = driver.execute_script(MEASURE)
            viewport = found["viewport"]
            assert found["posts"] and found["prose"], (path, found)
            if screen == "desktop":
                side, column = found["side"], found["column"]
                assert side, (path, found)
                assert side["left"] >= column["right"] - 1, (path, found)  # beside the posts
                assert side["right"] - column["left"] >= 0.85 * viewport, (path, found)
                assert side["top"] < found["window"], (path, found)
                assert min(found["posts"]) >= 0.6 * viewport, (path, found)
                assert max(found["prose"]) <= MEASURE_LINE, (path, found)
            else:
                assert found["side"] is None or found["side"]["bottom"] <= found["column"]["top"]
                assert found["header"] <= 64, (path, found)
                assert not found["title_cut"], (path, found)
                assert len(found["controls"]) == 2, (path, found)  # search field, button
                assert all(0 <= c["left"] and c["right"] <= viewport for c in found["controls"])
                assert found["controls"][0]["width"] >= 80, (path, found)
                assert min(found["posts"]) >= 0.9 * viewport, (path, found)
            assert found["code"] or name != "code", (path, found)
            for block, post_body in found["code"]:
                assert block >= post_body - 1, (path, found)
            save_screenshot(driver, shots / f"screen-{width}x{height}-{name}.png", full_page=False)
            assert not console_errors(driver), path
            if screen == "desktop" and name == "long-page-2":
                side_stays_in_view(driver, found["side"])
                save_screenshot(
                    driver, shots / f"screen-{width}x{height}-{name}-scrolled.png", full_page=False
                )
        # The header's search field searches with Enter, with or without its button shown.
        field = driver.find_element(By.CSS_SELECTOR, ".site-header input[type=search]")
        field.send_keys("gunicorn")
        field.send_keys(Keys.ENTER)
        wait(lambda: path_of(driver) == "/search/", 30, "the search page")
        assert urlsplit(driver.current_url).query == "q=gunicorn"


def sitemap_urls(server: Server, path: str = "/sitemap.xml") -> list[str]:
    """Every page a sitemap (or a sitemap index) lists, as a search engine reads it."""
    answer = server.get(path)
    assert answer.status == 200, path
    tree = lxml.etree.fromstring(answer.body)
    found = [str(loc).strip() for loc in tree.xpath("//*[local-name()='loc']/text()")]
    if tree.xpath("local-name()") == "sitemapindex":
        return [url for sitemap in found for url in sitemap_urls(server, urlsplit(sitemap).path)]
    return found


def test_no_page_scrolls_sideways_on_a_phone(forum: ServedExample, phone: Any) -> None:
    """Every page in the sitemap, whatever its posts hold (code, tables, long words,
    Chinese), fits a 375 px screen."""
    urls = sitemap_urls(forum.server)
    assert len(urls) > 100
    wide = {}
    for url in urls:
        phone.get(url)
        widths = sideways(phone, PHONE[0])
        if widths is not None:
            wide[unquote(url)] = widths
    assert not wide, f"pages wider than the screen: {wide}"
    assert not console_errors(phone)


def test_favicon_is_served_where_browsers_look(forum: ServedExample) -> None:
    icon = forum.server.get("/favicon.ico")
    assert icon.status == 200 and icon.body[:4] == b"\x00\x00\x01\x00"  # an ICO file
    svg = forum.server.get("/static/favicon.svg")
    assert svg.status == 200 and svg.headers["content-type"].startswith("image/svg+xml")
