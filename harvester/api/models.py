"""Typed values of the API page: a hit (PatentMessage), a page of hits, an OAuth token grant."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["Hit", "Page", "TokenGrant"]


class Hit(NamedTuple):
    """One similar design patent (the API page's PatentMessage).

    A NamedTuple rather than a frozen dataclass, unlike the other values here: 100 are
    made for every page, and a frozen dataclass's __init__ cost more than parsing the
    page's JSON. Immutable all the same.
    """

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


@dataclass(slots=True, frozen=True)
class TokenGrant:
    """An OAuth access token and how many seconds it stays valid from when it was requested."""

    token: str = field(repr=False)  #: a secret: never shown in reprs or logs
    expires_in: float  #: seconds; the token endpoint's `expires_in`, 1800 when it says nothing
