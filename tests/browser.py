"""Headless Debian Chromium for the tests, through selenium and chromedriver.

Without chromium, chromedriver or selenium the browser tests skip with the reason, or
fail under FORUMGEN_REQUIRE_TOOLS=1 (see tools.py).

Screenshots are test artifacts for people to look at: in FORUMGEN_ARTIFACTS/screenshots
when that is set, else in test-artifacts/screenshots at the top of the repository.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tools import require

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(
    os.environ.get("FORUMGEN_ARTIFACTS")
    or Path(__file__).resolve().parent.parent / "test-artifacts"
)
NARROWEST_WINDOW = 500  # Chrome makes no narrower window; phones are emulated
FULL_PAGE_LIMIT = 16000  # CSS pixels: taller pages are cut there (a screenshot, not a poster)

# Every way a page can run script that the tests' payloads use ends in one of these;
# installed before any script of the page runs.
DIALOG_HOOK = """
window.__ran = [];
for (const name of ['alert', 'confirm', 'prompt', 'print']) {
  window[name] = function (message) { window.__ran.push(name + ':' + message); };
}
"""


def require_browser() -> None:
    missing = [
        name
        for name, found in (
            ("chromium", CHROMIUM),
            ("chromedriver", CHROMEDRIVER),
            ("selenium", importlib.util.find_spec("selenium")),
        )
        if not found
    ]
    require(missing, "apt-get install chromium chromium-driver; pip install selenium")


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A headless Chromium driven by selenium, with the dialog hook on every page and a
    viewport of `width` x `height` CSS pixels (a phone's screen below 500 px wide)."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="forumgen-chromium-")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": DIALOG_HOOK})
        if width < NARROWEST_WINDOW:  # a phone: its screen, the viewport meta tag obeyed
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True},
            )
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot_folder(name: str) -> Path:
    """An empty folder for one test module's screenshots."""
    folder = ARTIFACTS / "screenshots" / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def save_screenshot(driver: Any, path: Path, full_page: bool = True) -> Path:
    """The whole page (up to FULL_PAGE_LIMIT tall) as a PNG, or only what the window shows."""
    params: dict[str, Any] = {"format": "png"}
    if full_page:
        size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        params.update(
            captureBeyondViewport=True,
            clip={
                "x": 0,
                "y": 0,
                "width": size["width"],
                "height": min(size["height"], FULL_PAGE_LIMIT),
                "scale": 1,
            },
        )
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", params)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def console_errors(driver: Any, expected: tuple[str, ...] = ()) -> list[str]:
    """Errors the page logged to the console since the last call (failed loads, blocked
    resources, script errors), except those containing one of `expected`."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and not any(e in entry["message"] for e in expected)
    ]


def wait(condition: Callable[[], Any], seconds: float = 30, what: str = "condition") -> Any:
    """The first true value of `condition()`, polled until `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached in {seconds} s")


def follow(driver: Any, element: Any, seconds: float = 30) -> None:
    """Click a link or a submit button like a person, and wait for the page it leads to."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    old = driver.find_element(By.TAG_NAME, "html")
    # Scrolled first, as a person does: the theme scrolls smoothly, and selenium's own
    # scrolling would click where the element was before the scroll ended.
    driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", element
    )
    label = element.text or element.get_attribute("outerHTML")[:80]
    element.click()

    def arrived() -> bool:
        # While the old page is torn down chromedriver may answer with other errors
        # than "stale element"; any of them means it is going.
        try:
            old.tag_name  # noqa: B018 (raises once the old page is gone)
            return False
        except WebDriverException:
            pass
        try:
            return bool(driver.execute_script("return document.readyState") == "complete")
        except WebDriverException:
            return False

    wait(arrived, seconds, f"a new page after clicking {label!r}")
