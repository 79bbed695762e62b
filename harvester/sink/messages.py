"""What the engine sends the writer: a fetched page, or the end of a search.

`sink` never imports `harvester.api`; a hit is any tuple of the five fields it needs, in
the API page's order (`HitLike`), so the API's `Hit` (a NamedTuple) fits without the sink
knowing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from harvester.sink.images import ImageUploaded, SearchCreated
from harvester.sink.vocabulary import FINAL_STATUSES

__all__ = ["FINAL_STATUSES", "HitLike", "Message", "PageFetched", "SearchEnded"]


#: One hit of a page, as the sink needs it: (patent_id, patent_pn, title, score, url), the
#: API page's PatentMessage fields in that order. A tuple, not attributes: the writer
#: unpacks 100 of them a page, and unpacking costs a third less than attribute lookups.
HitLike: TypeAlias = tuple[str, str | None, str | None, float | None, str | None]


@dataclass(slots=True, frozen=True)
class PageFetched:
    """One page of one search, as fetched; `calls`/`retries` are what this page cost."""

    search_id: str
    offset: int
    limit: int
    total: int  #: total_search_result_count reported with this page
    hits: Sequence[HitLike]  #: in rank order
    harvested_at: str  #: fetch time, ISO-8601 UTC with Z
    calls: int = 1
    retries: int = 0
    image: str | None = None  #: for a search made from an image: the job's value
    created_id: str | None = None  #: ... and the search_id that answered (records carry it)


@dataclass(slots=True, frozen=True)
class SearchEnded:
    """The engine sends nothing more for this search; the writer makes it final.

    `calls`/`retries` are the extra calls that produced no page (e.g. the refused call
    of an expired search).
    """

    search_id: str
    status: str  #: one of FINAL_STATUSES
    total: int | None
    reachable: int
    error_code: int | None = None
    error_msg: str | None = None
    deadline: str = ""
    calls: int = 0
    retries: int = 0

    def __post_init__(self) -> None:
        if self.status not in FINAL_STATUSES:
            raise ValueError(f"SearchEnded.status must be one of {sorted(FINAL_STATUSES)}")


Message: TypeAlias = PageFetched | SearchEnded | ImageUploaded | SearchCreated
