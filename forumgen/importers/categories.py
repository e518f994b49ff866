"""Adding an imported forum's categories to content/categories.yaml: existing ones are
kept as they are (comments too); new ones are appended."""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..config import Config
from ..files import atomic_write
from ..model import is_safe_slug, slugify
from ..yamlfile import dump


def add_categories(config: Config, categories: list[dict[str, Any]]) -> dict[int, str]:
    """Discourse category id -> slug in the site, adding the categories it lacks."""
    path = config.content_dir / "categories.yaml"
    if path.is_file():
        text = path.read_text(encoding="utf-8")
    else:
        text = ""
    try:
        present = yaml.safe_load(text) or []
    except yaml.YAMLError:
        present = []
    known = {str(c.get("slug")) for c in present if isinstance(c, dict)}
    slugs: dict[int, str] = {}
    added = []
    for category in sorted(categories, key=lambda c: c.get("id") or 0):
        if not isinstance(category.get("id"), int):
            continue
        slug = str(category.get("slug") or "")
        if not is_safe_slug(slug):
            slug = slugify(str(category.get("name") or "")) or f"category-{category['id']}"
        slugs[category["id"]] = slug
        if slug in known:
            continue
        known.add(slug)
        description = category.get("description_text") or re.sub(
            r"<[^>]+>", "", str(category.get("description") or "")
        )
        added.append(
            {
                "slug": slug,
                "name": str(category.get("name") or slug),
                "description": " ".join(str(description).split()),
            }
        )
    if added:
        if not present or not isinstance(present, list):
            text = ""
        if text and not text.endswith("\n"):
            text += "\n"
        atomic_write(path, (text + dump(added)).encode("utf-8"))
    return slugs
