"""Wire one run: the writer task and the worker pool in one task group.

    throttle = Throttle(options.rate, options.burst)
    client = PatSnapClient(base_url, credentials, pace=throttle.acquire)  # paces each call
    harvest, receive = prepare(job, client, sink, options, observer, throttle=throttle)
    await run_harvest(harvest, sink, receive)   # everything fetched is committed on return

The writer starts first (`tg.start`: files open and recovered before any worker fetches);
the pool closes its send side when it is done or stopped, which ends the writer after its
final commit. Cancelling the task group (a second Ctrl-C) still lets that commit finish:
the writer shields it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import anyio
from anyio.abc import ObjectReceiveStream

from harvester.engine.events import Observer
from harvester.engine.harvest import Fetcher, Harvest, HarvestOptions
from harvester.engine.rate import Throttle
from harvester.engine.window import commit_window_for
from harvester.jobs import Job
from harvester.sink import CommitStats, Sink
from harvester.sink.batching import GATHER_S, Gather
from harvester.sink.messages import Message

__all__ = ["GATHER_S", "prepare", "run_harvest"]


def prepare(
    job: Job,
    fetcher: Fetcher,
    sink: Sink,
    options: HarvestOptions,
    observer: Observer | None = None,
    *,
    run_start: float | None = None,
    clock: Callable[[], float] = time.time,
    throttle: Throttle,
) -> tuple[Harvest, ObjectReceiveStream[Message]]:
    """A pool ready to run, with the receiving end for the writer.

    `throttle` is the one whose `acquire` the fetcher awaits before each call (the API
    client's `pace`): the pool reads, slows and closes it; it never paces calls itself.
    """
    # A page in this buffer is paid for but not yet committed: a kill loses it. The pool
    # bounds such pages by its commit window (the live in-flight limit and a quarter), so
    # the buffer, sized for the largest window, never fills with pages and senders never
    # wait (which would make the writer wait to fill).
    most = options.concurrency if options.concurrency is not None else options.max_concurrency
    send, receive = anyio.create_memory_object_stream[Message](
        max_buffer_size=commit_window_for(most) * 4
    )
    harvest = Harvest(
        job,
        fetcher,
        send,
        sink.progress(),
        options,
        observer,
        run_start=run_start,
        clock=clock,
        throttle=throttle,
        commit_window="pool",
        images=sink.image_progress(),
    )
    return harvest, receive


async def run_harvest(harvest: Harvest, sink: Sink, receive: ObjectReceiveStream[Message]) -> None:
    """Run writer and pool to the end; every fetched page is committed when this returns."""
    # While the pool has room, the writer lets a batch wait up to GATHER_S for more pages
    # (a paced run would otherwise commit, and fsync, page by page); the moment a worker
    # waits for room, the pool flushes it.
    gather = Gather(GATHER_S)
    harvest.when_window_blocked(gather.flush)
    async with anyio.create_task_group() as tg:
        await tg.start(
            functools.partial(sink.run, receive, on_commit=_fed_back(harvest), gather=gather)
        )
        async with anyio.create_task_group() as pool:
            pool.start_soon(harvest.watch)  # the dead-API breaker's clock
            await harvest.run()
            pool.cancel_scope.cancel()


def _fed_back(harvest: Harvest) -> Callable[[CommitStats], None]:
    def on_commit(stats: CommitStats) -> None:
        harvest.committed(stats.fetched)

    return on_commit
