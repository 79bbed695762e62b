"""What a call's answer does to its page, its search and the run.

    outcomes.landed(task, spec, attempt, page)        # to the writer; the search may end
    outcomes.failed(task, spec, attempt, error, t0)   # carries out failures.decide
    outcomes.unsent(task, spec, attempt)              # the call never left: as if not made

A page goes to the writer before the scheduler marks it landed, so it is never both lost
and counted. A failure is decided by `failures.decide` from values alone; this module
only carries the verdict out (requeue, park, stop the run, end the search).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping

from anyio.abc import ObjectSendStream

from harvester.api.errors import PatSnapError
from harvester.api.models import Page
from harvester.engine import failures
from harvester.engine.control import RunControl
from harvester.engine.ending import Endings
from harvester.engine.events import HarvestStats, Observer
from harvester.engine.options import HarvestOptions
from harvester.engine.rate import Throttle
from harvester.engine.retry import is_transient
from harvester.engine.schedule import Scheduler, SearchTask
from harvester.engine.stamps import Stamps
from harvester.jobs import Search
from harvester.paging import PageSpec
from harvester.sink.messages import Message, PageFetched

__all__ = ["Outcomes"]


class Outcomes:
    """Carries out what each answer means; the pool's loop hands every call's end here."""

    __slots__ = (
        "_admission_rate",
        "_clock",
        "_control",
        "_endings",
        "_observer",
        "_options",
        "_quota_streak",
        "_rng",
        "_sched",
        "_searches",
        "_send",
        "_stamp",
        "_stats",
        "_throttle",
    )

    def __init__(
        self,
        send: ObjectSendStream[Message],
        sched: Scheduler,
        endings: Endings,
        control: RunControl,
        throttle: Throttle,
        *,
        stats: HarvestStats,
        observer: Observer,
        options: HarvestOptions,
        searches: Mapping[str, Search],
        admission_rate: Callable[[], float | None],
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self._send = send
        self._sched = sched
        self._endings = endings
        self._control = control
        self._throttle = throttle
        self._stats = stats
        self._observer = observer
        self._options = options
        self._searches = searches
        self._admission_rate = admission_rate
        self._clock = clock
        self._rng = rng
        self._stamp = Stamps()
        self._quota_streak: tuple[float, ...] = ()  # 67200002 answers in a row, when

    def unsent(self, task: SearchTask, spec: PageSpec, attempt: int) -> None:
        """The run stopped while the call waited for its slot: undo its counts, keep the page."""
        self._stats.calls -= 1
        if attempt > 1:
            self._stats.retries -= 1
            task.attempts[spec.offset] = attempt - 1
        else:
            del task.attempts[spec.offset]
        self._sched.requeue(task, spec)

    async def landed(
        self,
        task: SearchTask,
        spec: PageSpec,
        attempt: int,
        page: Page,
        used: str | None = None,
        extra: int = 0,
    ) -> None:
        """A page came back: to the writer, then the search learns its size or ends."""
        self._control.breaker.answered()
        self._throttle.recovered()
        self._quota_streak = ()
        await self._send.send(
            PageFetched(
                search_id=task.search_id,
                offset=spec.offset,
                limit=spec.limit,
                total=task.total if task.total is not None else page.total,
                hits=page.hits,
                harvested_at=self._stamp(self._clock()),
                calls=attempt + extra,
                retries=attempt - 1,
                image=self._searches[task.search_id].image,
                created_id=used,
            )
        )
        self._sched.landed(task, spec, page.total, now=self._clock(), rate=self._admission_rate())
        self._stats.pages += 1
        self._stats.hits += len(page.hits)
        self._observer.event(
            "page_done", search_id=task.search_id, offset=spec.offset, hits=len(page.hits)
        )
        if self._options.probe_only and not task.idle:
            self._sched.end(task)  # its size is known now; the rest is the run's job
            self._endings.retire(task)
            return
        if task.idle:
            await self._endings.finish(task)

    async def failed(
        self, task: SearchTask, spec: PageSpec, attempt: int, exc: PatSnapError, asked_at: float
    ) -> None:
        """Carry out what `failures.decide` says follows this failed call."""
        self._stats.errors[str(exc.code or type(exc).__name__)] += 1
        breaker = self._control.breaker
        if is_transient(exc):
            breaker.failed(str(exc), sent_at=asked_at)
            if breaker.tripped():
                self._control.give_up()
        else:
            breaker.answered()
        now = self._clock()
        deadline = task.deadline
        failure = failures.Failure(
            exc,
            attempt=attempt,
            refused=task.refused.get(spec.offset, 0),
            now=now,
            deadline=deadline,
            # an image's search is created again when its window closes: no window ends it
            window_end=math.inf if task.window_s is not None else deadline + self._options.grace_s,
            ended=task.ended,
            stopping=self._control.stopping,
            quota_streak=self._quota_streak,
        )
        action = failures.decide(failure, self._options.retry, self._rng)
        if action.push_back is not None:
            self._pushed_back(exc, action.push_back)
            task.refused[spec.offset] = task.refused.get(spec.offset, 0) + 1
        if isinstance(action, failures.Requeue):
            self._sched.requeue(task, spec)
        elif isinstance(action, failures.StopTheRun):
            self._sched.requeue(task, spec)
            self._control.stop_for(action.error, action.reason)
        elif isinstance(action, failures.Park):
            self._sched.park(task, spec, action.retry_at)
            self._observer.event(
                "retry",
                search_id=task.search_id,
                offset=spec.offset,
                attempt=attempt,
                error=str(exc),
                delay=round(action.delay, 3),
            )
        else:
            self._sched.drop(task)
            if isinstance(action, failures.Final):
                self._endings.decide(task, action.status, action.error)
            if task.in_flight == 0:
                await self._endings.finish(task)

    def _pushed_back(self, exc: PatSnapError, push_back: failures.PushBack) -> None:
        """PatSnap said too fast: slow the whole pool down."""
        self._throttle.slow_down(push_back.pause)
        self._stats.slowdowns = self._throttle.slowdowns
        self._observer.event(
            "slow_down",
            code=exc.code,
            retry_after=exc.retry_after,
            rate=round(self._throttle.current_rate, 3),
        )
        if push_back.quota_streak is not None:
            self._quota_streak = push_back.quota_streak
