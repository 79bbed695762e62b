"""The `harvester` command: a thin shell over the library; exit codes are decided here alone.

harvester run jobs/example.toml            # harvest; resume by running it again
harvester status out/example/dt=2026-11-25
harvester validate jobs/example.toml
harvester plan jobs/example.toml
harvester sandbox --port 8080
harvester codes
harvester publish out/example/dt=2026-11-25 s3://lake/patents   # harvester.ops: the lake side
harvester export out/example/dt=2026-11-25 --format parquet
harvester merge out/example/dt=2026-11-25/part=*-of-4
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import anyio

from harvester import __version__
from harvester.api.auth import ApiKey, Credentials, credentials_from_env
from harvester.api.client import ClientSettings, PatSnapClient, base_url_from_env
from harvester.api.errors import ACTIONS, MissingCredentials, PatSnapError
from harvester.engine.events import Observer
from harvester.engine.harvest import Harvest, HarvestOptions
from harvester.engine.plan import plan_job
from harvester.engine.rate import Throttle
from harvester.engine.run import prepare, run_harvest
from harvester.jobs import Job, JobFileError, describe_changes, load_job, validate_job
from harvester.ops import (
    BadPartition,
    DestinationError,
    MergeConflict,
    MetricsFile,
    MissingExtra,
    NotPublishable,
    Partition,
    export_parquet,
    merge_runs,
    parse_partition,
    partition_dir,
    partition_job,
    publish,
)
from harvester.ops.merge import write_json
from harvester.report import (
    JsonLogObserver,
    ProgressLine,
    TextLogObserver,
    format_summary,
    is_terminal,
)
from harvester.sink import (
    CHECKPOINT_NAME,
    CheckpointCorrupt,
    CheckpointMismatch,
    OutputError,
    OutputLocked,
    Sink,
    UnknownSearch,
)
from harvester.sink.status import read_status

__all__ = ["entry", "main"]

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE, EXIT_STOPPED, EXIT_LOCKED = 0, 1, 2, 3, 4
#: Added to DESIGN.md's codes: the output could not be written (disk full, read-only).
#: Distinct from 1 so a scheduler can tell a storage problem from failed searches.
EXIT_OUTPUT = 5
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


class CliError(Exception):
    """A message for the user and the exit code that goes with it."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@contextlib.contextmanager
def exit_codes() -> Iterator[None]:
    """Map every expected failure to one paragraph on stderr and its exit code."""
    try:
        try:
            yield
        except BaseExceptionGroup as group:
            raise _single(group) from None
    except JobFileError as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc
    except MissingCredentials as exc:
        raise CliError(f"harvester: {exc.message}", EXIT_USAGE) from exc
    except CheckpointMismatch as exc:
        changes = "\n".join(f"  - {c}" for c in exc.changes)
        raise CliError(
            f"harvester: the job changed since this output directory was started:\n{changes}\n"
            "Resuming would mix two different jobs. Run with --fresh to start over in this "
            "directory, or give another --out.",
            EXIT_USAGE,
        ) from exc
    except CheckpointCorrupt as exc:
        raise CliError(f"harvester: {exc}", EXIT_USAGE) from exc
    except OutputLocked as exc:
        raise CliError(f"harvester: {exc}", EXIT_LOCKED) from exc
    except OutputError as exc:
        raise CliError(f"harvester: {exc}", EXIT_OUTPUT) from exc
    except UnknownSearch as exc:
        raise CliError(f"harvester: {exc}", EXIT_INCOMPLETE) from exc
    except (NotPublishable, MergeConflict, MissingExtra, BadPartition) as exc:
        raise CliError(f"harvester: {exc}", EXIT_USAGE) from exc
    except DestinationError as exc:  # nothing half-visible was left; publishing again resumes
        raise CliError(f"harvester: {exc}", EXIT_INCOMPLETE) from exc
    except FileNotFoundError as exc:
        raise CliError(f"harvester: {exc}", EXIT_USAGE) from exc


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one real error inside task-group wrappers (e.g. the writer's OutputError)."""
    errors = list(group.exceptions)
    while len(errors) == 1 and isinstance(errors[0], BaseExceptionGroup):
        errors = list(errors[0].exceptions)
    return errors[0] if len(errors) == 1 else group


# --- run ------------------------------------------------------------------------------


def default_out_dir(job: Job, now: datetime) -> Path:
    """`out/<job>/dt=<date>`: the date of the job's earliest created_at, else today (UTC)."""
    stamps = [s.created_at for s in job.searches if s.created_at is not None]
    day = min(stamps).astimezone(UTC).date() if stamps else now.astimezone(UTC).date()
    return Path("out") / job.settings.name / f"dt={day.isoformat()}"


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    names = ("rate", "burst", "concurrency", "shards")
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def _job_and_out(args: argparse.Namespace) -> tuple[Job, Path, Partition | None]:
    """The job (with --partition I/N: this worker's share) and its output directory
    (default out/<job>/dt=<date>, plus part=I-of-N for a partition; --out as given)."""
    job = load_job(args.job, overrides=_overrides(args))
    out_dir = Path(args.out) if args.out else default_out_dir(job, datetime.now(UTC))
    part: Partition | None = getattr(args, "partition", None)
    if part is None:
        return job, out_dir, None
    share = partition_job(job, part, rate_given=args.rate is not None)
    return share, out_dir if args.out else partition_dir(out_dir, part), part


def _observer(args: argparse.Namespace, err: TextIO) -> tuple[Observer, bool]:
    """JSON lines when asked or when stderr is not a terminal with text; else a live line."""
    if args.log_format == "json":
        return JsonLogObserver(err), False
    if is_terminal(err):
        return TextLogObserver(err), True
    return TextLogObserver(err), False


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
    )


def _client_settings(args: argparse.Namespace) -> ClientSettings:
    timeout: float | None = getattr(args, "read_timeout", None)
    return ClientSettings(read_timeout=timeout) if timeout else ClientSettings()


def _options(job: Job, *, probe_only: bool = False) -> HarvestOptions:
    return HarvestOptions(
        rate=job.settings.rate,
        burst=job.settings.burst,
        concurrency=job.settings.concurrency,
        validity_s=job.settings.validity_minutes * 60,
        grace_s=job.settings.grace_seconds,
        probe_only=probe_only,
    )


def cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`harvester run`: harvest a job into its output directory, resuming if started."""
    job, out_dir, part = _job_and_out(args)
    credentials, note = credentials_from_env(os.environ)
    base_url = base_url_from_env(os.environ, args.base_url)
    started_wall = time.time()
    with _open_sink(job, out_dir, fresh=args.fresh) as sink:
        if sink.is_complete():
            out.write(
                f"harvester: {out_dir} already holds a complete run of job "
                f"{job.settings.name!r} (_SUCCESS present); nothing to do. "
                "Use --fresh to harvest it again.\n"
            )
            return EXIT_OK
        observer, live = _observer(args, err)
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
            err.write(_JOB_DEDUPE_NOTE)
        metrics = None
        if args.metrics_file:
            metrics = MetricsFile(
                args.metrics_file,
                job=job.settings.name,
                out_dir=out_dir,
                started_at=started_wall,
                partition=part.label if part else None,
            )
        options = _options(job)
        caught: list[int] = []
        harvest = anyio.run(
            _harvest,
            job,
            sink,
            base_url,
            credentials,
            _client_settings(args),
            options,
            observer,
            live,
            err,
            caught,
            sink.run_start(default=started_wall),
            metrics,
        )
        elapsed = time.time() - started_wall
        result = sink.finish(
            run_info={
                "job_path": str(job.path),
                "base_url": base_url,
                "auth": "api_key" if isinstance(credentials, ApiKey) else "client_credentials",
                "rate": options.rate,
                "burst": options.burst,
                "concurrency": options.concurrency,
                "validity_minutes": job.settings.validity_minutes,
                "calls_this_run": harvest.stats.calls,
                **({"partition": str(part)} if part else {}),
            }
        )
        code = _conclude(job, out_dir, harvest, result, elapsed, caught, out)
        if metrics is not None:
            try:
                metrics.write_final(harvest.stats, result.totals, exit_code=code)
            except OSError as exc:
                observer.event("metrics_write_failed", path=str(metrics.path), error=str(exc))
        return code


_JOB_DEDUPE_NOTE = (
    'harvester: note: dedupe = "job" holds within this partition only; a patent found by '
    "searches of two partitions is kept once in each\n"
)


def _probe(job: Job, out_dir: Path, args: argparse.Namespace, err: TextIO) -> int:
    """Fetch page 0 of every search whose size is unknown, into the run's checkpoint.

    The pages are committed like a run's, so `run` never pays for them again; the probe
    is the first contact, so windows without a created_at start now.
    """
    credentials, note = credentials_from_env(os.environ)
    base_url = base_url_from_env(os.environ, args.base_url)
    with _open_sink(job, out_dir) as sink:
        observer, _ = _observer(args, err)
        observer.event("probe_started", job=job.settings.name, out=str(out_dir), auth=note)
        caught: list[int] = []
        harvest = anyio.run(
            _harvest,
            job,
            sink,
            base_url,
            credentials,
            _client_settings(args),
            _options(job, probe_only=True),
            observer,
            False,
            err,
            caught,
            sink.run_start(default=time.time()),
        )
    if caught:
        return EXIT_SIGNAL.get(signal.Signals(caught[0]), 130)
    if harvest.stop_error is not None:
        err.write(f"harvester: probe stopped: {harvest.stop_error}; {harvest.stop_error.advice}\n")
        return EXIT_STOPPED
    return EXIT_OK


async def _harvest(
    job: Job,
    sink: Sink,
    base_url: str,
    credentials: Credentials,
    settings: ClientSettings,
    options: HarvestOptions,
    observer: Observer,
    live: bool,
    err: TextIO,
    caught: list[int],
    run_start: float,
    metrics: MetricsFile | None = None,
) -> Harvest:
    throttle = Throttle(options.rate, options.burst)
    async with PatSnapClient(base_url, credentials, settings, pace=throttle.acquire) as client:
        harvest, receive = prepare(
            job, client, sink, options, observer, run_start=run_start, throttle=throttle
        )
        line = ProgressLine(err, harvest.snapshot) if live else None
        async with anyio.create_task_group() as tg:
            tg.start_soon(_on_signals, harvest, tg.cancel_scope, caught)
            tg.start_soon(_show_progress, harvest, line, observer)
            if metrics is not None:
                tg.start_soon(metrics.every, harvest.snapshot, 10.0, _metrics_failed(observer))
            await run_harvest(harvest, sink, receive)
            tg.cancel_scope.cancel()
        if line is not None:
            line.clear()
        return harvest


def _metrics_failed(observer: Observer) -> Callable[[OSError], None]:
    def report(exc: OSError) -> None:
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
            )


def _conclude(
    job: Job,
    out_dir: Path,
    harvest: Harvest,
    result: object,
    elapsed: float,
    caught: list[int],
    out: TextIO,
) -> int:
    """Print the summary and choose the exit code."""
    stats = harvest.stats
    totals: dict[str, object] = dict(getattr(result, "totals", {}))
    by_status: dict[str, int] = dict(totals.get("by_status", {}) or {})  # type: ignore[call-overload]
    success = bool(getattr(result, "success", False))
    advice: list[str] = []
    code = EXIT_OK
    if caught:
        code = EXIT_SIGNAL.get(signal.Signals(caught[0]), 130)
        advice.append("interrupted; run the same command again to resume (no page is paid twice)")
    elif harvest.stop_error is not None:
        code = EXIT_STOPPED
        advice.append(f"the account needs attention: {harvest.stop_error.advice}")
        advice.append("then run the same command again to resume")
    elif not success:
        code = EXIT_INCOMPLETE
        advice.append("not every search reached a final state; run the same command to resume")
    elif by_status.get("failed", 0) or by_status.get("expired", 0):
        code = EXIT_INCOMPLETE
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
    out.write(
        format_summary(
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
        + "\n"
    )
    return code


# --- validate, plan, status, codes, sandbox ------------------------------------------


def cmd_validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`harvester validate`: every problem of a job file, with file:line."""
    problems = validate_job(args.job)
    if problems:
        for problem in problems:
            err.write(f"{problem}\n")
        err.write(f"harvester: {len(problems)} problem(s) in {args.job}\n")
        return EXIT_USAGE
    job = load_job(args.job)
    out.write(f"{args.job}: ok, job {job.settings.name!r} with {len(job.searches)} searches\n")
    return EXIT_OK


def cmd_plan(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`harvester plan`: calls needed, minutes at the rate, windows that cannot be met."""
    job, out_dir, _ = _job_and_out(args)
    if args.probe:
        code = _probe(job, out_dir, args, err)
        if code != EXIT_OK:
            return code
    known: dict[str, tuple[int | None, frozenset[int], bool]] = {}
    start = time.time()
    if (out_dir / CHECKPOINT_NAME).exists():
        report = read_status(out_dir)
        for row in report.searches:
            known[row.search_id] = (row.total, row.done_offsets, row.status is not None)
        start = report.run_start or start
    plan = plan_job(
        job,
        known,
        rate=job.settings.rate,
        start=start,
        validity_s=job.settings.validity_minutes * 60,
    )
    calls = f"{plan.calls_min:,}" if plan.exact else f"{plan.calls_min:,} to {plan.calls_max:,}"
    fastest, slowest = plan.calls_min / plan.rate, plan.calls_max / plan.rate
    span = _span(fastest) if plan.exact else f"{_span(fastest)} to {_span(slowest)}"
    out.write(
        f"job {job.settings.name!r}: {len(job.searches)} searches"
        f" ({plan.final} already final in {out_dir})\n"
        f"  calls     {calls}{'' if plan.exact else ' (sizes unknown until page 0; --probe)'}\n"
        f"  time      {span} at {plan.rate:.2f} req/s\n"
    )
    if plan.missed:
        out.write(
            f"  windows   {len(plan.missed)} search(es) may miss their window"
            f"{'' if plan.exact else ' in the worst case'}, e.g.: "
            + ", ".join(s.search_id for s in plan.missed[:5])
            + "\n"
        )
    else:
        out.write("  windows   every window can be met\n")
    return EXIT_OK


def _span(seconds: float) -> str:
    """Seconds for people: 4.2 s, 12.5 min, 3.2 h."""
    if seconds < 120:
        return f"{seconds:.1f} s"  # a tenth: short runs are compared with this
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def cmd_status(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`harvester status`: per-search state and totals from the checkpoint."""
    report = read_status(Path(args.out_dir))
    out.write((report.to_json() if args.json else report.to_text()) + "\n")
    return EXIT_OK


def cmd_codes(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`harvester codes`: the error-code action table."""
    for code, info in sorted(ACTIONS.items()):
        out.write(f"{code}  {info.description:<58} {info.action.value}\n")
    out.write("other  unlisted error codes: retried a few times, then the search fails\n")
    return EXIT_OK


def cmd_sandbox(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`harvester sandbox`: the local PatSnap-compatible server."""
    from harvester.sandbox.server import config_from_args, serve_forever

    config = config_from_args(args)

    def ready(url: str) -> None:
        out.write(f"PatSnap sandbox listening on {url}\n")
        out.write(f"  client id/secret: {config.client_id} / (see --help)\n")
        out.flush()

    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(
            functools.partial(serve_forever, config, host=args.host, port=args.port, on_ready=ready)
        )
    return EXIT_OK


# --- publish, export, merge (logic in harvester.ops) ---------------------------------


def cmd_publish(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`harvester publish`: copy a finished run to a lake path or URL."""
    result = publish(args.out_dir, args.dest)
    if result.unchanged:
        out.write(f"harvester: {result.destination} already holds this run; nothing changed\n")
        return EXIT_OK
    out.write(
        f"harvester: published {args.out_dir} to {result.destination}: "
        f"{len(result.uploaded)} file(s) written, {len(result.kept)} already there"
        + (f", {len(result.deleted)} stale removed" if result.deleted else "")
        + "\n"
    )
    return EXIT_OK


def cmd_export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`harvester export`: typed Parquet beside (or instead of) a finished run's NDJSON."""
    result = export_parquet(args.out_dir, replace=args.replace)
    done = "wrote" if result.written else "already had"
    out.write(
        f"harvester: {done} {len(result.files)} Parquet file(s), {result.records:,} records, "
        f"in {args.out_dir}"
        + (f"; removed {len(result.removed)} NDJSON shard(s)" if result.removed else "")
        + "\n"
    )
    return EXIT_OK


def cmd_merge(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`harvester merge`: one run description from the partitions' finished runs."""
    merged = merge_runs(args.out_dirs)
    if args.out is None:
        out.write(json.dumps(merged, indent=2) + "\n")
        return EXIT_OK
    write_json(merged, args.out)
    totals = merged["totals"]
    out.write(
        f"harvester: merged {len(merged['runs'])} run(s) of job {merged['job_name']!r} into "
        f"{args.out}: {totals.get('searches', 0):,} searches, {totals.get('records', 0):,} "
        "records\n"
    )
    return EXIT_OK


# --- parser --------------------------------------------------------------------------

Command = Callable[[argparse.Namespace, TextIO, TextIO], int]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with an example in every --help."""
    from harvester.sandbox.server import add_arguments as sandbox_arguments

    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="harvester",
        formatter_class=fmt,
        description="Harvest PatSnap image-search results into sharded, deduplicated NDJSON.",
        epilog="example:\n  PATSNAP_CLIENT_ID=... PATSNAP_CLIENT_SECRET=... "
        "harvester run jobs/example.toml\n\n"
        "exit codes: 0 all complete/empty/truncated, 1 some failed or expired, "
        "2 bad usage or job file,\n  3 stopped by the platform (resumable), "
        "4 output locked, 5 output not writable (disk full, read-only; resumable),\n"
        "  130/143 interrupted (resumable)",
    )
    parser.add_argument("--version", action="version", version=f"harvester {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="harvest a job (resumes when run again)",
        formatter_class=fmt,
        description="Harvest every reachable hit of every search in JOB. Credentials come from "
        "PATSNAP_CLIENT_ID + PATSNAP_CLIENT_SECRET, or PATSNAP_API_KEY.",
        epilog="example:\n  harvester run jobs/example.toml --rate 5 --out /data/designs/today\n"
        "  (run the same command again after an interruption to resume)",
    )
    run.add_argument("job", type=Path, help="job file (TOML)")
    _job_flags(run)
    run.add_argument("--base-url", help="API base URL (default PATSNAP_BASE_URL or PatSnap's)")
    run.add_argument(
        "--read-timeout",
        type=_positive_seconds,
        metavar="SECONDS",
        help="give up on an answer after this long without data and retry the page (default 30)",
    )
    run.add_argument(
        "--fresh",
        action="store_true",
        help="discard this output directory's previous run and start over",
    )
    run.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text (live line on a terminal) or JSON lines on stderr",
    )
    run.add_argument(
        "--metrics-file",
        type=Path,
        metavar="PATH",
        help="write Prometheus metrics here (atomically, every 10 s and at the end), "
        "e.g. for node_exporter's textfile collector",
    )
    run.set_defaults(func=cmd_run)

    validate = sub.add_parser(
        "validate",
        help="check a job file",
        formatter_class=fmt,
        description="Check a job file and its ids files; print every problem with file:line.",
        epilog="example:\n  harvester validate jobs/example.toml",
    )
    validate.add_argument("job", type=Path)
    validate.set_defaults(func=cmd_validate)

    plan = sub.add_parser(
        "plan",
        help="calls and time a job needs, without calling the API",
        formatter_class=fmt,
        description="Count the calls a job needs (exact where page 0 is known from an earlier "
        "run or a probe, a range otherwise), the time at the job's rate, and which windows "
        "cannot be met. Makes no API call unless --probe is given.",
        epilog="example:\n  harvester plan jobs/example.toml --rate 5\n"
        "  harvester plan jobs/example.toml --probe   # exact: pays page 0, which run reuses",
    )
    plan.add_argument("job", type=Path)
    _job_flags(plan)
    plan.add_argument(
        "--probe",
        action="store_true",
        help="fetch page 0 of searches of unknown size (committed to the run's checkpoint, "
        "so `run` does not pay for it again) to make the count exact",
    )
    plan.add_argument("--base-url", help="API base URL, with --probe")
    plan.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log format of --probe's events on stderr",
    )
    plan.set_defaults(func=cmd_plan)

    status = sub.add_parser(
        "status",
        help="progress of a run from its checkpoint",
        formatter_class=fmt,
        description="Per-search state and totals from OUT_DIR's checkpoint; works while a run "
        "is going.",
        epilog="example:\n  harvester status out/example/dt=2026-11-25 --json",
    )
    status.add_argument("out_dir", type=Path)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)

    codes = sub.add_parser(
        "codes",
        help="the error-code action table",
        formatter_class=fmt,
        description="What the harvester does for each PatSnap error code.",
        epilog="example:\n  harvester codes",
    )
    codes.set_defaults(func=cmd_codes)

    sandbox = sub.add_parser(
        "sandbox",
        help="a local PatSnap-compatible server",
        formatter_class=fmt,
        description="Serve a local PatSnap-compatible API on 127.0.0.1 for demos and tests.",
        epilog="example:\n  harvester sandbox --port 8080 --rate 20 --fault-rate 0.1\n"
        "  PATSNAP_BASE_URL=http://127.0.0.1:8080 PATSNAP_CLIENT_ID=sandbox-client "
        "PATSNAP_CLIENT_SECRET=sandbox-secret harvester run jobs/example.toml",
    )
    sandbox_arguments(sandbox)
    sandbox.set_defaults(func=cmd_sandbox)
    _ops_parsers(sub, fmt)
    return parser


def _ops_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], fmt: type[argparse.HelpFormatter]
) -> None:
    publish = sub.add_parser(
        "publish",
        help="copy a finished run to a lake path or URL",
        formatter_class=fmt,
        description="Verify a finished run (its _SUCCESS and every file's sha256) and copy it "
        "to DEST/job=<name>/dt=<date>/ (plus part=I-of-N for a partition): data files "
        "first, manifest.json next, _SUCCESS last. Publishing again changes nothing. A URL "
        "needs the s3 extra: pip install 'patsnap-harvester[s3]'. Exit 2: the run is "
        "unfinished or changed (nothing written); 1: the destination failed (run it again).",
        epilog="example:\n  harvester publish out/nightly/dt=2026-11-25 s3://lake/patents\n"
        "  harvester publish out/nightly/dt=2026-11-25 /mnt/lake/patents",
    )
    publish.add_argument("out_dir", type=Path, help="the run's output directory")
    publish.add_argument("dest", help="a directory, or an fsspec URL such as s3://bucket/prefix")
    publish.set_defaults(func=cmd_publish)

    export = sub.add_parser(
        "export",
        help="typed Parquet files from a finished run",
        formatter_class=fmt,
        description="Write part-NNNNN.parquet beside each NDJSON shard of a finished run (same "
        "records, typed columns), list them in manifest.json and re-stamp _SUCCESS. Needs "
        "the parquet extra: pip install 'patsnap-harvester[parquet]'.",
        epilog="example:\n  harvester export out/nightly/dt=2026-11-25 --format parquet\n"
        "  harvester export out/nightly/dt=2026-11-25 --format parquet --replace",
    )
    export.add_argument("out_dir", type=Path, help="the run's output directory")
    export.add_argument("--format", choices=("parquet",), default="parquet")
    export.add_argument(
        "--replace",
        action="store_true",
        help="delete the NDJSON shards afterwards (the directory can no longer be resumed)",
    )
    export.set_defaults(func=cmd_export)

    merge = sub.add_parser(
        "merge",
        help="one run description from the partitions of a job",
        formatter_class=fmt,
        description="Check that the runs are finished partitions of the same job file, each "
        "once, with no search in two of them, and write one description with summed totals. "
        "OUT_DIRs may be the published copies (URLs).",
        epilog="example:\n  harvester merge out/nightly/dt=2026-11-25/part=*-of-4 "
        "--out out/nightly/dt=2026-11-25/merged.json",
    )
    merge.add_argument("out_dirs", nargs="+", metavar="OUT_DIR")
    merge.add_argument("--out", help="write the description here (path or URL), not to stdout")
    merge.set_defaults(func=cmd_merge)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _job_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="output directory (default out/<job>/dt=<date>)")
    parser.add_argument("--rate", type=float, help="requests per second for the account")
    parser.add_argument("--burst", type=int, help="most calls sent at once (default 1)")
    parser.add_argument("--concurrency", type=int, help="calls in flight at most")
    parser.add_argument("--shards", type=int, help="output part files")
    parser.add_argument(
        "--partition",
        type=_partition_arg,
        metavar="I/N",
        help="take worker I's share of N (1-based; by crc32 of search_id); default output "
        "<out>/part=I-of-N, default rate the job's rate / N",
    )


def _partition_arg(text: str) -> Partition:
    try:
        return parse_partition(text)
    except BadPartition as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(
    argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """Run one command; returns its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command = args.func
    try:
        with exit_codes():
            return func(args, out, err)
    except CliError as exc:
        if args.debug:
            raise
        err.write(f"{exc}\n")
        return exc.code
    except PatSnapError as exc:
        if args.debug:
            raise
        err.write(f"harvester: {exc}\n")
        return EXIT_STOPPED


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
