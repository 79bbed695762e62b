"""Each search's hits, invented lazily and deterministically from (seed, search_id).

A search has a total (`SBX-<total>-...` ids choose theirs), a dominant LOC class, and a
score curve; the hit at each rank is drawn from the shared `Catalog`, and about 2% of
ranks repeat an earlier rank's patent with another image (the harvester must dedupe).
Unfiltered pages by similarity are computed rank by rank; filtered or date-sorted
results are computed once per (search, filters, sort), kept to the reachable 1,100 ranks
in a bounded cache, so memory stays flat however many searches are asked for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harvester.sandbox.catalog import LOCS, POOL_PER_LOC, Catalog, Patent
from harvester.sandbox.loc import loc_matches
from harvester.sandbox.lru import BoundedLRU
from harvester.sandbox.params import LIMIT_MAX, OFFSET_MAX
from harvester.sandbox.query import Filters, Query
from harvester.sandbox.seeded import draw, uniform

__all__ = ["MAX_TOTAL", "REACHABLE", "Dataset", "Hit", "matches"]

REACHABLE = OFFSET_MAX + LIMIT_MAX  # ranks any page can reach
MAX_TOTAL = 100_000  # SBX totals above this are cut to it (a filtered query scans them all)
HOT_PER_LOC = 5_000  # popular patents per LOC class: they recur across searches
_SBX = re.compile(r"SBX-(\d{1,9})-.*", re.DOTALL)
_DUPLICATE = int(0.018 * 0x10000)  # share of ranks that repeat an earlier patent
_DOMINANT = int(0.7 * 0x10000)  # share of hits in the search's own LOC class
_HOT = int(0.2 * 0x100)  # share of hits from the popular patents
_IMAGE_HOST = "https://img.sandbox.patsnap.invalid"  # .invalid never resolves


@dataclass(slots=True, frozen=True)
class Hit:
    """A patent at a rank of a search; `message()` is what the API answers for it."""

    rank: int  #: 0-based position in the unfiltered, similarity-ordered result
    patent: Patent
    score: float
    url: str

    def message(self) -> dict[str, object]:
        """The API page's PatentMessage, keys in the page's order."""
        return {
            "url": self.url,
            "score": self.score,
            "title": self.patent.title,
            "patent_id": self.patent.patent_id,
            "patent_pn": self.patent.patent_pn,
        }


@dataclass(slots=True, frozen=True)
class _Search:
    total: int
    dominant: int  #: index into LOCS
    top: float  #: score at rank 0
    bottom: float  #: score at the last rank


@dataclass(slots=True, frozen=True)
class _Ordered:
    total: int  #: hits that pass the filters
    ranks: tuple[int, ...]  #: their unfiltered ranks in answer order, the first REACHABLE


def matches(filters: Filters, patent: Patent) -> bool:
    """Whether `patent` passes every filter that is set."""
    f = filters
    return (
        (f.country is None or patent.country in f.country)
        and (f.legal_status is None or patent.legal_status in f.legal_status)
        and (f.simple_legal_status is None or patent.simple_legal_status in f.simple_legal_status)
        and (f.loc is None or loc_matches(f.loc, patent.loc))
        and (f.apply_start is None or patent.apply_date >= f.apply_start)
        and (f.apply_end is None or patent.apply_date <= f.apply_end)
        and (f.public_start is None or patent.public_date >= f.public_start)
        and (f.public_end is None or patent.public_date <= f.public_end)
        and (f.assignees is None or f.assignees in patent.assignee.lower())
        and (f.main_field is None or all(t in patent.searchable_text for t in f.main_field))
    )


def _sort_key(field: str) -> str:
    return {"APD": "apply_date", "PBD": "public_date", "ISD": "issue_date"}[field]


class Dataset:
    """All searches of one seed. Pure apart from its caches; not shared between sandboxes."""

    __slots__ = ("_catalog", "_patents", "_results", "_seed")

    def __init__(self, seed: int, *, patent_cache: int = 30_000, result_cache: int = 512) -> None:
        self._seed = seed
        self._catalog = Catalog(seed)
        self._patents: BoundedLRU[int, Patent] = BoundedLRU(patent_cache)
        self._results: BoundedLRU[tuple[str, Filters, str | None, str], _Ordered]
        self._results = BoundedLRU(result_cache)

    def total(self, search_id: str) -> int:
        """Hits of the unfiltered search."""
        return self._search(search_id).total

    def page(self, query: Query) -> tuple[list[Hit], int]:
        """The hits `query` answers, in order, and total_search_result_count."""
        search = self._search(query.search_id)
        if not query.filters.active and query.field is None:
            ranks: range | tuple[int, ...] = range(search.total)
            total = search.total
        else:
            ordered = self._ordered(query, search)
            ranks, total = ordered.ranks, ordered.total
        chosen = ranks[query.offset : query.offset + query.limit]
        return [self._hit(query.search_id, rank, search) for rank in chosen], total

    def hit(self, search_id: str, rank: int) -> Hit:
        """The hit at 0-based unfiltered `rank` of the search."""
        return self._hit(search_id, rank, self._search(search_id))

    def _hit(self, search_id: str, rank: int, search: _Search) -> Hit:
        index, image = self._pool_index(search_id, rank, search.dominant)
        patent = self._patent(index)
        span = max(search.total - 1, 1)
        score = round(search.top - (search.top - search.bottom) * (rank / span) ** 0.6, 4)
        url = f"{_IMAGE_HOST}/design/{patent.patent_pn}/{image}.jpg?w=680&h=434"
        return Hit(rank=rank, patent=patent, score=score, url=url)

    def _search(self, search_id: str) -> _Search:
        h = draw(self._seed, "search", search_id)
        sbx = _SBX.fullmatch(search_id)
        if sbx:
            total = min(int(sbx.group(1)), MAX_TOTAL)
        else:
            total = _total_from(uniform(self._seed, "total", search_id), h)
        top = 0.90 + (h & 0xFF) / 255 * 0.095
        bottom = 0.15 + ((h >> 8) & 0xFF) / 255 * 0.30
        return _Search(total=total, dominant=(h >> 16) % len(LOCS), top=top, bottom=bottom)

    def _pool_index(self, search_id: str, rank: int, dominant: int) -> tuple[int, int]:
        """(pool index, image number) at `rank`; a repeat points back to an earlier rank."""
        image = 0
        while True:
            h = draw(self._seed, "hit", search_id, rank)
            if rank > 0 and h & 0xFFFF < _DUPLICATE:
                image += 1 + (h >> 16) % 3
                rank -= 1 + (h >> 24) % min(rank, 50)
                continue
            loc = dominant if (h >> 32) & 0xFFFF < _DOMINANT else (h >> 48) % len(LOCS)
            per_loc = HOT_PER_LOC if (h >> 56) & 0xFF < _HOT else POOL_PER_LOC
            return ((h >> 64) % per_loc) * len(LOCS) + loc, image

    def _patent(self, index: int) -> Patent:
        patent = self._patents.get(index)
        if patent is None:
            patent = self._catalog.patent(index)
            self._patents.put(index, patent)
        return patent

    def _ordered(self, query: Query, search: _Search) -> _Ordered:
        key = (query.search_id, query.filters, query.field, query.order)
        cached = self._results.get(key)
        if cached is not None:
            return cached
        kept: list[tuple[int, Patent]] = []
        for rank in range(search.total):
            index, _ = self._pool_index(query.search_id, rank, search.dominant)
            patent = self._patent(index)
            if matches(query.filters, patent):
                kept.append((rank, patent))
        if query.field is not None:
            kept = _by_date(kept, _sort_key(query.field), descending=query.order == "desc")
        ordered = _Ordered(total=len(kept), ranks=tuple(rank for rank, _ in kept[:REACHABLE]))
        self._results.put(key, ordered)
        return ordered


def _by_date(
    kept: list[tuple[int, Patent]], attribute: str, *, descending: bool
) -> list[tuple[int, Patent]]:
    """Sorted by a hidden date, ties by similarity rank; hits without the date go last."""
    dated = [item for item in kept if getattr(item[1], attribute) is not None]
    undated = [item for item in kept if getattr(item[1], attribute) is None]
    # sort(reverse=True) keeps equal keys in their original (rank) order: stable ties
    dated.sort(key=lambda item: str(getattr(item[1], attribute)), reverse=descending)
    return dated + undated


def _total_from(u: float, h: int) -> int:
    """About 10% empty, 30% under 100, 40% 100..1100, 20% over 1100 (up to 5000)."""
    if u < 0.10:
        return 0
    if u < 0.40:
        return 1 + (h >> 32) % 99
    if u < 0.80:
        return 100 + (h >> 32) % 1001
    return 1101 + (h >> 32) % 3900
