"""Live reload of `forumgen serve` in headless Chromium: a page left open follows the
edits of the files it is made from, shows a failed build's problems, and recovers when
they are fixed, without anyone reloading it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from browser import chromium, console_errors, save_screenshot, screenshot_folder, wait
from conftest import SiteFactory, snapshot
from servers import forumgen_serve

try:
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
except ImportError:  # the browser fixtures skip, or fail, saying what to install
    pass

RESERVED = b"__forumgen__"
OVERLAY = "forumgen-build-problems"


def test_open_page_follows_edits_and_shows_build_problems(
    site: SiteFactory, tmp_path: Path
) -> None:
    shots = screenshot_folder("live-reload")
    site.topic("hello", title="Hello", replies=1)
    reply = site.root / "content/topics/hello/r0000.md"
    written = reply.read_text()
    with (
        chromium() as driver,
        forumgen_serve(site.root, tmp_path / "serve.log", watch=True) as server,
    ):
        driver.get(f"http://127.0.0.1:{server.port}/t/hello/")

        # While the page reloads itself, what was found on it goes stale: ask again.
        def body() -> str:
            try:
                return str(driver.find_element(By.TAG_NAME, "body").text)
            except WebDriverException:
                return ""

        def overlays() -> list[Any]:
            try:
                return list(driver.find_elements(By.ID, OVERLAY))
            except WebDriverException:
                return []

        assert "Reply number 0." in body()
        driver.execute_script("window.sameLoad = true")

        reply.write_text(written.replace("Reply number 0.", "Reply edited live."))
        wait(lambda: "Reply edited live." in body(), what="the edit on the open page")
        assert driver.execute_script("return window.sameLoad") is None  # it reloaded itself

        # A broken file: the page keeps the last good build and says what is wrong, where.
        reply.write_text("---\nauthor: [Bob\n---\nBroken.\n")
        overlay = wait(overlays, what="the build's problems on the page")[0]
        wait(
            lambda: "content/topics/hello/r0000.md:2: " in overlay.text,
            what="the problem's path and line",
        )
        assert overlay.is_displayed() and overlay.get_attribute("role") == "alert"
        assert "Reply edited live." in body()
        # Problems quote the site's files: shown as text, never run as markup.
        site.topic("odd", category="<img src=x onerror=alert(1)>")
        wait(
            lambda: "unknown category '<img src=x onerror=alert(1)>'" in overlay.text,
            what="a second problem",
        )
        assert "content/topics/hello/r0000.md:2: " in overlay.text
        assert not overlay.find_elements(By.TAG_NAME, "img")
        assert driver.execute_script("return window.__ran") == []
        save_screenshot(driver, shots / "build-failed.png", full_page=False)

        # Fixed: the page reloads and shows the fixed content, without the problems.
        (site.root / "content/topics/odd/topic.md").unlink()
        (site.root / "content/topics/odd").rmdir()
        reply.write_text(written.replace("Reply number 0.", "Reply fixed."))
        wait(lambda: "Reply fixed." in body(), what="the fixed content")
        assert not overlays()
        assert not console_errors(driver)
        save_screenshot(driver, shots / "build-fixed.png", full_page=False)

    # Live reload lives only in the server: neither the preview nor a build holds it.
    site.build()
    for folder in (site.output, site.root / ".forumgen/preview/site"):
        files = snapshot(folder)
        assert files and not [name for name, (data, _) in files.items() if RESERVED in data]
