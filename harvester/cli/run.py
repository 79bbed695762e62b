"""`harvester run` (and `plan --probe`): wire job, client, pool and sink; print the summary."""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from harvester.api.auth import ApiKey, credentials_from_env
from harvester.api.client import ClientSettings, base_url_from_env
from harvester.cli.exits import (
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_UNREACHABLE,
    run_exit,
)
from harvester.cli.logs import Console
from harvester.cli.pool import PoolRun, run_pool
from harvester.cli.run_report import close_report, open_timeline
from harvester.engine.breaker import Unreachable
from harvester.engine.events import Observer
from harvester.engine.harvest import Harvest, HarvestOptions
from harvester.jobs import Job, describe_changes, load_job
from harvester.ops.partition import Partition, partition_dir, partition_job
from harvester.report import (
    RunSummary,
    is_terminal,
)
from harvester.sink import (
    FinishResult,
    OutputError,
    Sink,
)

# --- run ------------------------------------------------------------------------------


def default_out_dir(job: Job, now: datetime) -> Path:
    """`out/<job>/dt=<date>`: the date of the job's earliest created_at, else today (UTC)."""
    stamps = [s.created_at for s in job.searches if s.created_at is not None]
    day = min(stamps).astimezone(UTC).date() if stamps else now.astimezone(UTC).date()
    return Path("out") / job.settings.name / f"dt={day.isoformat()}"


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    names = ("rate", "burst", "concurrency", "max_concurrency", "shards", "give_up_after")
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def job_and_out(args: argparse.Namespace) -> tuple[Job, Path, Partition | None]:
    """The job (with --partition I/N: this worker's share) and its output directory
    (default out/<job>/dt=<date>, plus part=I-of-N for a partition; --out as given)."""
    job = load_job(args.job, overrides=_overrides(args))
    out_dir = Path(args.out) if args.out else default_out_dir(job, datetime.now(UTC))
    part: Partition | None = getattr(args, "partition", None)
    if part is None:
        return job, out_dir, None
    share = partition_job(job, part, rate_given=args.rate is not None)
    return share, out_dir if args.out else partition_dir(out_dir, part), part


def console_of(args: argparse.Namespace, out: TextIO, err: TextIO) -> Console:
    """The command's console (main() sets it; a direct call gets a text one)."""
    console: Console | None = getattr(args, "console", None)
    return console if console is not None else Console(out, err, json=False)


def _observer(console: Console) -> tuple[Observer, bool]:
    """JSON lines when asked; text events, with a live line when stderr is a terminal."""
    return console.observer, not console.json and is_terminal(console.err)


def _open_sink(job: Job, out_dir: Path, *, fresh: bool = False) -> Sink:
    """The run's output directory: locked, recovered, checked against the job."""
    return Sink.open(
        out_dir,
        job_name=job.settings.name,
        job_sha256=job.sha256,
        fingerprint=job.fingerprint(),
        shards=job.settings.shards,
        dedupe=job.settings.dedupe,
        fresh=fresh,
        describe_changes=describe_changes,
        images={s.search_id: s.image for s in job.searches if s.image is not None},
    )


def _client_settings(args: argparse.Namespace, options: HarvestOptions) -> ClientSettings:
    # A connection for every call the pool may have in flight: a call that took its slot
    # and then waited for a connection would leave late and bunched with others, which a
    # burst-1 limit refuses.
    most = options.concurrency or options.max_concurrency
    pool = max(ClientSettings().pool_size, most + 2)
    timeout: float | None = getattr(args, "read_timeout", None)
    if timeout:
        return ClientSettings(read_timeout=timeout, pool_size=pool)
    return ClientSettings(pool_size=pool)


def _options(job: Job, *, probe_only: bool = False) -> HarvestOptions:
    return HarvestOptions(
        rate=job.settings.rate,
        burst=job.settings.burst,
        concurrency=None if job.settings.concurrency == "auto" else job.settings.concurrency,
        max_concurrency=job.settings.max_concurrency,
        validity_s=job.settings.validity_minutes * 60,
        grace_s=job.settings.grace_seconds,
        probe_only=probe_only,
        give_up_after=job.settings.give_up_after,
        recreate=job.settings.recreate,
    )


def cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`harvester run`: harvest a job into its output directory, resuming if started."""
    console = console_of(args, out, err)
    job, out_dir, part = job_and_out(args)
    credentials, note = credentials_from_env(os.environ)
    base_url = base_url_from_env(os.environ, args.base_url)
    started_wall = time.time()
    with _open_sink(job, out_dir, fresh=args.fresh) as sink:
        if sink.is_complete():
            console.say(
                f"harvester: {out_dir} already holds a complete run of job "
                f"{job.settings.name!r} (_SUCCESS present); nothing to do. "
                "Use --fresh to harvest it again.",
                event="already_complete",
                stdout=True,
                out=str(out_dir),
            )
            return EXIT_OK
        observer, live = _observer(console)
        observer.event(
            "run_started",
            job=job.settings.name,
            out=str(out_dir),
            auth=note,
            base_url=base_url,
            searches=len(job.searches),
            **({"partition": str(part)} if part else {}),
        )
        if part and job.settings.dedupe == "job":
            console.say(_JOB_DEDUPE_NOTE, event="note")
        metrics = None
        if args.metrics_file:
            from harvester.ops.metrics import MetricsFile  # only a run that writes one

            metrics = MetricsFile(
                args.metrics_file,
                job=job.settings.name,
                out_dir=out_dir,
                started_at=started_wall,
                partition=part.label if part else None,
            )
        options = _options(job)
        timeline = open_timeline(job, sink, options, part)
        observer = timeline.observing(observer)
        try:
            pool = PoolRun(
                job,
                sink,
                base_url,
                credentials,
                _client_settings(args, options),
                options,
                observer,
                console,
                live=live,
                metrics=metrics,
                timeline=timeline,
            )
            harvest, caught = run_pool(pool, started=started_wall)
            elapsed = time.time() - started_wall
            harvest.snapshot()  # fills in the latency figures for the manifest and the summary
            result = sink.finish(
                run_info={
                    "job_path": str(job.path),
                    "base_url": base_url,
                    "auth": "api_key" if isinstance(credentials, ApiKey) else "client_credentials",
                    "rate": options.rate,
                    "burst": options.burst,
                    "concurrency": job.settings.concurrency,
                    "max_concurrency": options.max_concurrency,
                    # measured, for `plan` (None when no call was answered)
                    "latency_p50": harvest.stats.latency_p50,
                    "latency_p90": harvest.stats.latency_p90,
                    "validity_minutes": job.settings.validity_minutes,
                    "calls_this_run": harvest.stats.calls,
                    **({"partition": str(part)} if part else {}),
                    **_image_settings(job, harvest),
                }
            )
        except OutputError as exc:  # exit 5: still leave the picture, if the disk lets us
            close_report(timeline, sink, observer, EXIT_OUTPUT, str(exc), None, unfinished=True)
            raise
        code = _conclude(job, out_dir, base_url, harvest, result, elapsed, caught, console)
        close_report(timeline, sink, observer, code, harvest.stats.stop_reason, harvest)
        if metrics is not None:
            try:
                metrics.write_final(harvest.stats, result.totals, exit_code=code)
            except OSError as exc:
                observer.event("metrics_write_failed", path=str(metrics.path), error=str(exc))
        return code


def _image_settings(job: Job, harvest: Harvest) -> dict[str, object]:
    """The manifest's image settings and counts, for a job with images (else nothing)."""
    if not any(search.is_image for search in job.searches):
        return {}
    stats = harvest.stats
    return {
        "recreate": job.settings.recreate,
        "creations_this_run": stats.creations,
        "uploads_this_run": stats.uploads,
    }


_JOB_DEDUPE_NOTE = (
    'harvester: note: dedupe = "job" holds within this partition only; a patent found by '
    "searches of two partitions is kept once in each"
)


def probe(job: Job, out_dir: Path, args: argparse.Namespace, err: TextIO) -> int:
    """Fetch page 0 of every search whose size is unknown, into the run's checkpoint.

    The pages are committed like a run's, so `run` never pays for them again; the probe
    is the first contact, so windows without a created_at start now.
    """
    console = console_of(args, err, err)
    credentials, note = credentials_from_env(os.environ)
    base_url = base_url_from_env(os.environ, args.base_url)
    with _open_sink(job, out_dir) as sink:
        observer, _ = _observer(console)
        observer.event("probe_started", job=job.settings.name, out=str(out_dir), auth=note)
        options = _options(job, probe_only=True)
        # The probe's calls are paid: they get a segment of the timeline, and the report
        # shows them. A finished directory is left as it is (its manifest lists its
        # report); there is nothing left to probe in it anyway.
        timeline = None
        if not sink.is_complete():
            timeline = open_timeline(job, sink, options, None, probe=True)
            observer = timeline.observing(observer)
        client = _client_settings(args, options)
        pool = PoolRun(
            job, sink, base_url, credentials, client, options, observer, console, timeline=timeline
        )
        try:
            harvest, caught = run_pool(pool, started=time.time())
        except OutputError as exc:  # exit 5: still end the segment, if the disk lets us
            if timeline is not None:
                close_report(timeline, sink, observer, EXIT_OUTPUT, str(exc), None, unfinished=True)
            raise
        code = run_exit(
            caught=caught,
            stopped=harvest.stop_error is not None,
            unreachable=harvest.unreachable is not None,
            success=True,  # a probe makes nothing final that a run would not
            by_status={},
        )
        if timeline is not None:  # drawn from the checkpoint; a probe writes no closing files
            reason = harvest.stats.stop_reason or _PROBED
            close_report(timeline, sink, observer, code, reason, harvest, unfinished=True)
    console.result |= {"calls": harvest.stats.calls}
    if harvest.unreachable is not None and code == EXIT_UNREACHABLE:
        pending = harvest.stats.searches - harvest.stats.done
        console.say(
            unreachable_message(base_url, harvest.unreachable, pending, probe=True),
            event="error",
            exit_code=code,
        )
    elif harvest.stop_error is not None and not caught:
        console.say(
            f"harvester: probe stopped: {harvest.stop_error}; {harvest.stop_error.advice}",
            event="error",
            exit_code=code,
        )
    return code


_PROBED = "plan --probe: page 0 of each search of unknown size"


def unreachable_message(base_url: str, verdict: Unreachable, pending: int, *, probe: bool) -> str:
    """Exit 6 in one paragraph: where, what failed last, and what to do."""
    made = "the probe made nothing final" if probe else "nothing was made final"
    return (
        f"harvester: PatSnap at {base_url} could not be reached: no call was answered for "
        f"{verdict.silent_s:.0f} s ({verdict.failures} failed calls; last error: "
        f"{verdict.last_error}). Stopped: {made}, {pending} search(es) stay pending and no "
        "_SUCCESS was written. Check the base URL (--base-url or PATSNAP_BASE_URL), the "
        "network, DNS or VPN, then run the same command again: it resumes where it stopped "
        "and pays no page twice."
    )


def _conclude(
    job: Job,
    out_dir: Path,
    base_url: str,
    harvest: Harvest,
    result: FinishResult,
    elapsed: float,
    caught: list[int],
    console: Console,
) -> int:
    """Print the summary and choose the exit code."""
    stats = harvest.stats
    totals: dict[str, Any] = result.totals
    by_status: dict[str, int] = dict(totals.get("by_status") or {})
    success = result.success
    pending = max(0, len(job.searches) - sum(by_status.values()))
    code = run_exit(
        caught=caught,
        stopped=harvest.stop_error is not None,
        unreachable=harvest.unreachable is not None,
        success=success,
        by_status=by_status,
    )
    advice: list[str] = []
    if caught:
        advice.append("interrupted; run the same command again to resume (no page is paid twice)")
    elif harvest.stop_error is not None:
        advice.append(f"the account needs attention: {harvest.stop_error.advice}")
        advice.append("then run the same command again to resume")
    elif harvest.unreachable is not None:
        advice.append(
            "check the base URL, network, DNS or VPN; then run the same command again to resume"
        )
    elif not success:
        advice.append("not every search reached a final state; run the same command to resume")
    else:
        if by_status.get("expired"):
            advice.append(
                "expired searches are past their window; create them again on "
                "PatSnap and harvest the new search_ids"
            )
        if by_status.get("failed"):
            advice.append(
                f"see error_code/error_msg of failed searches in {out_dir}/searches.jsonl"
            )
    if success:
        advice.append(f"data: {out_dir}/part-*.jsonl.gz (manifest.json, _SUCCESS)")
    summary = RunSummary(
        job_name=job.settings.name,
        out_dir=str(out_dir),
        totals=totals,
        by_status=by_status,
        stats=stats,
        elapsed=elapsed,
        success=success,
        stop_reason=stats.stop_reason,
        advice=advice,
    )
    console.result |= {
        "searches": len(job.searches),
        "by_status": by_status,
        "pending": pending,
        "records": totals.get("records", 0),
        "calls": stats.calls,
        "retries": stats.retries,
        "success": success,
    }
    if console.json:
        console.emit("summary", stdout=True, **summary.fields())
    else:
        console.out.write(summary.text() + "\n")
    if harvest.unreachable is not None and not caught and harvest.stop_error is None:
        console.say(
            unreachable_message(base_url, harvest.unreachable, pending, probe=False),
            event="error",
            exit_code=EXIT_UNREACHABLE,
        )
    return code
