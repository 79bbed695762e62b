"""Typed values of the API page: a hit (PatentMessage) and a page of hits."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Hit", "Page"]


@dataclass(slots=True, frozen=True)
class Hit:
    """One similar design patent (the API page's PatentMessage)."""

    patent_id: str  #: required; the dedupe key
    patent_pn: str | None  #: publication number, e.g. "HK04110995S"
    title: str | None
    score: float | None  #: similarity, 0..1
    url: str | None  #: image URL


@dataclass(slots=True, frozen=True)
class Page:
    """One answer of `GET /image-search/results`: hits in rank order plus the total."""

    hits: tuple[Hit, ...]
    total: int  #: total_search_result_count (0 when the API omits it on an empty page)
