"""Admission: start a search only when the calls left in its window can still finish it.

    ledger = Ledger()
    ledger.reserve(deadline, worst_case_calls(limit))   # page 0 of an unknown-size search
    ledger.room(deadline, now, rate) >= cost             # may a search of `cost` calls start?

A window holds `rate x (deadline - now)` more calls. Searches already started have
*committed* theirs: every page they still need, due by their deadlines. Under earliest
deadline first, a new search due at D fits when, for every deadline D' >= D, the calls
that D' holds cover what is committed up to D' plus the new search's cost: admitting it
may push later searches back, never earlier ones. That minimum is `room`. No I/O and no
clock: callers pass `now` and the rate, so every rule is tested with plain numbers.

A search of unknown size costs its worst case until page 0 says otherwise (11 calls at
limit 100: the most `paging` ever plans). Once its size is known, its cost is exact.

Once page 0 shows a search's size, `stays_admitted` says whether it keeps its place or
waits while probes look for cheaper searches.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping

from harvester.paging import LIMIT_CAP, OFFSET_CAP, min_calls

__all__ = ["Ledger", "stays_admitted", "worst_case_calls"]


def worst_case_calls(limit: int) -> int:
    """The most calls a search of page size `limit` can cost: one past the API's reach."""
    return min_calls(OFFSET_CAP + LIMIT_CAP + 1, limit)


def stays_admitted(calls: int, seen: Mapping[int, int]) -> bool:
    """Whether a search whose page 0 just showed it costs `calls` keeps its admission.

    It does unless most searches seen so far (`seen`: calls -> count) cost less: then
    probes are likely to find cheaper searches, and it waits for room with the rest.
    """
    seen_n = sum(seen.values())
    cheaper = sum(n for cost, n in seen.items() if cost < calls)
    return seen_n == 0 or 2 * cheaper < seen_n


class Ledger:
    """Calls committed to admitted searches, per deadline, and the room left beside them."""

    __slots__ = ("_by_deadline", "_deadlines", "total")

    total: int  #: calls committed over every deadline

    def __init__(self) -> None:
        self._by_deadline: dict[float, int] = {}
        self._deadlines: list[float] = []  #: sorted keys of _by_deadline
        self.total = 0

    def reserve(self, deadline: float, calls: int) -> None:
        """Commit `calls` more (negative: release) to searches due at `deadline`."""
        if calls == 0:
            return
        held = self._by_deadline.get(deadline, 0) + calls
        if held < 0:
            raise ValueError(f"released more calls than were committed at {deadline}")
        if held == 0:
            del self._by_deadline[deadline]
            self._deadlines.pop(bisect.bisect_left(self._deadlines, deadline))
        else:
            if deadline not in self._by_deadline:
                bisect.insort(self._deadlines, deadline)
            self._by_deadline[deadline] = held
        self.total += calls

    def committed(self, deadline: float) -> int:
        """Calls committed to searches due at or before `deadline`."""
        end = bisect.bisect_right(self._deadlines, deadline)
        return sum(self._by_deadline[d] for d in self._deadlines[:end])

    def room(self, deadline: float, now: float, rate: float) -> float:
        """Calls a new search due at `deadline` may take without making any window late:
        min over D' >= deadline of `rate x (D' - now) - committed(D')`, negative when the
        work already committed overruns."""
        if rate <= 0:
            return -math.inf
        end = bisect.bisect_right(self._deadlines, deadline)
        acc = sum(self._by_deadline[d] for d in self._deadlines[:end])
        best = rate * (deadline - now) - acc
        for d in self._deadlines[end:]:
            acc += self._by_deadline[d]
            best = min(best, rate * (d - now) - acc)
        return best

    def fits(self, deadline: float, now: float, rate: float, calls: int) -> bool:
        """Whether a search of `calls` due at `deadline` can be admitted (room >= calls).

        Every term of `room` is at least `rate x (deadline - now) - total`, so when that
        covers `calls` (the normal night) the answer needs no walk over the deadlines.
        """
        if rate > 0 and rate * (deadline - now) - self.total >= calls:
            return True
        return self.room(deadline, now, rate) >= calls
