"""The run's event loop (`harvester run`, `plan --probe`): the API client, the pool and
the writer, and beside them signals, the live line or progress events, metrics and the
timeline's ticks, all on one anyio loop that returns when every fetched page is committed.
"""

from __future__ import annotations

import gc
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from harvester.api.auth import Credentials
from harvester.api.client import ClientSettings, PatSnapClient
from harvester.cli.exits import raise_terminated
from harvester.cli.logs import Console
from harvester.engine.events import Observer
from harvester.engine.harvest import Harvest, HarvestOptions
from harvester.engine.rate import Throttle
from harvester.engine.run import prepare, run_harvest
from harvester.jobs import Job
from harvester.report import ProgressLine, TextLogObserver
from harvester.runreport import Timeline
from harvester.sink import Sink

if TYPE_CHECKING:  # only a --metrics-file run loads it (cli.run)
    from harvester.ops.metrics import MetricsFile

__all__ = ["PoolRun", "run_pool"]

#: The cyclic collector's thresholds while the pool runs. A page makes ~100 tuples and
#: dicts that reference counting frees anyway; with the default (700, 10, 10) the collector
#: still ran ~230 times over 2,200 pages (0.14-0.25 CPU-s, ~4% of the run, measured with
#: gc.callbacks), at 10,000 about 6 times (0.02 s). Garbage in cycles waits a little longer.
GC_THRESHOLDS = (10_000, 20, 20)


@dataclass(slots=True, frozen=True)
class PoolRun:
    """What one pool run is given (a run and a probe differ in options and extras)."""

    job: Job
    sink: Sink
    base_url: str
    credentials: Credentials
    settings: ClientSettings
    options: HarvestOptions
    observer: Observer
    console: Console
    live: bool = False  #: draw the live progress line (a terminal), else progress events
    metrics: MetricsFile | None = None
    timeline: Timeline | None = None


def run_pool(run: PoolRun, *, started: float) -> tuple[Harvest, list[int]]:
    """Run the pool on its own event loop; returns it and the signals caught meanwhile."""
    caught: list[int] = []
    thresholds = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        harvest = anyio.run(_harvest, run, caught, run.sink.run_start(default=started))
    finally:
        gc.set_threshold(*thresholds)
    # asyncio puts SIGTERM back to the default (die at once) when the loop's handler goes;
    # until the summary and run_finished are out, a SIGTERM unwinds like before the loop.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, raise_terminated)
    return harvest, caught


async def _harvest(run: PoolRun, caught: list[int], run_start: float) -> Harvest:
    options, timeline, observer = run.options, run.timeline, run.observer
    throttle = Throttle(options.rate, options.burst)
    pace = throttle.acquire if timeline is None else timeline.paced(throttle.acquire)
    async with PatSnapClient(run.base_url, run.credentials, run.settings, pace=pace) as client:
        fetcher = client if timeline is None else timeline.timed(client)
        harvest, receive = prepare(
            run.job, fetcher, run.sink, options, observer, run_start=run_start, throttle=throttle
        )
        line = ProgressLine(run.console.err, harvest.snapshot) if run.live else None
        if line is not None and isinstance(run.console.observer, TextLogObserver):
            # a log line clears the live line before it is printed (`observer` may wrap it)
            run.console.observer.live = line
        async with anyio.create_task_group() as tg:
            tg.start_soon(_on_signals, harvest, tg.cancel_scope, caught)
            tg.start_soon(_show_progress, harvest, line, observer)
            if run.metrics is not None:
                tg.start_soon(run.metrics.every, harvest.snapshot, 10.0, _metrics_failed(observer))
            if timeline is not None:
                tg.start_soon(timeline.every, harvest.snapshot)
            await run_harvest(harvest, run.sink, receive)
            tg.cancel_scope.cancel()
        if line is not None:
            line.clear()
        return harvest


def _metrics_failed(observer: Observer) -> Callable[[Exception], None]:
    def report(exc: Exception) -> None:
        observer.event("metrics_write_failed", error=str(exc))

    return report


async def _on_signals(harvest: Harvest, scope: anyio.CancelScope, caught: list[int]) -> None:
    """First SIGINT/SIGTERM: stop dispatch, let pages land. Second: cancel (commit is shielded)."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            caught.append(signum)
            if len(caught) == 1:
                harvest.stop(f"{signal.Signals(signum).name} received")
            else:
                scope.cancel()


async def _show_progress(harvest: Harvest, line: ProgressLine | None, observer: Observer) -> None:
    """Redraw the live line twice a second; in logs, a progress event every 10 s."""
    tick = 0
    while True:
        await anyio.sleep(0.5)
        tick += 1
        if line is not None:
            line.draw()
        elif tick % 20 == 0:
            stats = harvest.snapshot()
            observer.event(
                "progress",
                searches_done=stats.done,
                searches=stats.searches,
                pages=stats.pages,
                pages_left=stats.pages_left,
                calls=stats.calls,
                retries=stats.retries,
                in_flight=stats.in_flight,
                concurrency=stats.concurrency,
                latency_p50=stats.latency_p50,
                latency_p90=stats.latency_p90,
            )
