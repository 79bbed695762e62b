"""Times as the output writes them: ISO-8601 UTC with a Z, to the millisecond.

    iso(1767225600.5)          # '2026-01-01T00:00:00.500Z'
    stamps = Stamps(); stamps(epoch)   # the same text, cheaply, for a stamp on every page

Every page carries `harvested_at`; formatting a datetime for each one cost more than the
rest of a page's bookkeeping in the pool, and pages land many to the second, so `Stamps`
formats the second once and adds the milliseconds.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

__all__ = ["Stamps", "iso"]


def iso(epoch: float) -> str:
    """Epoch seconds as ISO-8601 UTC with a Z, to the millisecond."""
    stamp = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


class Stamps:
    """`iso`, with the text of the last whole second kept."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, epoch: float) -> str:
        """The same text as `iso(epoch)`."""
        frac, whole = math.modf(epoch)
        # datetime rounds to the microsecond (half even), then isoformat truncates to the ms
        micros = round(frac * 1e6)
        if micros >= 1_000_000:
            whole, micros = whole + 1, micros - 1_000_000
        if micros < 0 or whole < 0:
            return iso(epoch)  # before 1970: not a time this harvester stamps
        second = int(whole)
        if second != self._second:
            self._second = second
            self._prefix = iso(second)[:-5]  # without ".000Z"
        return f"{self._prefix}.{micros // 1000:03d}Z"
