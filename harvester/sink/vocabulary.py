"""The sink's words that the rest of the harvester uses: search statuses and dedupe scopes.

Defined here once, used by name everywhere else (`SearchStatus.EXPIRED`, never the
string): the statuses are searches.jsonl's contract, the scopes the job file's, and
both mean what the writer does with them. `SearchStatus` is a `StrEnum`, so a status
read back from the checkpoint or a file compares equal to its member.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DEDUPE_SCOPES", "FINAL_STATUSES", "DedupeScope", "SearchStatus"]


class SearchStatus(StrEnum):
    """A search's state in searches.jsonl; every one but PENDING is final."""

    COMPLETE = "complete"  #: every reachable hit written
    EMPTY = "empty"  #: the search has no hits
    TRUNCATED = "truncated"  #: more hits than the API lets anyone page to; the reachable written
    EXPIRED = "expired"  #: its window closed before it was done
    FAILED = "failed"  #: the API refused it for good
    PENDING = "pending"  #: not final: a resume goes on with it


#: The final states of a search, as written to searches.jsonl.
FINAL_STATUSES = frozenset(status for status in SearchStatus if status is not SearchStatus.PENDING)


class DedupeScope(StrEnum):
    """Which records count as duplicates of each other."""

    SEARCH = "search"  #: one record per (search_id, patent_id)
    JOB = "job"  #: one record per patent_id across the whole job


#: The job file's `dedupe` values, as plain strings (for messages and checks).
DEDUPE_SCOPES: tuple[str, ...] = tuple(scope.value for scope in DedupeScope)
