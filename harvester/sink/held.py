"""Staged pages kept in memory too, so a search's end does not read them back from SQLite.

A page whose search goes on is staged in the checkpoint (that copy is what survives a
crash). The writer also keeps the rendered page here, up to a budget, and assembles the
search from memory when it ends: no read, no unpacking. In a run that commits a few pages
at a time, as the pool does, nearly every page is staged, so this saves the read-back
of nearly every page.

The checkpoint stays the truth. A search is served from here only when every page staged
for it was staged by this process and is still held: its first page was staged after it
had no recorded page, and nothing of it was dropped for the budget. Otherwise its pages are
read back as before. The writer tells this class only what a commit made true, after the
commit: a rolled-back transaction leaves it as it was.
"""

from __future__ import annotations

from collections.abc import Iterable

from harvester.sink.records import RenderedPage

__all__ = ["HELD_BYTES", "HeldPages"]

#: Record bytes kept in memory at most (a pool of 64 calls in flight keeps a few MB).
HELD_BYTES = 32 << 20


class HeldPages:
    """Rendered pages of open searches, by sid, for the searches held whole."""

    __slots__ = ("_budget", "_bytes", "_pages")

    def __init__(self, budget: int | None = None) -> None:
        self._budget = HELD_BYTES if budget is None else budget
        self._pages: dict[int, list[RenderedPage]] = {}  #: oldest search first
        self._bytes = 0

    def pages(self, sid: int) -> list[RenderedPage] | None:
        """Every page staged for `sid`, or None if they must be read from the checkpoint."""
        return self._pages.get(sid)

    def committed(
        self, staged: Iterable[tuple[int, RenderedPage]], fresh: set[int], ended: Iterable[int]
    ) -> None:
        """A commit staged these (sid, page)s, `fresh` holding the sids that had no page
        recorded before it, and made the `ended` searches final."""
        for sid in ended:
            self._forget(sid)
        for sid, page in staged:
            held = self._pages.get(sid)
            if held is None:
                if sid not in fresh:
                    continue  # some of its pages are only in the checkpoint
                held = self._pages[sid] = []
            held.append(page)
            self._bytes += len(page.block)
        while self._bytes > self._budget and self._pages:
            self._forget(next(iter(self._pages)))  # the oldest: read back when it ends

    def _forget(self, sid: int) -> None:
        for page in self._pages.pop(sid, ()):
            self._bytes -= len(page.block)
