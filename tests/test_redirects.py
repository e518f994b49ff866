"""Old URLs keep working: redirect pages for a topic's and a reply's redirect_from, and
the nginx map and Netlify _redirects written beside them."""

from __future__ import annotations

import re

from conftest import SiteFactory


def refresh_target(site: SiteFactory, path: str) -> str:
    page = site.page(path)
    content = page.xpath("//meta[@http-equiv='refresh']/@content")[0]
    return str(content.split("url=", 1)[1])


def test_a_replys_redirect_lands_on_its_permalink_on_the_right_page(site: SiteFactory) -> None:
    site.save_config(posts_per_page=2)
    site.topic("moved", redirect_from=["/t/old-slug/12", "/t/12"])
    for n in range(3):
        site.reply(
            "moved",
            f"r{n}",
            date=f"2024-01-0{n + 2}T10:00:00Z",
            redirect_from=[f"/t/old-slug/12/{n + 2}"],
        )
    site.build()
    assert refresh_target(site, "t/12/") == "/t/moved/"
    assert refresh_target(site, "t/old-slug/12/2/") == "/t/moved/#p-r0"
    # r2 is the fourth post: page 2 with two posts a page.
    assert refresh_target(site, "t/old-slug/12/4/") == "/t/moved/page/2/#p-r2"
    assert site.page("t/old-slug/12/4/").xpath("//link[@rel='canonical']/@href") == [
        "http://forum.test/t/moved/page/2/#p-r2"
    ]
    assert site.page("t/moved/page/2/").xpath("//*[@id='p-r2']")


def test_a_hidden_replys_old_url_leads_to_its_topic(site: SiteFactory) -> None:
    site.topic("moved", redirect_from=["/t/old-slug/12"])
    site.reply("moved", "gone", hidden=True, redirect_from=["/t/old-slug/12/2"])
    site.build()
    assert refresh_target(site, "t/old-slug/12/2/") == "/t/moved/"
    assert 'id="p-gone"' not in (site.output / "t/moved/index.html").read_text()


def test_redirect_maps_list_every_old_path_under_the_base_path(site: SiteFactory) -> None:
    site.save_config(base_url="http://forum.test/archive/")
    site.topic("部署", redirect_from=["/t/bu-shu/7"])
    site.reply("部署", "r1", redirect_from=["/t/bu-shu/7/2"])
    site.build()
    nginx = (site.output / "redirects.nginx.map").read_text(encoding="utf-8")
    assert re.findall(r'^    "(.*)" "(.*)";$', nginx, re.M) == [
        ("/archive/t/bu-shu/7", "/archive/t/%E9%83%A8%E7%BD%B2/"),
        ("/archive/t/bu-shu/7/", "/archive/t/%E9%83%A8%E7%BD%B2/"),
        ("/archive/t/bu-shu/7/2", "/archive/t/%E9%83%A8%E7%BD%B2/#p-r1"),
        ("/archive/t/bu-shu/7/2/", "/archive/t/%E9%83%A8%E7%BD%B2/#p-r1"),
    ]
    assert "map $uri $forumgen_redirect {" in nginx
    netlify = (site.output / "_redirects").read_text(encoding="utf-8").splitlines()
    assert netlify[0] == "/archive/t/bu-shu/7 /archive/t/%E9%83%A8%E7%BD%B2/ 301!"
    assert len(netlify) == 4


def test_maps_exist_without_redirects_and_follow_changes(site: SiteFactory) -> None:
    site.topic("plain")
    site.build()
    assert (
        (site.output / "redirects.nginx.map")
        .read_text()
        .endswith("map $uri $forumgen_redirect {\n}\n")
    )
    assert (site.output / "_redirects").read_text() == ""
    site.topic("plain", redirect_from=["/old.html"])
    site.build()
    assert (site.output / "_redirects").read_text() == "/old.html /t/plain/ 301!\n"
    assert (site.output / "old.html").is_file()


def test_clashing_redirects_are_problems_at_their_line(site: SiteFactory) -> None:
    site.topic("one", redirect_from=["/t/9"])
    site.topic("two", redirect_from=["/t/9/", "/t/one/", "/feed.xml"])
    for command in ("check", "build"):
        result = site.cli(command)
        assert result.exit_code == 1
        assert "content/topics/two/topic.md:6: redirect_from '" in result.output
        assert "is also claimed by topic 'one'" in result.output
        assert result.output.count("is the address of a page of this site") == 2
    assert not site.output.exists()


def test_redirects_no_file_can_hold_are_problems_not_crashes(site: SiteFactory) -> None:
    """Old URLs come from imported forums: one too long for a file name, one with a NUL,
    one through a file of the site (feed.xml/x) or onto one (index.html, the home page;
    search/index.json, the search index) used to stop the build, or overwrite a page,
    however --keep-going. They are problems at their topic's line, found by `check`."""
    site.topic("hello")
    bad = {
        "long": "/" + "a" * 256,
        "nul": "/a\x00b/",
        "through": "/feed.xml/x",
        "home": "/index.html",
        "index": "/search/index.json",
    }
    for slug, old in bad.items():
        site.topic(slug, redirect_from=[old])
    result = site.cli("check")
    assert result.exit_code == 1
    assert all(
        f"content/topics/{slug}/topic.md:6: redirect_from " in result.output for slug in bad
    ), result.output
    kept = site.cli("build", "--keep-going")
    assert kept.exit_code == 1 and "left out, the rest was built" in kept.output, kept.output
    assert (site.output / "t/hello/index.html").is_file()
    assert not any((site.output / "t" / slug).exists() for slug in bad)
    assert "Hello" in (site.output / "index.html").read_text()


def test_unwritable_paths_stay_out_of_the_nginx_map(site: SiteFactory) -> None:
    site.topic("odd", redirect_from=["/a b/", "/cost$5/", '/quote"d/'])
    site.build()
    nginx = (site.output / "redirects.nginx.map").read_text()
    assert "a b" not in nginx and "cost" not in nginx
    assert r'"/quote\"d/" "/t/odd/";' in nginx
    assert "/a%20b/ /t/odd/ 301!" in (site.output / "_redirects").read_text()


def test_redirects_may_not_take_the_indexes(site: SiteFactory) -> None:
    """`/tags/`, `/categories/` and `/u/` are the indexes of tags, categories and
    authors, `/tag/` and `/c/` lead to them: no old URL may take their place."""
    olds = ["/tags/", "/categories", "/u/", "/tag", "/c/"]
    site.topic("old", redirect_from=olds)
    result = site.cli("check")
    assert result.exit_code == 1
    assert result.output.count("is the address of a page of this site") == len(olds), result.output
