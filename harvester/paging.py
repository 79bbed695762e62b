"""Paging math: which pages a search needs, given its total, its limit and the API's caps.

Pure functions, no I/O. The API answers ranks `offset + 1 .. offset + limit` with
`offset <= 1000` and `limit <= 100`, so at most 1,100 hits of a search are reachable::

    plan_pages(250, 100)   # (PageSpec(0, 100), PageSpec(100, 100), PageSpec(200, 100))
    min_calls(5000, 100)   # 11 — ranks 1..1100; the rest is out of reach (truncated)

The rule: pages step by the search's `limit` from offset 0 while the offset is below the
reachable count and within the offset cap. If ranks are still left after that (only when
`limit` < 100), the page at offset 1000 asks for 100 hits instead — widened in place when
the steps land on 1000 exactly, appended otherwise. The overlap is deduped downstream.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

__all__ = [
    "LIMIT_CAP",
    "OFFSET_CAP",
    "PageSpec",
    "is_truncated",
    "min_calls",
    "plan_pages",
    "reachable",
    "remaining_pages",
]

OFFSET_CAP = 1000  #: largest offset the API accepts
LIMIT_CAP = 100  #: largest limit the API accepts


@dataclass(slots=True, frozen=True)
class PageSpec:
    """One call: ask for `limit` hits starting after rank `offset`."""

    offset: int  #: 0-based; the page's first hit has rank offset + 1
    limit: int  #: hits asked for, 1..LIMIT_CAP

    @property
    def end(self) -> int:
        """The last rank this page can return."""
        return self.offset + self.limit


def _check(total: int, limit: int, offset_cap: int, limit_cap: int) -> None:
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    if not 1 <= limit <= limit_cap:
        raise ValueError(f"limit must be 1..{limit_cap}, got {limit}")
    if offset_cap < 0:
        raise ValueError(f"offset_cap must be >= 0, got {offset_cap}")


def reachable(
    total: int, limit: int, *, offset_cap: int = OFFSET_CAP, limit_cap: int = LIMIT_CAP
) -> int:
    """How many of `total` hits the API can give: all up to rank offset_cap + limit_cap."""
    _check(total, limit, offset_cap, limit_cap)
    # A last page at the offset cap may always ask for limit_cap hits, whatever `limit` is.
    return min(total, offset_cap + limit_cap)


def plan_pages(
    total: int, limit: int, *, offset_cap: int = OFFSET_CAP, limit_cap: int = LIMIT_CAP
) -> tuple[PageSpec, ...]:
    """Every page of a search, offset 0 included, fewest calls covering ranks 1..reachable."""
    wanted = reachable(total, limit, offset_cap=offset_cap, limit_cap=limit_cap)
    # Offset 0 is always fetched: it is how the total becomes known (and an empty search
    # still costs that one call).
    stop = min(max(wanted, 1), offset_cap + 1)
    pages = [PageSpec(offset, limit) for offset in range(0, stop, limit)]
    if pages[-1].end < wanted:
        tail = PageSpec(offset_cap, limit_cap)
        if pages[-1].offset == offset_cap:
            pages[-1] = tail
        else:
            pages.append(tail)
    return tuple(pages)


def remaining_pages(
    total: int,
    limit: int,
    done: Collection[int],
    *,
    offset_cap: int = OFFSET_CAP,
    limit_cap: int = LIMIT_CAP,
) -> tuple[PageSpec, ...]:
    """The planned pages whose offsets are not in `done`, in offset order."""
    plan = plan_pages(total, limit, offset_cap=offset_cap, limit_cap=limit_cap)
    return tuple(page for page in plan if page.offset not in done)


def min_calls(
    total: int, limit: int, *, offset_cap: int = OFFSET_CAP, limit_cap: int = LIMIT_CAP
) -> int:
    """Calls a search costs when nothing fails: len(plan_pages(...)), 1 for an empty search."""
    return len(plan_pages(total, limit, offset_cap=offset_cap, limit_cap=limit_cap))


def is_truncated(
    total: int, limit: int, *, offset_cap: int = OFFSET_CAP, limit_cap: int = LIMIT_CAP
) -> bool:
    """True when some hits lie beyond the API's reach (total > offset_cap + limit_cap)."""
    return total > reachable(total, limit, offset_cap=offset_cap, limit_cap=limit_cap)
