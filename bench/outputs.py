"""What each tool wrote, read back as hits, and checked against what the sandbox serves.

A hit is (search_id, patent_id, url, score): the sandbox's data set is deterministic, so
the hits every search should yield are computed here from it (ranks 1..1,100), and a
tool's output is a multiset of hits compared with that. The harvester keeps one record
per (search_id, patent_id) by design; a peer keeps every hit it was served.
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench.jobs import SearchSpec
from harvester.paging import reachable
from harvester.sandbox.dataset import Dataset

__all__ = [
    "Check",
    "Hit",
    "check",
    "expected_hits",
    "read_dlt",
    "read_ours",
    "read_scrapy",
]

Hit = tuple[str, str, str, float]


@dataclass(slots=True, frozen=True)
class Check:
    """A tool's output against the sandbox's data."""

    records: int  #: lines written
    duplicates: int  #: records whose (search_id, patent_id) was already written
    lost: int  #: hits served by the sandbox but missing from the output
    repeated: int  #: hits written more often than the sandbox serves them
    broken: int  #: lines that are not JSON (a write cut short by a kill)


def expected_hits(searches: Sequence[SearchSpec], seed: int = 0) -> Counter[Hit]:
    """Every reachable hit of every search, as the sandbox with `seed` serves them."""
    data = Dataset(seed)
    hits: Counter[Hit] = Counter()
    for spec in searches:
        for rank in range(reachable(spec.total, 100)):
            hit = data.hit(spec.search_id, rank)
            hits[(spec.search_id, hit.patent.patent_id, hit.url, hit.score)] += 1
    return hits


def _lines(paths: Iterable[Path]) -> Iterator[bytes]:
    for path in sorted(paths):
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as file:
            yield from (line for line in file if line.strip())


def _hits(lines: Iterable[bytes], id_key: str) -> tuple[list[Hit], int]:
    hits: list[Hit] = []
    broken = 0
    for line in lines:
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            broken += 1
            continue
        hits.append((row[id_key], row["patent_id"], row["url"], row["score"]))
    return hits, broken


def read_ours(out_dir: Path) -> tuple[list[Hit], int]:
    """The harvester's shards (gzip NDJSON)."""
    return _hits(_lines(out_dir.glob("part-*.jsonl.gz")), "search_id")


def read_scrapy(feed: Path) -> tuple[list[Hit], int]:
    """Scrapy's JSON lines feed."""
    return _hits(_lines([feed] if feed.exists() else []), "search_id")


def read_dlt(dest: Path) -> tuple[list[Hit], int]:
    """dlt's filesystem destination: <dataset>/results/*.jsonl[.gz]; the id is `_searches_id`."""
    files = [p for p in dest.glob("*/results/*") if ".jsonl" in p.name]
    return _hits(_lines(files), "_searches_id")


def check(hits: Sequence[Hit], broken: int, expected: Counter[Hit], *, deduped: bool) -> Check:
    """Compare an output with the sandbox's data.

    `deduped`: the tool keeps one record per (search_id, patent_id) (the harvester), so a
    patent counts as lost only when no copy of it is there.
    """
    keys = Counter((h[0], h[1]) for h in hits)
    duplicates = sum(n - 1 for n in keys.values())
    if deduped:
        wanted = {(h[0], h[1]) for h in expected}
        lost = len(wanted - keys.keys())
        return Check(len(hits), duplicates, lost, duplicates, broken)
    got = Counter(hits)
    lost = sum((expected - got).values())
    repeated = sum((got - expected).values())
    return Check(len(hits), duplicates, lost, repeated, broken)
