"""Hostile input for the injection tests, and the check that rendered output is inert.

The payloads are classic vectors (script in every casing, event handlers, script URLs in
every spelling, SVG and MathML, CSS, unclosed and malformed markup, entities, NUL and
invisible characters, template syntax) each placed the ways Markdown allows: as is, in a
quote, in a list, in a link and in a table.
"""

from __future__ import annotations

import re
from pathlib import Path

import lxml.etree
import lxml.html

VECTORS = [
    "<script>alert(1)</script>",
    "<SCRIPT>alert(1)</SCRIPT>",
    "<ScRiPt>alert(1)</sCrIpT>",
    "<script src=//evil.example/x.js></script>",
    "<script/xss>alert(1)</script>",
    "<<script>alert(1)//<</script>",
    "<script>alert(1)",
    "</script><script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<body onload=alert(1)>",
    '<div onmouseover="alert(1)">x</div>',
    '<a href="#" onclick="alert(1)">x</a>',
    "<input autofocus onfocus=alert(1)>",
    "<details open ontoggle=alert(1)>x</details>",
    "<video><source onerror=alert(1)></video>",
    "<marquee onstart=alert(1)>x</marquee>",
    "<iframe onload=alert(1)></iframe>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](javascript&#58;alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](java\tscript:alert(1))",
    "[x](<javascript:alert(1)>)",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html,<script>alert(1)</script>)",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href="&#x6A;avascript:alert(1)">x</a>',
    '<a href=" javascript:alert(1)">x</a>',
    '<a href="\x01javascript:alert(1)">x</a>',
    '<a href="java\x00script:alert(1)">x</a>',
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml,<svg onload=alert(1)>)",
    '<http://x" onmouseover="alert(1)>',
    "[x]: javascript:alert(1)\n\n[y][x]",
    '[x](javascript:alert(1) "title")',
    '[x](#" onclick="alert(1))',
    "<svg><script>alert(1)</script></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    '<math href="javascript:alert(1)">x</math>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<div style="width: expression(alert(1))">x</div>',
    "<style>@import 'javascript:alert(1)';</style>",
    "<link rel=stylesheet href=//evil.example/x.css>",
    '<img src="x\n onerror=alert(1)//',
    "<a href='x>y",
    "<!--<img src=x onerror=alert(1)>-->",
    "<![CDATA[<script>alert(1)</script>]]>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    "<textarea><script>alert(1)</script></textarea>",
    "<title><script>alert(1)</script></title>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
    "<scr\x00ipt>alert(1)</script>",
    "\u202e<script>alert(1)</script>",
    "[\u202eclick](javascript:alert(1))",
    "{{ 7*7 }}",
    "{% raw %}{{ config }}{% endraw %}",
    "{{ config }}",
    "{{ ''.__class__.__mro__ }}",
    "{% for x in range(3) %}x{% endfor %}",
    "${alert(1)}",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<form action="javascript:alert(1)"><button>x</button></form>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<button formaction="javascript:alert(1)">x</button>',
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n```",
    '<div markdown="1">[x](javascript:alert(1))</div>',
    "***[x](javascript:alert(1))***",
    "<a href=javascript:alert(1)>x</a>",
    '<a href="javascript&colon;alert(1)">x</a>',
    '<a href="javas&#99;ript:alert(1)">x</a>',
]

PLACES = ["{}", "> {}", "- {}", "[a link]({}) and {}", "| a |\n|---|\n| {} |"]


def payloads() -> list[str]:
    """Every vector in every place: well over the 150 the reliability promise names."""
    return [place.replace("{}", vector) for vector in VECTORS for place in PLACES]


# Names, titles and tags: they appear in titles, attributes, feeds and microdata.
LINE_PAYLOADS = [
    '"><script>alert(1)</script>',
    "' onmouseover='alert(1)",
    "</title><script>alert(1)",
    "<img src=x onerror=alert(1)>",
    "{{ 7*7 }}",
    "javascript:alert(1)",
    "Ann\u202eevil",
    '"onfocus="alert(1)" autofocus="',
    "]]></content><script>alert(1)</script>",
    "&lt;b&gt;x",
    "<svg onload=alert(1)>",
]

URL_ATTRIBUTES = {
    "href",
    "src",
    "action",
    "formaction",
    "data",
    "srcdoc",
    "background",
    "poster",
    "xlink:href",
    "{http://www.w3.org/1999/xlink}href",
    "content",
}
SAFE_SCHEMES = {"http", "https", "mailto"}
FORBIDDEN = {
    "script",
    "iframe",
    "object",
    "embed",
    "base",
    "style",
    "frame",
    "frameset",
    "applet",
    "svg",
    "math",
    "textarea",
    "input",
    "button",
    "video",
    "audio",
    "source",
    "img",
    "marquee",
    "title",
}
INVISIBLE = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2060\ufeff]")


def _theme_script(element: lxml.html.HtmlElement) -> bool:
    """The theme's search script: its own static file, loaded by a path, no inline code."""
    src = element.get("src", "")
    return (
        element.tag == "script"
        and not (element.text or "").strip()
        and src.endswith("/static/search.js")
        and ":" not in src
    )


def _violations(tree: lxml.html.HtmlElement, where: str, own: bool) -> list[str]:
    """What in a parsed page could run script or load something it should not. `own`:
    the page's chrome from the theme is judged too (its forms, links and inputs are
    allowed; anything inside a post body, title or name is not)."""
    found = []
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.lower()
        inside_post = any(a.get("class") == "post-body" for a in element.iterancestors())
        if tag in FORBIDDEN and (
            inside_post
            or tag
            in {
                "script",
                "iframe",
                "object",
                "embed",
                "base",
                "style",
                "frame",
                "applet",
                "svg",
                "math",
                "img",
            }
        ):
            if not (own and not inside_post and (tag == "title" or _theme_script(element))):
                found.append(f"{where}: <{tag}> element")
        for name, value in element.attrib.items():
            lowered = name.lower()
            if lowered.startswith("on"):
                found.append(f"{where}: {lowered} attribute on <{tag}>")
            if lowered == "style":
                found.append(f"{where}: style attribute on <{tag}>")
            if lowered in URL_ATTRIBUTES and not (
                tag == "meta" and lowered == "content" and element.get("http-equiv") is None
            ):
                target = INVISIBLE.sub("", value).lower()
                if tag == "meta":  # <meta http-equiv="refresh" content="0; url=...">
                    target = target.split("url=", 1)[-1]
                scheme = re.match(r"([a-z][a-z0-9+.-]*):", target)
                if scheme and scheme.group(1) not in SAFE_SCHEMES:
                    found.append(f"{where}: {lowered}={value!r} on <{tag}>")
    return found


def inert_fragment(fragment: str, where: str) -> list[str]:
    """Every violation in the HTML of one post body."""
    page = lxml.html.fromstring(f'<div><div class="post-body">{fragment}</div></div>')
    return _violations(page, where, own=False)


def inert_output(output: Path) -> list[str]:
    """Every violation in every page and feed of a built site (none, if all is well)."""
    found: list[str] = []
    for page in sorted(output.rglob("*.html")):
        found += _violations(
            lxml.html.fromstring(page.read_bytes()), page.relative_to(output).as_posix(), own=True
        )
    for feed in sorted(output.rglob("*.xml")):
        tree = lxml.etree.parse(str(feed))
        for content in tree.iter("{http://www.w3.org/2005/Atom}content"):
            if content.text:
                fragment = lxml.html.fragment_fromstring(content.text, create_parent="div")
                fragment.set("class", "post-body")
                wrapper = lxml.html.fromstring("<div></div>")
                wrapper.append(fragment)
                found += _violations(wrapper, feed.relative_to(output).as_posix(), own=False)
    return found
