"""The worker pool: fetch the pages the scheduler hands out, under the throttle and error table.

    throttle = Throttle(options.rate, options.burst)     # the client awaits it before each call
    harvest = Harvest(job, client, send, progress, options, observer, throttle=throttle)
    await harvest.run()          # returns when every search is final, or after stop()
    harvest.stop_error           # the StopRun that ended it early, if any
    harvest.unreachable          # or the breaker's verdict: the API could not be reached

Workers never touch files: each fetched page goes to the writer through `send` (a bounded
memory stream, so a slow disk slows the pool instead of filling memory), and a search's
`SearchEnded` follows its last page on the same stream. This module is the loop (hand out
a page, make the call, hand its end on); the rest of the pool lives beside it:

    options.py     what a run is given: HarvestOptions, the Fetcher it calls
    remaining.py   what is left of a job after a checkpoint
    schedule.py    which page next (deadlines, admission by the windows' room)
    window.py      the commit window (paid, uncommitted pages) and the one wake-up
    outcomes.py    what an answer does to its page, its search and the run
    failures.py    what a failed call leads to: a pure decision
    ending.py      a search's verdict, and its SearchEnded sent once
    control.py     stop(), StopRun and the dead-API breaker's verdict
    concurrency.py how many calls in flight; rate.py the throttle; stamps.py harvested_at
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from typing import Literal

import anyio
from anyio.abc import ObjectSendStream, TaskGroup

from harvester.api.errors import PatSnapError, StopRun
from harvester.engine.breaker import Breaker, Unreachable
from harvester.engine.concurrency import PoolSize
from harvester.engine.control import RunControl
from harvester.engine.ending import Endings
from harvester.engine.events import HarvestStats, NullObserver, Observer
from harvester.engine.images import ImageApi, Images
from harvester.engine.options import Fetcher, HarvestOptions
from harvester.engine.outcomes import Outcomes
from harvester.engine.rate import PacingStopped, Throttle, clear_sent, sent_at
from harvester.engine.remaining import remaining
from harvester.engine.schedule import Scheduler, SearchTask
from harvester.engine.window import CommitWindow, Wakeup
from harvester.jobs import Job
from harvester.paging import PageSpec
from harvester.sink.checkpoint import SearchProgress
from harvester.sink.images import ImageProgress
from harvester.sink.messages import Message

__all__ = ["Fetcher", "Harvest", "HarvestOptions", "Message"]


class Harvest:
    """One run of the worker pool over a job."""

    def __init__(
        self,
        job: Job,
        fetcher: Fetcher,
        send: ObjectSendStream[Message],
        progress: Mapping[str, SearchProgress],
        options: HarvestOptions,
        observer: Observer | None = None,
        *,
        run_start: float | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        throttle: Throttle,
        commit_window: int | Literal["pool"] | None = None,
        images: Mapping[str, ImageProgress] | None = None,
    ) -> None:
        self.stats = HarvestStats(searches=len(job.searches))
        self._sched = Scheduler()
        # searches made from images, just in time (engine/images.py); None for an ids-only job
        self._images: Images | None = None
        if any(search.is_image for search in job.searches):
            if not isinstance(fetcher, ImageApi):
                raise TypeError("a job with images needs a fetcher that can upload and create")
            self._images = Images(
                fetcher,
                send,
                self._sched,
                validity_s=options.validity_s,
                recreate=options.recreate,
                clock=clock,
                observer=observer,
            )
        self._image_progress = images or {}
        self._fetcher = fetcher
        self._send = send
        self._options = options
        self._observer = observer or NullObserver()
        self._clock = clock
        # the account's pace: the fetcher awaits `throttle.acquire()` right before each call
        # it sends (after a token refresh, say, so nothing bunches calls); the pool reads
        # the rate from it, slows it on push-back and closes it to stop
        self._throttle = throttle
        self._pool = PoolSize(
            options.concurrency, options.max_concurrency, limited_after=options.limited_after_s
        )
        # stop(), a commit, a landed page, a retired search: whatever a waiting worker waits for
        self._wakeup = Wakeup()
        # pages paid for and not yet committed (the writer reports commits via `committed`)
        self._window = CommitWindow(commit_window, self._pool, self._wakeup)
        self._in_flight = 0  # calls handed to workers and not yet back
        self._workers = 0
        self._tg: TaskGroup | None = None
        self._control = RunControl(
            throttle,
            Breaker(options.give_up_after, clock),
            self.stats,
            self._observer,
            self._wakeup,
            clock,
        )
        left = remaining(job, progress, options, clock() if run_start is None else run_start)
        self.stats.already_final = left.already_final
        self._filters = {sid: search.filter_dict() for sid, search in left.searches.items()}
        for task in left.tasks:
            search = left.searches[task.search_id]
            if self._images is not None and search.is_image:
                self._images.load(search, task, self._image_progress.get(search.search_id))
        # every page landed before a kill: only the end is missing
        self._to_end = [task for task in left.tasks if task.idle]
        self._sched.load(left.tasks)
        self._endings = Endings(
            send, self._sched, self.stats, self._observer, self._wakeup, active=len(left.tasks)
        )
        self._outcomes = Outcomes(
            send,
            self._sched,
            self._endings,
            self._control,
            throttle,
            stats=self.stats,
            observer=self._observer,
            options=options,
            searches=left.searches,
            admission_rate=self._admission_rate,
            clock=clock,
            rng=rng or random.Random(),
        )

    # --- control ------------------------------------------------------------------------

    @property
    def stop_error(self) -> StopRun | None:
        """The StopRun that ended the run early, if any."""
        return self._control.stop_error

    @property
    def unreachable(self) -> Unreachable | None:
        """The breaker's verdict, if it stopped the run: the API could not be reached."""
        return self._control.unreachable

    def stop(self, reason: str) -> None:
        """Stop dispatching; pages in flight still land. Safe to call more than once."""
        self._control.stop(reason)

    async def watch(self) -> None:
        """Trip the dead-API breaker on time; runs beside `run` until cancelled."""
        await self._control.watch()

    async def run(self) -> None:
        """Run the pool until every search is final or stopped; then close the writer's stream."""
        async with self._send:
            for task in self._to_end:
                await self._endings.finish(task)
            async with anyio.create_task_group() as tg:
                self._tg = tg
                self._grow()
            self._tg = None

    # --- the worker loop ----------------------------------------------------------------

    def _grow(self) -> None:
        """Start workers up to the pool's live limit (one call in flight each)."""
        if self._tg is None:
            return
        while self._workers < self._pool.limit:
            self._workers += 1
            self._tg.start_soon(self._worker)

    async def _worker(self) -> None:
        try:
            # a worker beyond a limit that shrank leaves between two calls
            while self._workers <= self._pool.limit and (item := await self._next()) is not None:
                task, spec = item
                clear_sent()  # the throttle stamps when this call leaves
                await self._fetch(task, spec)
        finally:
            self._workers -= 1

    def when_window_blocked(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever a worker waits for the writer to commit (wire the
        writer's Gather.flush here, so a batch gathering pages never holds the pool)."""
        self._window.when_blocked(callback)

    def committed(self, pages: int) -> None:
        """The writer committed `pages` fetched pages: that many more may be fetched.
        Call it in the event loop's thread (workers waiting for room wake on it alone)."""
        self._window.committed(pages)

    async def _next(self) -> tuple[SearchTask, PageSpec] | None:
        while not self._control.stopping and self._endings.active > 0:
            if self._window.full():
                self._window.blocked()  # the writer commits now rather than gather more
                await self._wakeup.wait()  # a commit, stop(), the last search retired
                continue
            now = self._clock()
            item = self._sched.next_page(now, self._admission_rate(), self._throttle.waiting)
            expired = self._sched.take_expired()
            for held in expired:
                await self._endings.expire_unstarted(held)
            if item is not None:
                self._window.reserved()
                self._in_flight += 1
                self.stats.peak_in_flight = max(self.stats.peak_in_flight, self._in_flight)
                if self._throttle.waiting == 0 and self._pool.starved():
                    self._grow()  # no call queued for a slot: the pool, not the rate, limits
                return item
            if expired:
                continue  # those may have been the last searches: check before waiting
            wake_at = self._sched.next_wake()
            await self._wakeup.wait(None if wake_at is None else max(0.0, wake_at - now))
        return None

    def _admission_rate(self) -> float | None:
        """Calls/s the windows can count on: the throttle's, or less when the pool cannot
        carry it at the observed latency; None (no admission) when only probing."""
        if self._options.probe_only:
            return None
        rate = self._throttle.current_rate
        capacity = self._pool.capacity()
        return rate if capacity is None else min(rate, capacity)

    async def _fetch(self, task: SearchTask, spec: PageSpec) -> None:
        attempt = task.attempts.get(spec.offset, 0) + 1
        task.attempts[spec.offset] = attempt
        self.stats.calls += 1
        if attempt > 1:
            self.stats.retries += 1
        asked_at = self._clock()  # the breaker counts silence from the first unanswered call
        used: str | None = None  # for an image: the search_id that answered
        extra = 0  # calls beyond one that this page took (an upload, a closed search)
        try:
            filters = self._filters[task.search_id]
            if self._images is not None and task.window_s is not None:
                # how long this call may wait for its slot: its search must be open then
                throttle = self._throttle
                lead = throttle.pause_left() + throttle.waiting / throttle.current_rate
                try:
                    page, used, calls = await self._images.call(
                        task, spec.offset, spec.limit, filters, lead=lead
                    )
                finally:
                    self.stats.creations = self._images.creations
                    self.stats.uploads = self._images.uploads
                extra = calls - 1
                self.stats.calls += extra  # an upload, a call refused by a closed search
                self.stats.answered += extra
            else:
                page = await self._fetcher.fetch_page(
                    task.search_id, offset=spec.offset, limit=spec.limit, filters=filters
                )
        except PacingStopped:  # the run stopped while the call waited for its slot: not sent
            self._window.not_sent()
            self._in_flight -= 1
            self._outcomes.unsent(task, spec, attempt)
        except PatSnapError as exc:
            self._answered()
            self._window.failed()
            await self._outcomes.failed(task, spec, attempt, exc, asked_at)
        else:
            self._answered()
            await self._outcomes.landed(task, spec, attempt, page, used, extra)
        if not self._window.full():  # else no worker could take a page: the commit wakes them
            self._wakeup.set()

    def _answered(self) -> None:
        """A call came back: learn its latency, resize the pool, say if it stays too small."""
        self.stats.answered += 1
        saturated = self._in_flight >= self._pool.limit
        self._in_flight -= 1
        left = sent_at()
        if left is None:
            return
        now = time.monotonic()
        self._pool.observe(now - left)
        before = self._pool.limit
        if self._pool.resize(self._throttle.rate) > before:
            self._grow()
        needed = self._pool.limited(now, saturated)
        if needed is not None:
            pinned = self._pool.pinned is not None
            self._observer.event(
                "concurrency_limited",
                concurrency=self._pool.limit,
                needed=needed,
                setting="concurrency" if pinned else "max_concurrency",
                rate=round(self._throttle.rate, 2),
                latency_p90=_rounded(self._pool.latency.quantile(0.9)),
            )

    def snapshot(self) -> HarvestStats:
        """The counters, with the fields that cost a pass over all searches filled in."""
        live = [t for t in self._sched.tasks.values() if not t.ended]
        # an image not created yet has no window (an infinite deadline): not a deadline
        deadlines = (t.deadline for t in live if math.isfinite(t.deadline))
        self.stats.soonest_deadline = min(deadlines, default=None)
        self.stats.pages_left = sum(
            (len(t.pending) if t.started else 1) + t.in_flight + t.waiting for t in live
        )
        self.stats.current_rate = self._throttle.current_rate
        self.stats.in_flight = self._in_flight
        self.stats.concurrency = self._pool.limit
        self.stats.latency_p50 = _rounded(self._pool.latency.quantile(0.5))
        self.stats.latency_p90 = _rounded(self._pool.latency.quantile(0.9))
        if self._images is not None:
            self.stats.creations = self._images.creations
            self.stats.uploads = self._images.uploads
        return self.stats


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)
