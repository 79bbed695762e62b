"""`harvester run`'s report: the run's segment of the timeline, and report.html at the end."""

from __future__ import annotations

from harvester.cli.exits import EXIT_INCOMPLETE, EXIT_OK
from harvester.engine.events import Observer
from harvester.engine.harvest import Harvest, HarvestOptions
from harvester.jobs import Job
from harvester.ops.partition import Partition
from harvester.runreport import Timeline, write_report
from harvester.sink import Sink

__all__ = ["close_report", "open_timeline"]


def open_timeline(
    job: Job, sink: Sink, options: HarvestOptions, part: Partition | None, *, probe: bool = False
) -> Timeline:
    """Start this run's segment of the directory's timeline (what report.html draws); a
    `plan --probe` has one too, marked `probe`: its calls are paid like a run's."""
    settings: dict[str, object] = {
        "rate": options.rate,
        "burst": options.burst,
        "concurrency": job.settings.concurrency,
        "max_concurrency": options.max_concurrency,
        "validity_minutes": job.settings.validity_minutes,
        **({"partition": str(part)} if part else {}),
        **({"probe": True} if probe else {}),
    }
    search_ids = [search.search_id for search in job.searches]
    return Timeline.open(sink.out_dir, run_id=sink.run_id, settings=settings, search_ids=search_ids)


def close_report(
    timeline: Timeline,
    sink: Sink,
    observer: Observer,
    code: int,
    stop_reason: str | None,
    harvest: Harvest | None,
    *,
    unfinished: bool = False,
) -> None:
    """End the timeline's segment with the exit code, then write report.html (listed in
    the manifest). A report that cannot be written is logged; the exit code stands."""
    reason = stop_reason or _ENDED_BY.get(code, "not every search is final")
    timeline.end(exit_code=code, reason=reason, stats=harvest.stats if harvest else None)
    try:
        write_report(sink.out_dir, own_lock=True, unfinished=unfinished)
    except Exception as exc:  # the picture of a run never changes its outcome
        observer.event("report_write_failed", error=f"{type(exc).__name__}: {exc}")


_ENDED_BY = {
    EXIT_OK: "every search complete, empty or truncated",
    EXIT_INCOMPLETE: "finished; some searches failed or expired",
}
