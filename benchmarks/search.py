"""What a search costs the reader: `python -m benchmarks.search --size M` builds the corpus
of that size (kept under benchmarks/.corpus/ as benchmarks.run keeps it, or --corpus DIR),
serves it with `forumgen serve` on 127.0.0.1 and, in headless Chromium, types phrases from
random posts into the search field of the home page: six English words, or eight Chinese
characters without spaces. For each query it prints whether the post was on the first
page of results, how many bytes of index the browser fetched (Resource Timing's
transferSize of every file under /search/), in how many requests, and what the gzip
twins of those files weigh (what a host with nginx's `gzip_static` sends, headers
aside), then the median and the largest of each, and of the requests of each kind of
file: index.json, shards (`i/`), prefix lists (`x/`), post lists (`p/`), texts (`d/`).
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from benchmarks.corpus import generate
from benchmarks.run import SIZES
from forumgen import markup, search
from forumgen.locks import preview_output

HERE = Path(__file__).resolve().parent


def phrase_of(site: Path, rng: random.Random, chinese: bool) -> tuple[str, str, str]:
    """(topic slug, post id, phrase) from a random post: six words of one sentence, or
    eight Chinese characters of one run."""
    topics = sorted(
        p for p in (site / "content/topics").iterdir() if p.name.startswith("话题") == chinese
    )
    while True:
        post = rng.choice(sorted(rng.choice(topics).glob("*.md")))
        body = post.read_text(encoding="utf-8").split("---\n", 2)[2]
        text = search.plain_text(markup.render(body, markup.COMMONMARK))  # the corpus default
        if chinese:
            runs = [r for r in re.findall(f"[{search.CJK}]+", text) if len(r) >= 10]
            if runs:
                run = rng.choice(runs)
                start = rng.randrange(len(run) - 8)
                return post.parent.name, post.stem, run[start : start + 8]
        else:
            words = re.findall(r"[a-z]+", text.split(".")[0].lower())
            if len(words) >= 6:
                start = rng.randrange(len(words) - 5)
                return post.parent.name, post.stem, " ".join(words[start : start + 6])


def submit_query(driver: Any, base: str, phrase: str, seconds: float = 60) -> None:
    """Type the phrase into the home page's search field, send it, and wait until the
    first page of results is shown."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.get(base)
    driver.find_element(By.ID, "site-search-q").send_keys(phrase + Keys.ENTER)
    deadline = time.monotonic() + seconds
    while not driver.execute_script(
        "var b = document.getElementById('search');return b && b.getAttribute('data-done')"
    ):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no results shown for {phrase!r}")
        time.sleep(0.05)


def index_bytes(driver: Any) -> int:
    """Bytes of index files the page fetched, headers included."""
    return int(
        driver.execute_script(
            "return performance.getEntriesByType('resource').filter(e => "
            "e.name.includes('/search/') && e.name.endsWith('.json'))"
            ".reduce((sum, e) => sum + e.transferSize, 0)"
        )
    )


KINDS = {"index.json": "index", "i": "shards", "x": "prefixes", "p": "post lists", "d": "texts"}


def kind_of(name: str) -> str:
    """The kind of an index file, from its path under search/: its folder, or index.json."""
    return KINDS[unquote(name.split("/search/", 1)[1]).split("/", 1)[0]]


def index_fetched(driver: Any, served: Path) -> tuple[int, int, dict[str, int]]:
    """(requests for index files, bytes of their gzip twins, requests by kind) of the page."""
    names = driver.execute_script(
        "return performance.getEntriesByType('resource').filter(e => "
        "e.name.includes('/search/') && e.name.endsWith('.json')).map(e => e.name)"
    )
    twins = [served / (unquote(n.split("/search/", 1)[1]) + ".gz") for n in names]
    kinds = dict.fromkeys(KINDS.values(), 0)
    for name in names:
        kinds[kind_of(name)] += 1
    return len(names), sum(t.stat().st_size for t in twins if t.exists()), kinds


def browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tempfile.mkdtemp(prefix='forumgen-bench-')}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(
        options=options, service=Service(shutil.which("chromedriver") or "chromedriver")
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="S")
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--queries", type=int, default=20, help="of each language")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    site = args.corpus or HERE / ".corpus" / args.size
    if not (site / "forumgen.yaml").exists():
        generate(site, SIZES[args.size])
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "forumgen",
            "serve",
            "--site",
            str(site),
            "--port",
            str(port),
            "--no-watch",
        ]
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        while True:
            try:
                urllib.request.urlopen(base + "search/index.json", timeout=5)
                break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit("forumgen serve stopped") from None
                time.sleep(0.5)
        served = preview_output(site) / "search"
        index = sum(p.stat().st_size for p in served.rglob("*.json"))
        files = sum(1 for _ in served.rglob("*.json"))
        twins = sum(p.stat().st_size for p in served.rglob("*.json.gz"))
        print(f"index: {index / 1e6:.1f} MB in {files} files; gzip twins {twins / 1e6:.1f} MB")
        from selenium.webdriver.common.by import By

        rng = random.Random(args.seed)
        driver = browser()
        spent: dict[bool, list[int]] = {False: [], True: []}
        requests: dict[bool, list[int]] = {False: [], True: []}
        zipped: dict[bool, list[int]] = {False: [], True: []}
        by_kind: dict[bool, dict[str, list[int]]] = {False: {}, True: {}}
        found = {False: 0, True: 0}
        try:
            for number in range(2 * args.queries):
                chinese = bool(number % 2)
                slug, post_id, phrase = phrase_of(site, rng, chinese)
                submit_query(driver, base, phrase)
                links = [
                    a.get_attribute("href")
                    for a in driver.find_elements(By.CSS_SELECTOR, ".search-results a")
                ]
                hit = any(
                    f"/t/{quote(slug)}/" in link and link.endswith(f"#p-{post_id}")
                    for link in links
                )
                found[chinese] += hit
                spent[chinese].append(index_bytes(driver))
                count, gz, kinds = index_fetched(driver, served)
                requests[chinese].append(count)
                zipped[chinese].append(gz)
                for kind, n in kinds.items():
                    by_kind[chinese].setdefault(kind, []).append(n)
                print(
                    f"{'found' if hit else 'MISSED':6} {spent[chinese][-1] / 1000:6.1f} KB  "
                    f"{count:3} requests  gzip {gz / 1000:5.1f} KB  {phrase}"
                )
        finally:
            driver.quit()
        for chinese, name in ((False, "English"), (True, "Chinese")):
            sizes = spent[chinese]
            print(
                f"{name}: {found[chinese]}/{len(sizes)} found on the first page; index "
                f"fetched per query: median {statistics.median(sizes) / 1000:.0f} KB, "
                f"largest {max(sizes) / 1000:.0f} KB; requests: median "
                f"{statistics.median(requests[chinese]):.0f}, largest {max(requests[chinese])}; "
                f"gzip twins: median {statistics.median(zipped[chinese]) / 1000:.0f} KB, "
                f"largest {max(zipped[chinese]) / 1000:.0f} KB"
            )
            print(
                f"{name} requests by kind, median (largest): "
                + ", ".join(
                    f"{kind} {statistics.median(counts):.0f} ({max(counts)})"
                    for kind, counts in by_kind[chinese].items()
                )
            )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
