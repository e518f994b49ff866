"""The static search index in `output/search/`, kept up to date at the cost of what changed.

Files (all JSON, read by `static/search.js`):
- `index.json`: the number of posts, the number of shards and of topic-id bits;
- `i/<n>.json`: a shard, term -> [df, postings] for rare terms, [df, name, parts] for the
  others, whose postings are split by topic-id range into `p/<name>-<k>.json`: a query
  fetches one shard per word and the postings of its rarest terms, a small fraction;
- `d/<topic id>-<block>.json`: the text of 8 posts of a topic, with their authors and
  dates, for results and snippets;
- `x/<prefix>.json`: the words starting with a prefix of 3 letters (the file is named by
  the hex of its UTF-8) and the number of posts holding each, in their text or their
  topic's title: a query's last word, maybe still being typed, is completed from them.

Postings name posts by (topic id, post index). A topic's id is a hash of its slug, of a
fixed width (a collision moves the later slug to the next free id), so adding a topic
changes nothing else. A term's postings in all topics are the concatenation of each
topic's encoded postings (see search.py), ordered by topic id, each after
varint(id - previous id).

The build cache keeps each topic's postings (`search_topics`) and each term's postings
by topic (`search_terms`): a changed topic is tokenized again, and only the terms it held
or holds, their files, their shards and their prefixes' word lists are written again.
What to redo is decided before the pages render (`Indexer.start`): a topic whose pages
render is tokenized right after them, in the same worker, from the topic and HTML loaded
for them (`Indexer.tokenize`); the index phase tokenizes the others and writes the terms
(`Indexer.finish`). A build told what changed reads the records of only the index files
it may write or keep, and leaves the others alone (see `Pass.previous`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from . import pages, search
from .cache import BuildCache
from .config import Config
from .i18n import Translator
from .model import Post, Topic
from .output import OutputDir, PageRecord, Tally
from .owner import Kind, Owner
from .parallel import fork_map, slices

FOLDER = "search/"
FORMAT = "4"
"""The version of the index's files: an index the build cache says was written in
another one is written whole (version 2 added the prefix lists, the posts' authors and
dates, and the gzip twins; version 3 made the parts of post lists 4 times larger;
version 4 keeps title lists of up to `INLINE_TITLES` posts in their shards, and 8 posts
in a text file rather than 4)."""
INDEX = Owner(Kind.SEARCH)
SHARDS = Owner(Kind.SEARCH_SHARDS)
OWNED = (Kind.SEARCH, Kind.SEARCH_SHARDS, Kind.SEARCH_TOPIC, Kind.SEARCH_TERM, Kind.SEARCH_PREFIX)
"""The owners of the index's files."""
INLINE = 64
"""Terms in at most this many posts keep their postings in their shard."""
INLINE_TITLES = 512
"""The same for a term's postings in titles (`^term`), which a query fetches for each of
its terms while the budget lasts, and which are short (a topic's title is one posting):
in their shard they cost no request of their own. At 1,000 topics an English query of
six words makes 42 requests, where it made 47, and fetches 138 KB, where it fetched 156:
the shards hold 61 KB more (293 KB, so 128 shards of 2.3 KB rather than 64 of 3.6)."""
PART = 8192
"""Postings per part file, about: a term's postings split into a power of two of parts.
A query fetches the rarest terms whole, a request per part: at 1,000 topics parts of
2,048 postings cost an English query 9 requests more (56, now 47) for the same bytes.
A part weighs up to 32 KB (20 KB and 11 KB gzipped, the largest at 1,000 topics), and a
reply rewrites the part holding its topic of each term it holds."""
SHARD_BYTES = 4000
"""What a shard should weigh: the index has as many shards as that makes, a power of two."""
BLOCK = 8
"""Posts per text file of a topic. The first page of results shows up to 3 posts of each
of 10 topics, a request per text file: at 1,000 topics an English query fetches 18 text
files of 8 posts where it fetched 21 of 4, for 17 KB more, which the title lists in the
shards saved (`INLINE_TITLES`); a reply rewrites one file of up to 8 posts."""
GROUPS = 16
"""Groups of terms, written one at a time when every term is indexed again: a worker
holds the postings of one group (2.4 MB at 1,000 topics, 9 MB with 4 groups). The build
cache keeps each topic's postings by group, so more groups cost no more reading."""
ID_BITS = 24
"""Bits of a topic id, whatever the number of topics. Wider ids cost bytes in every post
list (the gaps between the ids of the topics holding a term are larger); narrower ones
collide more, and a new topic whose hash is taken moves the later slug to the next free
id (that topic is indexed again). At 1,000 topics, 24 bits add 2.0 bytes per topic in a
post list to the 14 bits the count gave (20 bits: 1.2, 32 bits: 3.5); at 100,000 topics
a new topic collides with 0.6% odds."""
MOST_TOPICS = 1 << (ID_BITS - 2)
"""Past this many topics (a quarter of the id space) ids take 32 bits."""


def id_bits(topics: int) -> int:
    """The width of topic ids for a forum of `topics` topics."""
    return ID_BITS if topics <= MOST_TOPICS else 32


def topic_ids(slugs: Iterable[str]) -> tuple[int, dict[str, int]]:
    """The id-space bits and the id of every topic: its slug's hash, or the next free id
    after it when the hash is taken (slugs claim ids in order of hash, then slug).

    The width is fixed (`ID_BITS`), not drawn from the number of topics: a width that grew
    with the forum gave every topic a new id, and wrote the whole index again, whenever the
    count crossed a power of two. Only past `MOST_TOPICS` topics does it widen, once."""
    ordered = sorted(slugs)
    bits = id_bits(len(ordered))
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


def _record(file: str, data: bytes, owner: Owner) -> PageRecord:
    return PageRecord(file, hashlib.blake2b(data, digest_size=16).hexdigest(), None, owner)


Postings = dict[str, dict[str, str]]
"""Term -> topic -> the term's encoded postings in the topic."""


@dataclass(frozen=True)
class Change:
    """What changed since the index was last written."""

    published: Callable[[], Sequence[str]]
    """Every topic published, by slug: asked only when the topics may not be those the
    index was last written for (reading 100,000 slugs takes 0.04 s)."""
    changed: set[str]
    """The topics this build read again."""
    same: bool
    """The topics published are those the index was last written for: the build read
    again only topics that were published then and still are (a reply, an edit)."""
    full: bool
    """Every topic was read again, or the cache was lost: the index is written whole."""
    previous: dict[str, PageRecord]
    """What the last build wrote into the output, as far as the build read it."""
    partial: bool
    """The build planned only what changed: `previous` holds no record of the index,
    whose files are left alone but for those the index asks the cache for (see
    `Pass.previous`)."""

    @cached_property
    def slugs(self) -> Sequence[str]:
        return self.published()


TopicRow = tuple[str, int, int, list[dict[str, str]]]
"""What the build cache keeps of a tokenized topic: slug, topic id, number of posts, and
its encoded postings by term, split by group of terms (see `_group`)."""


@dataclass(frozen=True)
class Pass:
    """What a build redoes of the index, decided before the pages render: the topics
    rendered are tokenized then, in the process that renders them, from the topic and
    HTML it has loaded for its pages (`Indexer.tokenize`); the index phase does the rest
    (`Indexer.finish`)."""

    bits: int
    ids: Mapping[str, int]
    whole: bool
    """The index is written whole: every topic tokenized, every term written."""
    ours: dict[str, PageRecord]
    """The index files the last build wrote that are still there (none if whole); in a
    partial build, only those this build may write or keep, read as it learns which."""
    known: dict[str, int]
    """The topic ids the last build gave (none if whole): of every topic, or, while the
    topics are the same, of those read again."""
    lost: set[Owner]
    """Owners of index files someone deleted from the output."""
    redo: list[str]
    """Topics to tokenize again."""
    gone: list[str]
    """Topics no longer published."""
    before: Postings
    """The postings of `redo` and `gone` as the last build left them (none if whole)."""
    streamed: frozenset[str]
    """The topics of `redo` that the render phase tokenizes."""
    previous: dict[str, PageRecord] | None
    """In a partial build that updates the index, the build's records of what the last
    build wrote (`Change.previous`), to which the index adds those of the files it may
    write or keep (`Indexer._recall`), so that the build sweeps and counts them as the
    others it planned again; the rest of the index is left alone, unread, as the pages
    of the topics that did not change. None otherwise: every record is there."""


@dataclass(frozen=True)
class Indexer:
    """Writes `output/search/` from the topics in the build cache."""

    config: Config
    cache: BuildCache
    out: OutputDir
    jobs: int

    def start(self, change: Change, rendered: Collection[str]) -> Pass:
        """What to redo to bring `output/search/` up to date with the topics published, at
        the cost of the topics that changed and the terms they hold or held; the topics
        among `rendered` (those whose pages the build renders) are tokenized as they
        render. When the index is written whole, its build cache is emptied first."""
        cache = self.cache
        bits = self._bits(change)
        if change.partial:
            ours = cache.pages.owned([INDEX])
            change.previous.update(ours)
        else:
            ours = {f: r for f, r in change.previous.items() if r.owner.kind in OWNED}
        # Without a record of this output's index (a first build, another --output), or
        # with a new id space, everything is written again.
        whole = (
            change.full
            or cache.meta("search_bits") != str(bits)
            or cache.meta("search_format") != FORMAT
            or not ours
        )
        known: dict[str, int] = {}
        if whole:
            ours = {}
            cache.search.clear()
            if change.partial:  # every file the last build wrote is replaced or goes
                change.previous.update(cache.pages.owned([], kinds=[Kind.SEARCH.value]))
        elif change.same:
            known = cache.search.ids_of(change.changed)
        lost = set() if change.partial else self._lost(ours)
        ours = {f: r for f, r in ours.items() if r.owner not in lost}
        deleted = {o.key for o in lost if o.kind is Kind.SEARCH_TOPIC}
        ids: Mapping[str, int]
        redo: set[str]
        gone: list[str]
        if not whole and change.same and known.keys() == change.changed:
            # Ids hang on every slug (a taken hash moves the next topic on), so the index
            # holds those of every topic it indexed: while the topics are the same, so are
            # their ids, read whole only once a term needs them (after the pages render).
            ids, redo, gone = _KeptIds(cache, known), set(change.changed), []
        else:
            if not whole:
                known = cache.search.topic_ids()
            ids, redo, gone = self._ids(change, known, deleted)
        redone = sorted(redo)
        before = {} if whole else cache.search.postings(redone + gone)
        streamed = frozenset(redo).intersection(rendered)
        previous = change.previous if change.partial and not whole else None
        work = Pass(bits, ids, whole, ours, known, lost, redone, gone, before, streamed, previous)
        self._recall(work, [Owner(Kind.SEARCH_TOPIC, s) for s in [*redone, *gone]])
        return work

    def _bits(self, change: Change) -> int:
        """The id space's bits: as the index was last written, while its topics are."""
        kept = self.cache.meta("search_bits") or ""
        if change.same and kept.isdigit():
            return int(kept)
        return id_bits(len(change.slugs))

    @staticmethod
    def _ids(
        change: Change, known: dict[str, int], deleted: set[str]
    ) -> tuple[dict[str, int], set[str], list[str]]:
        """Every topic's id, the topics to index again (those read again, those whose
        index files someone deleted, and those new or whose id moved), and those gone,
        from the ids the index last gave (`known`)."""
        slugs = set(change.slugs)
        redo = slugs & (change.changed | deleted)
        if known.keys() == slugs:
            ids = known
        else:
            ids = topic_ids(change.slugs)[1]
            redo.update(s for s in change.slugs if known.get(s) != ids[s])
        return ids, redo, sorted(known.keys() - slugs)

    def _lost(self, ours: dict[str, PageRecord]) -> set[Owner]:
        """The owners of index files someone deleted from the output: their files are
        written again. Only a plain build looks, as for pages: listing the index's
        folders costs what the forum holds."""
        present = _present(self.out.root)
        return {r.owner for f, r in ours.items() if f not in present}

    def _recall(self, work: Pass, owners: Iterable[Owner] = (), files: Iterable[str] = ()) -> None:
        """In a partial build, read the records of the index files of `owners` and of
        `files` that the last build wrote: into `work.ours`, to keep them, and into the
        build's own, to sweep or count them (see `Pass.previous`)."""
        if work.previous is None:
            return
        found = self.cache.pages.owned(owners)
        found.update(self.cache.pages.of_files(files))
        work.ours.update(found)
        work.previous.update(found)

    def tokenize(
        self, work: Pass, slug: str, topic: Topic, html: Callable[[Post], str], done: Tally
    ) -> TopicRow:
        """Tokenize a topic (its posts' rendered HTML as plain text) and write its text
        files; returns what `store` keeps of it."""
        config = self.config
        views = pages.post_views(topic, config.posts_per_page)
        short_date = Translator(config.language).short_date
        indexed = search.index_topic(
            slug,
            topic.title,
            [
                search.Doc(
                    v.post.id,
                    v.page,
                    search.plain_text(html(v.post)),
                    v.post.author,
                    short_date(v.post.date.astimezone(config.tz)),
                )
                for v in views
            ],
        )
        tid = work.ids[slug]
        owner = Owner(Kind.SEARCH_TOPIC, slug)  # one for all its files' records
        for file, data in _doc_files(indexed, tid):
            self._write(done, file, data, owner)
        groups: list[dict[str, str]] = [{} for _ in range(GROUPS)]
        for term, encoded in indexed.postings.items():
            groups[_group(term)][term] = encoded
        return slug, tid, len(indexed.posts), groups

    def store(self, rows: Iterable[TopicRow]) -> None:
        """Keep tokenized topics in the build cache, for the terms and later builds."""
        self.cache.search.store_topics(rows)

    def finish(self, work: Pass) -> Tally:
        """Tokenize the topics to redo that did not render, then write the terms that
        changed (all of them when the index is written whole), the shards holding them
        and `index.json`."""
        cache = self.cache
        rest = [s for s in work.redo if s not in work.streamed]
        done = Tally()
        parts = slices(rest, self.jobs, most=200) if len(rest) >= 64 else [rest]
        for part in fork_map(
            lambda part: self._index_topics(work, part), parts, self.jobs, cache.reopen
        ):
            done.add(part)
        cache.search.forget_topics(work.gone)
        cache.set_meta("search_bits", str(work.bits))
        cache.set_meta("search_format", FORMAT)
        affected: Postings = {}
        if work.whole:
            for group in fork_map(
                lambda group: self._rebuild_terms(group, work.ids, work.bits),
                range(GROUPS),
                self.jobs,
                cache.reopen,
            ):
                done.add(group)
        else:
            terms = _Terms(work.ids, work.bits, work.ours, work.known, work.redo, work.gone)
            affected = self._merge_terms(work.before, terms, work.lost)
            self._recall(work, [Owner(Kind.SEARCH_TERM, t) for t in affected])
            self._write_terms(done, affected, terms)
        prefixes = self._write_prefixes(done, affected, work)
        self._recall(work, prefixes)
        self._keep_untouched(done, work.ours, [*work.redo, *work.gone], affected, prefixes)
        shard_bits = self._write_shards(done, affected, work)
        self._write(done, f"{FOLDER}index.json", self._head(shard_bits, work.bits), INDEX)
        return done

    def _write(self, done: Tally, file: str, data: bytes, owner: Owner) -> None:
        """Write an index file and its gzip twin (`file.gz`), for hosts that send a
        file's twin to browsers that take gzip (nginx's `gzip_static`): no time stamp
        and no name in it, so that the same bytes give the same twin."""
        done.write(self.out, file, data, _record(file, data, owner))
        twin = gzip.compress(data, compresslevel=9, mtime=0)
        done.write(self.out, file + GZ, twin, _record(file + GZ, twin, owner))

    def _head(self, shard_bits: int, bits: int) -> bytes:
        """index.json: what a query needs to find the rest."""
        return _json(
            {
                "version": 1,
                "docs": self.cache.search.doc_count(),
                "shardBits": shard_bits,
                "topicBits": bits,
                "block": BLOCK,
                "prefix": search.PREFIX,
                "text": search.TEXT_CHARS,
            }
        )

    def _keep_untouched(
        self,
        done: Tally,
        ours: dict[str, PageRecord],
        redone: list[str],
        affected: Postings,
        prefixes: set[Owner],
    ) -> None:
        """What this build did not touch stays as it is (shards and index.json are
        decided apart)."""
        touched = {Owner(Kind.SEARCH_TOPIC, s) for s in redone} | prefixes
        touched |= {Owner(Kind.SEARCH_TERM, t) for t in affected}
        for file, record in ours.items():
            owner = record.owner
            if owner not in touched and owner not in (INDEX, SHARDS) and file not in done.records:
                done.keep(file, record)

    def _index_topics(self, work: Pass, slugs: Sequence[str]) -> Tally:
        """Tokenize topics from the build cache (their cached parse and rendered
        Markdown): those whose pages did not render."""
        done = Tally()
        rows = []
        for slug in slugs:
            topic = self.cache.topics.topic(slug)[0]
            html = _html_of(self.cache.html.of(p.digest for p in topic.posts))
            rows.append(self.tokenize(work, slug, topic, html, done))
        self.store(rows)
        return done

    def _rebuild_terms(self, group: int, ids: Mapping[str, int], bits: int) -> Tally:
        """The postings of every term of a group (a share of all terms), from every topic's
        postings of that group: one group at a time, since all would hold the whole index."""
        done = Tally()
        merged: Postings = {}
        for slug, postings in self.cache.search.group_postings(group):
            for term, encoded in postings.items():
                held = merged.get(term)
                if held is None:
                    merged[term] = {slug: encoded}
                else:
                    held[slug] = encoded
        self._store_terms(merged)
        self._write_terms(done, merged, _Terms(ids, bits))
        return done

    def _merge_terms(self, before: Postings, terms: _Terms, lost: set[Owner]) -> Postings:
        """Update each term's postings by topic in the cache; returns those of the terms
        that changed, of the topics that moved (their order by topic id changed) and of
        the terms whose files someone deleted."""
        after = self.cache.search.postings(terms.redo)
        redone = {*terms.redo, *terms.gone}
        moved = {s for s in terms.redo if s in terms.known and terms.known[s] != terms.ids[s]}
        affected = {o.key for o in lost if o.kind is Kind.SEARCH_TERM}
        affected |= {t for s in moved for t in after[s]}
        for slug in redone:  # each topic's terms against its own postings, not every topic's
            was, now = before.get(slug, {}), after.get(slug, {})
            affected |= {t for t in was.keys() | now.keys() if was.get(t) != now.get(t)}
        merged: Postings = {}
        for term in sorted(affected):
            postings = merged[term] = self.cache.search.term(term)
            for slug in redone:
                postings.pop(slug, None)
                if term in after.get(slug, {}):
                    postings[slug] = after[slug][term]
        self._store_terms(merged)
        return merged

    def _store_terms(self, merged: Postings) -> None:
        self.cache.search.store_terms((t, _hash(t), p) for t, p in sorted(merged.items()))

    def _write_terms(self, done: Tally, affected: Postings, terms: _Terms) -> None:
        """The shard entry and part files of each changed term."""
        entries: list[tuple[str, str | None]] = []
        for term, postings in sorted(affected.items()):
            if not postings:
                entries.append((term, None))
                continue
            df = sum(map(search.count, postings.values()))
            ordered = sorted((terms.ids[slug], encoded) for slug, encoded in postings.items())
            if df <= (INLINE_TITLES if term.startswith(search.TITLE) else INLINE):
                entries.append((term, _json([df, _concat(ordered)]).decode()))
                continue
            name = hashlib.blake2b(term.encode(), digest_size=8).hexdigest()
            parts = self._write_parts(done, term, name, ordered, df, terms)
            entries.append((term, _json([df, name, parts]).decode()))
        self.cache.search.store_entries(entries)

    def _write_parts(
        self,
        done: Tally,
        term: str,
        name: str,
        ordered: list[tuple[int, str]],
        df: int,
        terms: _Terms,
    ) -> int:
        """Write the part files of a term; returns how many it has. When the index is
        updated (not written whole), only the parts holding the topics that changed are
        written again, unless the term's number of parts changed."""
        bits = terms.bits
        part_bits = max(0, (-(-df // PART) - 1).bit_length())
        split: list[list[tuple[int, str]]] = [[] for _ in range(1 << part_bits)]
        for tid, encoded in ordered:
            split[tid >> (bits - part_bits)].append((tid, encoded))
        prefix = f"{FOLDER}p/{name}-"
        ours = terms.ours
        # Part counts are powers of two: the last part, and not one more, means as many.
        same = (
            ours is not None
            and f"{prefix}{len(split) - 1}.json" in ours
            and f"{prefix}{len(split)}.json" not in ours
        )
        hit = {tid >> (bits - part_bits) for tid in terms.touched()}
        owner = Owner(Kind.SEARCH_TERM, term)
        for number, part in enumerate(split):
            file = f"{prefix}{number}.json"
            if same and number not in hit and ours is not None and file in ours:
                _keep(done, file, ours)
            else:
                self._write(done, file, _json(_concat(part)), owner)
        return len(split)

    def _write_prefixes(self, done: Tally, affected: Postings, work: Pass) -> set[Owner]:
        """Write the word lists of the prefixes of the terms that changed (of every term
        when the index is written whole, and those someone deleted); returns their owners.
        A prefix whose words are all gone has no file."""
        if work.whole:
            listed = _by_prefix(self.cache.search.words("", _LAST))
        else:
            due = {k for t in affected if (k := search.prefix_key(t)) is not None}
            due |= {o.key for o in work.lost if o.kind is Kind.SEARCH_PREFIX}
            held = self.cache.search.words
            listed = {}
            for key in due:
                titled = search.TITLE + key
                found = [*held(key, key + _LAST), *held(titled, titled + _LAST)]
                listed[key] = _by_prefix(found).get(key, {})
        for key, words in sorted(listed.items()):
            if words:  # else the file goes
                file = f"{FOLDER}x/{key.encode().hex()}.json"
                self._write(done, file, _json(words), Owner(Kind.SEARCH_PREFIX, key))
        return {Owner(Kind.SEARCH_PREFIX, key) for key in listed}

    def _write_shards(self, done: Tally, affected: Postings, work: Pass) -> int:
        """Write the shards that changed; returns the number of shards, as bits. A plain
        build writes too the shards it has no record of (deleted from the output); a
        partial one leaves alone, unread, those not due."""
        cache = self.cache
        bits = max(0, (cache.search.entry_bytes() // SHARD_BYTES).bit_length())
        everything = work.whole or cache.meta("search_shard_bits") != str(bits)
        if everything:
            due = set(range(1 << bits))
            self._recall(work, [SHARDS])  # those past the new number go
        else:
            due = {_hash(t) >> (32 - bits) for t in affected}
            self._recall(work, files=[_shard(n) + end for n in due for end in ("", GZ)])
        ours = work.ours
        for number in range(1 << bits):
            file = _shard(number)
            if number in due or (file not in ours and work.previous is None):
                lo = number << (32 - bits)
                entries = cache.search.entries(lo, lo + (1 << (32 - bits)) - 1)
                listed = ",".join(json.dumps(t, ensure_ascii=False) + ":" + e for t, e in entries)
                self._write(done, file, ("{" + listed + "}").encode(), SHARDS)
            elif file in ours:
                _keep(done, file, ours)
        cache.set_meta("search_shard_bits", str(bits))
        return bits


class _KeptIds(Mapping[str, int]):
    """Every topic's id as the index keeps them, for a build whose topics are those the
    index was last written for: those of the topics read again are at hand, the rest read
    only when first asked for."""

    def __init__(self, cache: BuildCache, first: dict[str, int]) -> None:
        self.cache = cache
        self.first = first
        self.every: dict[str, int] | None = None

    def _every(self) -> dict[str, int]:
        if self.every is None:
            self.every = self.cache.search.topic_ids()
        return self.every

    def __getitem__(self, slug: str) -> int:
        if slug in self.first:
            return self.first[slug]
        return self._every()[slug]

    def __iter__(self) -> Iterator[str]:
        return iter(self._every())

    def __len__(self) -> int:
        return len(self._every())


@dataclass(frozen=True)
class _Terms:
    """Where the postings of terms go: topic ids, and, when the index is updated rather
    than written whole, what the last build wrote and which topics changed."""

    ids: Mapping[str, int]
    bits: int
    ours: dict[str, PageRecord] | None = None
    """The index files the last build wrote; None when the index is written whole."""
    known: dict[str, int] = field(default_factory=dict)
    """The topic ids the last build gave."""
    redo: list[str] = field(default_factory=list)
    """Topics indexed again."""
    gone: list[str] = field(default_factory=list)
    """Topics no longer published."""

    def touched(self) -> set[int]:
        """The ids, old and new, of the topics that changed."""
        if self.ours is None:
            return set()
        return {
            t
            for s in [*self.redo, *self.gone]
            for t in (self.known.get(s), self.ids.get(s))
            if t is not None
        }


def _doc_files(topic: search.TopicIndex, tid: int) -> Iterable[tuple[str, bytes]]:
    for block in range(0, max(1, len(topic.posts)), BLOCK):
        yield (
            f"{FOLDER}d/{tid:x}-{block // BLOCK}.json",
            _json({"s": topic.slug, "t": topic.title, "p": topic.posts[block : block + BLOCK]}),
        )


GZ = ".gz"
_LAST = "\U0010ffff"
"""Past every term: [prefix, prefix + _LAST) holds the terms starting with the prefix."""


def _by_prefix(words: Iterable[tuple[str, int]]) -> dict[str, dict[str, int]]:
    """Prefix -> the rest of each word starting with it -> the posts holding the word in
    their text or (its opening post) in their topic's title."""
    listed: dict[str, dict[str, int]] = {}
    for term, df in words:
        key = search.prefix_key(term)
        if key is not None:
            rest = term.removeprefix(search.TITLE)[len(key) :]
            block = listed.setdefault(key, {})
            block[rest] = block.get(rest, 0) + df
    return listed


def _html_of(cached: dict[str, str]) -> Callable[[Post], str]:
    """The HTML of posts, by digest, from what the build cache holds."""
    return lambda post: cached.get(post.digest, "")


def _group(term: str) -> int:
    """The group of a term: the index writes every term one group at a time."""
    return zlib.crc32(term.encode()) % GROUPS


def _hash(term: str) -> int:
    return search.fnv1a(term.removeprefix(search.TITLE))


def _shard(number: int) -> str:
    return f"{FOLDER}i/{number:x}.json"


def _keep(done: Tally, file: str, ours: dict[str, PageRecord]) -> None:
    """Keep an index file as the last build wrote it, and its twin."""
    done.keep(file, ours[file])
    if file + GZ in ours:
        done.keep(file + GZ, ours[file + GZ])


def _present(out: Path) -> set[str]:
    """The index files in the output, listed folder by folder: cheaper than a stat each."""
    head = f"{FOLDER}index.json"
    found = {f for f in (head, head + GZ) if (out / f).is_file()}
    for sub in ("d", "i", "p", "x"):
        folder = out / FOLDER / sub
        if folder.is_dir():
            found.update(f"{FOLDER}{sub}/{name}" for name in os.listdir(folder))
    return found


def _concat(ordered: list[tuple[int, str]]) -> str:
    out, previous, small = [], 0, search.SMALL
    for tid, encoded in ordered:
        gap = tid - previous
        out.append(small[gap] if gap < 1024 else search.varint(gap))
        out.append(encoded)
        previous = tid
    return "".join(out)
