"""Imported archives as a reader sees them, in headless Chromium: a patch mail shown as
mail and a Discourse post shown as Discourse showed it. The screenshots saved here
(test-artifacts/screenshots/imports/) are the ones the README's Importing section points
to."""

from __future__ import annotations

import shutil
from pathlib import Path

from selenium.webdriver.common.by import By

from browser import chromium, console_errors, save_screenshot, screenshot_folder
from conftest import SiteFactory
from servers import forumgen_serve

DATA = Path(__file__).parent / "data"


def test_a_patch_mail_and_a_discourse_post_as_they_render(
    site: SiteFactory, tmp_path: Path
) -> None:
    assert (
        site.cli("import", "mbox", str(DATA / "mail/git-list.mbox"), "--category", "help").exit_code
        == 0
    )
    export = tmp_path / "export"
    export.mkdir()
    shutil.copy(DATA / "discourse/handwritten-9001.json", export / "9001.json")
    imported = site.cli("import", "discourse", str(export), "--category", "general")
    assert imported.exit_code == 0, imported.output
    patch = next(
        p.parent.name
        for p in sorted(site.root.glob("content/topics/*/topic.md"))
        if "format: mail" in p.read_text("utf-8") and "diff --git" in p.read_text("utf-8")
    )
    shots = screenshot_folder("imports")
    with (
        forumgen_serve(site.root, log=tmp_path / "serve.log") as server,
        chromium(1280, 900) as driver,
    ):
        driver.get(f"http://127.0.0.1:{server.port}/t/{patch}/")
        diff = driver.find_element(By.CSS_SELECTOR, ".mail .highlight pre")
        lines = diff.text.splitlines()
        assert any(line.startswith("diff --git") for line in lines)
        assert any(line.startswith("@@ ") for line in lines)
        assert any(line.startswith("+") for line in lines)
        assert not driver.find_elements(By.CSS_SELECTOR, ".mail hr, .mail h1, .mail h2")
        assert console_errors(driver) == []
        save_screenshot(driver, shots / "patch-mail.png")

        driver.get(f"http://127.0.0.1:{server.port}/t/formatting-sampler/")
        body = driver.find_element(By.TAG_NAME, "main")
        assert body.find_elements(By.CSS_SELECTOR, "article table td")
        assert body.find_elements(By.CSS_SELECTOR, "article del")
        assert body.find_elements(By.CSS_SELECTOR, "article ul ul li")
        assert any(
            "wrote:" in q.text for q in body.find_elements(By.CSS_SELECTOR, "article blockquote")
        )
        assert "[quote=" not in body.text
        assert "\N{SMILING FACE WITH OPEN MOUTH AND SMILING EYES}" in body.text  # :smile:
        assert "upload://" not in driver.page_source
        assert console_errors(driver) == []
        save_screenshot(driver, shots / "discourse-post.png")
    assert (shots / "patch-mail.png").stat().st_size > 10_000
    assert (shots / "discourse-post.png").stat().st_size > 10_000
