"""The static search index in `output/search/`, kept up to date at the cost of what changed.

Files (all JSON, read by `static/search.js`):
- `index.json`: the number of posts, the number of shards and of topic-id bits;
- `i/<n>.json`: a shard, term -> [df, postings] for rare terms, [df, name, parts] for the
  others, whose postings are split by topic-id range into `p/<name>-<k>.json`: a query
  fetches one shard per word and the postings of its rarest terms, a small fraction;
- `d/<topic id>-<block>.json`: the text of 4 posts of a topic, for results and snippets.

Postings name posts by (topic id, post index). A topic's id is a hash of its slug (a
collision moves the later slug to the next free id), so adding a topic changes nothing
else. A term's postings in all topics are the concatenation of each topic's encoded
postings (see search.py), ordered by topic id, each after varint(id - previous id).

The build cache keeps each topic's postings (`search_topics`) and each term's postings
by topic (`search_terms`): a changed topic is tokenized again, and only the terms it held
or holds, their files and their shards are written again.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from . import pages, search
from .cache import BuildCache, PageRecord, dump
from .config import Config
from .output import Written, write_if_changed
from .parallel import fork_map, slices

FOLDER = "search/"
OWNER = "search:"
INLINE = 64
"""Terms in at most this many posts keep their postings in their shard."""
PART = 2048
"""Postings per part file, about: a term's postings split into a power of two of parts."""
SHARD_BYTES = 4000
"""What a shard should weigh: the index has as many shards as that makes, a power of two."""
BLOCK = 4
"""Posts per text file of a topic."""
GROUPS = 4
"""Passes over the topics when every term is indexed again: memory against time."""


def topic_ids(slugs: Iterable[str]) -> tuple[int, dict[str, int]]:
    """The id-space bits and the id of every topic: its slug's hash, or the next free id
    after it when the hash is taken (slugs claim ids in order of hash, then slug)."""
    ordered = sorted(slugs)
    bits = max(8, len(ordered).bit_length() + 4)
    wanted = sorted(
        (
            int.from_bytes(hashlib.blake2b(s.encode(), digest_size=4).digest(), "big")
            >> (32 - bits),
            s,
        )
        for s in ordered
    )
    taken: set[int] = set()
    ids = {}
    for slot, slug in wanted:
        while slot in taken:
            slot = (slot + 1) % (1 << bits)
        taken.add(slot)
        ids[slug] = slot
    return bits, ids


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def _record(file: str, data: bytes, owner: str) -> PageRecord:
    return PageRecord(file, hashlib.blake2b(data, digest_size=16).hexdigest(), None, OWNER + owner)


class _Writer:
    """Writes files of the index, counting what write_if_changed did."""

    def __init__(self, out: Path, scratch: Path | None) -> None:
        self.out, self.scratch = out, scratch
        self.records: dict[str, PageRecord] = {}
        self.counts = dict.fromkeys(Written, 0)

    def add(self, other: _Writer) -> None:
        self.records.update(other.records)
        for key, value in other.counts.items():
            self.counts[key] += value

    def write(self, file: str, data: bytes, owner: str) -> None:
        self.records[file] = _record(file, data, owner)
        self.counts[write_if_changed(self.out / file, data, self.scratch)] += 1


def _doc_files(topic: search.TopicIndex, tid: int) -> Iterable[tuple[str, bytes]]:
    for block in range(0, max(1, len(topic.posts)), BLOCK):
        yield (
            f"{FOLDER}d/{tid:x}-{block // BLOCK}.json",
            _json({"s": topic.slug, "t": topic.title, "p": topic.posts[block : block + BLOCK]}),
        )


def _index_topics(
    config: Config,
    cache: BuildCache,
    slugs: Sequence[str],
    ids: dict[str, int],
    out: Path,
    scratch: Path | None,
) -> _Writer:
    """Tokenize topics (from the cached parse and rendered Markdown), write their text
    files and keep their postings in the build cache."""
    writer = _Writer(out, scratch)
    rows = []
    for slug in slugs:
        topic = cache.topic(slug)[0]
        html = cache.html_of(p.digest for p in topic.posts)
        views = pages.post_views(topic, config.posts_per_page)
        indexed = search.index_topic(
            slug,
            topic.title,
            [(v.post.id, v.page, search.plain_text(html.get(v.post.digest, ""))) for v in views],
        )
        for file, data in _doc_files(indexed, ids[slug]):
            writer.write(file, data, f"t/{slug}")
        rows.append((slug, ids[slug], len(indexed.posts), dump(indexed.postings)))
    cache.store_search_topics(rows)
    return writer


def update(
    config: Config,
    cache: BuildCache,
    out: Path,
    scratch: Path | None,
    slugs: Sequence[str],
    changed: set[str],
    full: bool,
    previous: dict[str, PageRecord],
    jobs: int,
) -> _Writer:
    """Bring `output/search/` up to date with the topics `slugs`, of which `changed` were
    read again by this build (`full`: every one was, or the cache was lost)."""
    bits, ids = topic_ids(slugs)
    known = {} if full else cache.search_topic_ids()
    ours = {f: r for f, r in previous.items() if r.owner.startswith(OWNER)}
    # Without a record of this output's index (a first build, another --output), or with
    # a new id space, everything is written again.
    full = full or cache.meta("search_bits") != str(bits) or not ours
    if full:
        known, ours = {}, {}
        cache.clear_search()
    # Files someone deleted from the output are written again.
    present = _present(out)
    lost = {r.owner[len(OWNER) :] for f, r in ours.items() if f not in present}
    ours = {f: r for f, r in ours.items() if r.owner[len(OWNER) :] not in lost}
    redo = sorted(
        s for s in slugs if s not in known or s in changed or known[s] != ids[s] or f"t/{s}" in lost
    )
    gone = sorted(set(known) - set(slugs))
    before = cache.search_postings(redo + gone) if not full else {}
    writer = _Writer(out, scratch)
    parts = slices(redo, jobs, most=200) if len(redo) >= 64 else [redo]
    for done in fork_map(
        lambda part: _index_topics(config, cache, part, ids, out, scratch),
        parts,
        jobs,
        cache.reopen,
    ):
        writer.add(done)
    cache.forget_search_topics(gone)
    cache.set_meta("search_bits", str(bits))
    if full:
        for done in fork_map(
            lambda group: _rebuild_terms(cache, group, ids, bits, out, scratch),
            range(GROUPS),
            jobs,
            cache.reopen,
        ):
            writer.add(done)
        affected: Postings = {}
    else:
        after = cache.search_postings(redo)
        moved = {s for s in redo if s in known and known[s] != ids[s]}
        lost_terms = {o[2:] for o in lost if o.startswith("q/")}
        affected = _merge_terms(cache, before, after, set(redo) | set(gone), moved, lost_terms)
        touched = {t for s in [*redo, *gone] for t in (known.get(s), ids.get(s)) if t is not None}
        _write_terms(writer, cache, affected, ids, bits, ours, touched)
    redone = {f"t/{s}" for s in [*redo, *gone]} | {f"q/{t}" for t in affected}
    for file, record in ours.items():  # what this build did not touch stays as it is
        owner = record.owner[len(OWNER) :]
        if owner not in redone and owner not in ("", "i") and file not in writer.records:
            writer.records[file] = record
            writer.counts[Written.UNCHANGED] += 1
    shard_bits = _write_shards(writer, cache, affected, ours, full)
    writer.write(
        f"{FOLDER}index.json",
        _json(
            {
                "version": 1,
                "docs": cache.search_doc_count(),
                "shardBits": shard_bits,
                "topicBits": bits,
                "block": BLOCK,
            }
        ),
        "",
    )
    return writer


Postings = dict[str, dict[str, str]]
"""Term -> topic -> the term's encoded postings in the topic."""


def _rebuild_terms(
    cache: BuildCache, group: int, ids: dict[str, int], bits: int, out: Path, scratch: Path | None
) -> _Writer:
    """The postings of every term of a group (a share of all terms), from every topic's:
    a pass over the topics for each group, since one would hold the whole index."""
    writer = _Writer(out, scratch)
    merged: Postings = {}
    ours: dict[str, bool] = {}
    for slug, postings in cache.all_search_postings():
        for term, encoded in postings.items():
            mine = ours.get(term)
            if mine is None:
                mine = ours[term] = zlib.crc32(term.encode()) % GROUPS == group
            if mine:
                merged.setdefault(term, {})[slug] = encoded
    _store_terms(cache, merged)
    _write_terms(writer, cache, merged, ids, bits)
    return writer


def _merge_terms(
    cache: BuildCache,
    before: Postings,
    after: Postings,
    redone: set[str],
    moved: set[str],
    extra: set[str],
) -> Postings:
    """Update each term's postings by topic in the cache; returns those of the terms that
    changed, of the topics that moved (their order by topic id changed) and `extra`."""
    merged: Postings = {}
    affected = (
        extra
        | {t for s in moved for t in after[s]}
        | {
            t
            for p in [*before.values(), *after.values()]
            for t in p
            if any(before.get(s, {}).get(t) != after.get(s, {}).get(t) for s in redone)
        }
    )
    for term in sorted(affected):
        postings = merged[term] = cache.search_term(term)
        for slug in redone:
            postings.pop(slug, None)
            if term in after.get(slug, {}):
                postings[slug] = after[slug][term]
    _store_terms(cache, merged)
    return merged


def _store_terms(cache: BuildCache, merged: Postings) -> None:
    cache.store_search_terms(
        (t, _hash(t), pickle.dumps(p, pickle.HIGHEST_PROTOCOL)) for t, p in sorted(merged.items())
    )


def _hash(term: str) -> int:
    return search.fnv1a(term.removeprefix(search.TITLE))


def _present(out: Path) -> set[str]:
    """The index files in the output, listed folder by folder: cheaper than a stat each."""
    found = {f"{FOLDER}index.json"} if (out / FOLDER / "index.json").is_file() else set()
    for sub in ("d", "i", "p"):
        folder = out / FOLDER / sub
        if folder.is_dir():
            found.update(f"{FOLDER}{sub}/{name}" for name in os.listdir(folder))
    return found


def _write_terms(
    writer: _Writer,
    cache: BuildCache,
    affected: Postings,
    ids: dict[str, int],
    bits: int,
    ours: dict[str, PageRecord] | None = None,
    touched: set[int] | None = None,
) -> None:
    """The shard entry and part files of each changed term. With the ids of the topics
    that changed (`touched`), only the parts holding them are written again, unless the
    term's number of parts changed."""
    entries: list[tuple[str, str | None]] = []
    for term, postings in sorted(affected.items()):
        if not postings:
            entries.append((term, None))
            continue
        df = sum(map(search.count, postings.values()))
        ordered = sorted((ids[slug], encoded) for slug, encoded in postings.items())
        if df <= INLINE:
            entries.append((term, _json([df, _concat(ordered)]).decode()))
            continue
        part_bits = max(0, (-(-df // PART) - 1).bit_length())
        name = hashlib.blake2b(term.encode(), digest_size=8).hexdigest()
        split: list[list[tuple[int, str]]] = [[] for _ in range(1 << part_bits)]
        for tid, encoded in ordered:
            split[tid >> (bits - part_bits)].append((tid, encoded))
        prefix = f"{FOLDER}p/{name}-"
        # Part counts are powers of two: the last part, and not one more, means as many.
        same = (
            ours is not None
            and touched is not None
            and f"{prefix}{len(split) - 1}.json" in ours
            and f"{prefix}{len(split)}.json" not in ours
        )
        hit = {tid >> (bits - part_bits) for tid in touched or ()}
        for number, part in enumerate(split):
            file = f"{prefix}{number}.json"
            if same and number not in hit and ours is not None and file in ours:
                writer.records[file] = ours[file]
                writer.counts[Written.UNCHANGED] += 1
            else:
                writer.write(file, _json(_concat(part)), f"q/{term}")
        entries.append((term, _json([df, name, len(split)]).decode()))
    cache.store_search_entries(entries)


def _concat(ordered: list[tuple[int, str]]) -> str:
    out, previous, small = [], 0, search.SMALL
    for tid, encoded in ordered:
        gap = tid - previous
        out.append(small[gap] if gap < 1024 else search.varint(gap))
        out.append(encoded)
        previous = tid
    return "".join(out)


def _shard_bits(cache: BuildCache) -> int:
    return max(0, (cache.search_entry_bytes() // SHARD_BYTES).bit_length())


def _write_shards(
    writer: _Writer, cache: BuildCache, affected: Postings, ours: dict[str, PageRecord], full: bool
) -> int:
    """Write the shards that changed; returns the number of shards, as bits."""
    bits = _shard_bits(cache)
    everything = full or cache.meta("search_shard_bits") != str(bits)
    due = set(range(1 << bits)) if everything else {_hash(t) >> (32 - bits) for t in affected}
    for number in range(1 << bits):
        file = f"{FOLDER}i/{number:x}.json"
        if number in due or file not in ours:
            lo = number << (32 - bits)
            entries = cache.search_entries(lo, lo + (1 << (32 - bits)) - 1)
            data = (
                "{"
                + ",".join(json.dumps(t, ensure_ascii=False) + ":" + e for t, e in entries)
                + "}"
            ).encode()
            writer.write(file, data, "i")
        else:
            writer.records[file] = ours[file]
            writer.counts[Written.UNCHANGED] += 1
    cache.set_meta("search_shard_bits", str(bits))
    return bits
