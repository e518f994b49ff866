"""A deterministic forum corpus in the SPEC format, for benchmarks and scale tests.

`python -m benchmarks.corpus DIR --topics 1000` writes a site of 1,000 topics with
heavy-tailed thread lengths (most threads short, a few very long), Markdown with code,
quotes and lists, and some Chinese. The same arguments always give the same files.
"""

from __future__ import annotations

import argparse
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

CATEGORIES = [
    ("general", "General"),
    ("servers", "Servers"),
    ("flask", "Flask"),
    ("templates", "Templates"),
    ("deploy", "Deployment"),
    ("中文", "中文讨论"),
]
WORDS = (
    "worker timeout nginx gunicorn request response cache header proxy socket thread "
    "process template filter route blueprint session cookie database query index "
    "deploy release config restart memory latency throughput upstream buffer"
).split()
CHINESE = (
    "我们 在 生产 环境 里 用 gunicorn 部署 了 这个 应用 但是 请求 经常 超时 "
    "后来 发现 是 nginx 的 缓冲 配置 问题 调整 以后 就 好 了 谢谢 大家"
).split()
CODE = [
    "```python\n@app.route('/health')\ndef health():\n    return {'ok': True}\n```",
    "```nginx\nlocation / {\n    proxy_pass http://127.0.0.1:8000;\n"
    "    proxy_read_timeout 60s;\n}\n```",
    "```ini\n[Service]\nExecStart=/srv/app/venv/bin/gunicorn -w 4 app:app\nRestart=on-failure\n```",
]


def sentence(rng: random.Random, chinese: bool = False) -> str:
    if chinese:
        return "".join(rng.choice(CHINESE) for _ in range(rng.randint(8, 20))) + "。"
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 16))]
    return " ".join(words).capitalize() + "."


def body(rng: random.Random, chinese: bool) -> str:
    parts = []
    if rng.random() < 0.3:
        parts.append("> " + sentence(rng, chinese))
    parts.append(" ".join(sentence(rng, chinese) for _ in range(rng.randint(1, 5))))
    if rng.random() < 0.25:
        parts.append(rng.choice(CODE))
    if rng.random() < 0.15:
        parts.append("\n".join(f"- {sentence(rng, chinese)}" for _ in range(3)))
    if rng.random() < 0.1:
        parts.append("See https://docs.gunicorn.org/en/stable/settings.html for details.")
    return "\n\n".join(parts) + "\n"


def post_file(front: dict[str, object], text: str) -> str:
    dumped = yaml.safe_dump(front, allow_unicode=True, sort_keys=False)
    return f"---\n{dumped}---\n{text}"


def thread_length(rng: random.Random) -> int:
    """Heavy-tailed: median around 5 posts, a few threads in the hundreds."""
    return min(600, max(1, int(rng.paretovariate(1.2) * 3)))


def generate(root: Path, topics: int, seed: int = 1) -> int:
    """Write the corpus; returns the number of posts."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "forumgen.yaml").write_text(
        yaml.safe_dump({"title": "Benchmark forum", "base_url": "http://127.0.0.1:8000/"})
    )
    content = root / "content"
    (content / "topics").mkdir(parents=True, exist_ok=True)
    (content / "categories.yaml").write_text(
        yaml.safe_dump([{"slug": s, "name": n} for s, n in CATEGORIES], allow_unicode=True),
        encoding="utf-8",
    )
    authors = [f"Member {i}" for i in range(max(20, topics // 5))] + ["李明", "王芳", "Chen Wei"]
    start = datetime(2015, 1, 1, tzinfo=timezone.utc)
    posts = 0
    for n in range(topics):
        category = rng.choice(CATEGORIES)[0]
        chinese = category == "中文"
        slug = f"topic-{n}" if not chinese else f"话题-{n}"
        when = start + timedelta(minutes=rng.randint(0, 10 * 365 * 24 * 60))
        folder = content / "topics" / slug
        folder.mkdir(exist_ok=True)
        title = sentence(rng, chinese).rstrip(".。")[:80]
        front: dict[str, object] = {
            "title": title,
            "author": rng.choice(authors),
            "date": when.isoformat(),
            "category": category,
            "tags": sorted({rng.choice(WORDS) for _ in range(rng.randint(0, 3))}),
        }
        (folder / "topic.md").write_text(post_file(front, body(rng, chinese)), encoding="utf-8")
        ids = ["topic"]
        for _ in range(thread_length(rng) - 1):
            when += timedelta(minutes=rng.randint(1, 3000))
            post_id = f"{when:%Y%m%dT%H%M%SZ}-{rng.getrandbits(24):06x}"
            reply: dict[str, object] = {"author": rng.choice(authors), "date": when.isoformat()}
            if rng.random() < 0.3:
                reply["reply_to"] = rng.choice(ids)
            (folder / f"{post_id}.md").write_text(
                post_file(reply, body(rng, chinese)), encoding="utf-8"
            )
            ids.append(post_id)
        posts += len(ids)
    return posts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    posts = generate(args.directory, args.topics, args.seed)
    print(f"{args.topics} topics, {posts} posts in {args.directory}")


if __name__ == "__main__":
    main()
