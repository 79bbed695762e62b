"""The commit window (pages paid for and not yet committed) and the pool's one wake-up.

    wakeup = Wakeup()
    window = CommitWindow("pool", pool_size, wakeup)
    if not window.full():
        window.reserved()          # a page is handed to a worker
    window.not_sent()              # ... its call never left (the run stopped): no charge
    window.failed()                # ... or it came back without a page
    window.committed(pages)        # the writer committed pages: room again, waiters wake
    window.blocked()               # a worker waits for room: the writer is told to commit now

A kill re-bills at most the window's pages, so resume's cost stays at about one pool's
worth even when the writer is the bottleneck. Every change a waiting worker cares about
(a commit, a landed page, a retired search, stop()) sets the one `Wakeup`, so a worker
waits on one thing and nothing it waits for is seen late.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import anyio

from harvester.engine.concurrency import PoolSize

__all__ = ["MIN_COMMIT_WINDOW", "CommitWindow", "Wakeup", "commit_window_for"]

#: The smallest commit window: the fixed pool's size before concurrency = "auto".
MIN_COMMIT_WINDOW = 8


def commit_window_for(limit: int) -> int:
    """Pages that may be paid for and uncommitted with `limit` calls in flight: that many
    (the auto limit has headroom for pages landed and waiting for the writer's next
    commit), and never fewer than MIN_COMMIT_WINDOW, so a small pool at a low latency is
    not held back by a commit that takes a moment."""
    return max(limit, MIN_COMMIT_WINDOW)


class Wakeup:
    """Wakes every task waiting on it; each `set` starts a new round (nothing is missed
    between a task's last look at the state and its wait, as the loop is single-threaded)."""

    __slots__ = ("_event", "_waiting")

    def __init__(self) -> None:
        self._event = anyio.Event()
        self._waiting = 0

    def set(self) -> None:
        """Something changed: every waiter looks again."""
        if self._waiting:  # set once a page or more: free when nobody waits
            self._event.set()
            self._event = anyio.Event()

    async def wait(self, timeout: float | None = None) -> None:
        """Until the next `set`, or `timeout` seconds (None: no limit)."""
        event = self._event
        self._waiting += 1
        try:
            if timeout is None:
                await event.wait()  # no cancel scope to build: most waits have no timeout
            else:
                with anyio.move_on_after(timeout):
                    await event.wait()
        finally:
            self._waiting -= 1


class CommitWindow:
    """How many pages are paid for and not yet committed, and whether another may be."""

    __slots__ = ("_limit", "_on_blocked", "_pool", "_wakeup", "uncommitted")

    uncommitted: int  #: pages reserved whose call is out, or landed and not yet committed

    def __init__(self, limit: int | Literal["pool"] | None, pool: PoolSize, wakeup: Wakeup) -> None:
        # "pool" follows the live in-flight limit; None (no writer feedback, e.g. tests)
        # means no bound.
        self._limit = limit
        self._pool = pool
        self._wakeup = wakeup
        self._on_blocked: Callable[[], None] | None = None
        self.uncommitted = 0

    def when_blocked(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever a worker must wait for room (the writer's cue to
        commit what it holds instead of waiting for more)."""
        self._on_blocked = callback

    def blocked(self) -> None:
        """A worker waits for room: only a commit can let it go on."""
        if self._on_blocked is not None:
            self._on_blocked()

    @property
    def limit(self) -> int | None:
        """The most pages that may be uncommitted now; None: no bound."""
        if self._limit == "pool":
            return commit_window_for(self._pool.limit)
        return self._limit

    def full(self) -> bool:
        """No page may be handed out until the writer commits some."""
        limit = self.limit
        return limit is not None and self.uncommitted >= limit

    def reserved(self) -> None:
        """A page was handed to a worker: paid for until its call fails or it is committed."""
        self.uncommitted += 1

    def not_sent(self) -> None:
        """The page's call never left (the run stopped while it waited for its slot)."""
        self.uncommitted -= 1

    def failed(self) -> None:
        """The page's call came back without a page: nothing of it will be committed."""
        self.uncommitted -= 1

    def committed(self, pages: int) -> None:
        """The writer committed `pages` fetched pages: that many more may be fetched."""
        was_full = self.full()  # else no worker waits for room: nobody to wake
        self.uncommitted = max(0, self.uncommitted - pages)
        if was_full:
            self._wakeup.set()
