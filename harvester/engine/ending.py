"""Ending searches: each search's fate decided once, its end sent once nothing is in flight.

    endings = Endings(send, scheduler, stats, observer, wakeup, active=len(tasks))
    endings.decide(task, SearchStatus.FAILED, error)  # the first verdict stands
    await endings.finish(task)     # SearchEnded after its last page, on the same stream
    endings.active                 # searches not ended yet: 0 ends the run

A search with no verdict when it finishes ends by its size: empty, complete, or truncated
(more results than the API lets a search page through). Its SearchEnded counts the calls
that produced no page, so calls add up per search across pages and ends.
"""

from __future__ import annotations

import math

from anyio.abc import ObjectSendStream

from harvester.api.errors import PatSnapError
from harvester.engine.events import HarvestStats, Observer
from harvester.engine.schedule import Scheduler, SearchTask
from harvester.engine.stamps import iso
from harvester.engine.window import Wakeup
from harvester.paging import is_truncated, reachable
from harvester.sink.messages import Message, SearchEnded
from harvester.sink.vocabulary import SearchStatus

__all__ = ["Endings"]

_EVENTS = {SearchStatus.EXPIRED: "search_expired", SearchStatus.FAILED: "search_failed"}


class Endings:
    """The verdicts of a run's searches, and the ends sent to the writer."""

    __slots__ = (
        "_closed",
        "_observer",
        "_outcome",
        "_sched",
        "_send",
        "_stats",
        "_wakeup",
        "active",
    )

    active: int  #: searches of this run not ended yet

    def __init__(
        self,
        send: ObjectSendStream[Message],
        sched: Scheduler,
        stats: HarvestStats,
        observer: Observer,
        wakeup: Wakeup,
        *,
        active: int,
    ) -> None:
        self._send = send
        self._sched = sched
        self._stats = stats
        self._observer = observer
        self._wakeup = wakeup
        self._outcome: dict[str, tuple[SearchStatus, PatSnapError | None]] = {}
        self._closed: set[str] = set()  # searches whose SearchEnded was sent
        self.active = active

    def decide(self, task: SearchTask, status: SearchStatus, exc: PatSnapError | None) -> None:
        """The search ends with `status` (the first verdict stands): nothing more is sent."""
        if task.search_id not in self._outcome:
            self._outcome[task.search_id] = (status, exc)
            self._sched.end(task)

    async def finish(self, task: SearchTask) -> None:
        """Send the search's end once nothing of it is in flight."""
        if task.search_id in self._closed:
            return
        self._closed.add(task.search_id)
        if task.search_id not in self._outcome:
            total = task.total or 0
            status = (
                SearchStatus.EMPTY
                if total == 0
                else (
                    SearchStatus.TRUNCATED
                    if is_truncated(total, task.limit)
                    else SearchStatus.COMPLETE
                )
            )
            self.decide(task, status, None)
        status, exc = self._outcome[task.search_id]
        # Calls that produced no page: the pages that never landed (their first call is
        # not a retry, the others are).
        unlanded = [n for offset, n in task.attempts.items() if offset not in task.done_offsets]
        extra = sum(unlanded)
        await self._send.send(
            SearchEnded(
                search_id=task.search_id,
                status=status,
                total=task.total,
                reachable=reachable(task.total, task.limit) if task.total is not None else 0,
                error_code=exc.code if exc else None,
                error_msg=exc.message if exc else None,
                deadline=iso(task.deadline) if math.isfinite(task.deadline) else "",
                calls=extra,
                retries=extra - len(unlanded),
            )
        )
        self._stats.ended[status] += 1
        self._observer.event(
            _EVENTS.get(status, "search_done"),  # complete, empty, truncated
            search_id=task.search_id,
            status=status,
            total=task.total,
            error_code=exc.code if exc else None,
        )
        self.retire(task)

    async def expire_unstarted(self, task: SearchTask) -> None:
        """A search that waited for room until its window closed: expired, no call paid."""
        self.decide(task, SearchStatus.EXPIRED, None)
        await self.finish(task)

    def retire(self, task: SearchTask) -> None:
        """The search needs nothing more of this run (ended, or only probed)."""
        self.active -= 1
        if self.active == 0:
            self._wakeup.set()
