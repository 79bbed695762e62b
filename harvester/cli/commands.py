"""The short commands: validate, plan, status, codes, sandbox, publish, export, merge."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import time
from pathlib import Path
from typing import TextIO

import anyio

from harvester.api.errors import ACTIONS, HTTP_ACTIONS, Action
from harvester.cli.exits import EXIT_OK, EXIT_USAGE, Terminated
from harvester.cli.run import console_of, job_and_out, probe
from harvester.engine.concurrency import in_flight_for
from harvester.engine.plan import plan_job
from harvester.engine.rate import DEFAULT_MARGIN
from harvester.jobs import load_job, validate_job
from harvester.ops import (
    export_parquet,
    merge_runs,
    publish,
)
from harvester.ops.merge import write_json
from harvester.report import counted
from harvester.sink import (
    CHECKPOINT_NAME,
    MANIFEST_NAME,
)
from harvester.sink.status import read_status

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
    job, out_dir, _ = job_and_out(args)
    if args.probe:
        code = probe(job, out_dir, args, err)
        if code != EXIT_OK:
            return code
    known: dict[str, tuple[int | None, frozenset[int], bool]] = {}
    start = time.time()
    if (out_dir / CHECKPOINT_NAME).exists():
        report = read_status(out_dir)
        for row in report.searches:
            known[row.search_id] = (row.total, row.done_offsets, row.status is not None)
        start = report.run_start or start
    latency = measured_latency(out_dir)
    pinned = job.settings.concurrency
    in_flight = job.settings.max_concurrency if pinned == "auto" else pinned
    plan = plan_job(
        job,
        known,
        rate=job.settings.rate,
        start=start,
        validity_s=job.settings.validity_minutes * 60,
        latency_s=latency[0] if latency else None,
        in_flight=in_flight,
    )
    fastest, slowest = plan.calls_min / plan.rate, plan.calls_max / plan.rate
    console = console_of(args, out, err)
    if console.json:
        console.emit(
            "plan",
            stdout=True,
            job=job.settings.name,
            searches=len(job.searches),
            already_final=plan.final,
            out=str(out_dir),
            exact=plan.exact,
            calls_min=plan.calls_min,
            calls_max=plan.calls_max,
            seconds_min=round(fastest, 1),
            seconds_max=round(slowest, 1),
            rate=plan.rate,
            may_miss_window=len(plan.missed),
            for_example=[s.search_id for s in plan.missed[:20]],
        )
        return EXIT_OK
    calls = f"{plan.calls_min:,}" if plan.exact else f"{plan.calls_min:,} to {plan.calls_max:,}"
    span = _span(fastest) if plan.exact else f"{_span(fastest)} to {_span(slowest)}"
    out.write(
        f"job {job.settings.name!r}: {len(job.searches)} searches"
        f" ({plan.final} already final in {out_dir})\n"
        f"  calls     {calls}{'' if plan.exact else ' (sizes unknown until page 0; --probe)'}\n"
        f"  time      {span} at {plan.rate:.2f} req/s\n"
    )
    if plan.creations or plan.uploads:
        out.write(
            f"  images    {counted(plan.creations, 'search', 'searches')} to create (their "
            "first pages, counted above; more if a window closes), "
            f"{counted(plan.uploads, 'upload', 'uploads')} at most\n"
        )
    if latency is not None:
        out.write(_latency_line(latency, plan.pool_rate, pinned, in_flight, job.settings.rate))
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


def measured_latency(out_dir: Path) -> tuple[float, float] | None:
    """(p50, p90) seconds that the last run into `out_dir` measured (its manifest), if any."""
    try:
        settings = json.loads((out_dir / MANIFEST_NAME).read_text()).get("settings", {})
        p50, p90 = settings.get("latency_p50"), settings.get("latency_p90")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(p50, int | float) or not isinstance(p90, int | float) or p50 <= 0:
        return None
    return float(p50), float(p90)


def _latency_line(
    latency: tuple[float, float],
    pool_rate: float | None,
    concurrency: object,
    in_flight: int,
    rate: float,
) -> str:
    line = f"  latency   p50 {latency[0]:.2f} s, p90 {latency[1]:.2f} s (measured by the last run)"
    if pool_rate is not None and pool_rate < rate:
        setting = "concurrency" if concurrency != "auto" else "max_concurrency"
        needed = in_flight_for(rate * DEFAULT_MARGIN, latency[1])
        line += (
            f"; {in_flight} in flight carry only {pool_rate:.1f} req/s at that latency: "
            f"set {setting} to {needed} or more to fill {rate:g} req/s"
        )
    return line + "\n"


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
    out.write(
        f"{'other':<8}  {'error codes not listed above':<58} "
        f"{Action.RETRY_THEN_FAIL.value}\n\nWithout an error_code in the body:\n"
    )
    for what, action in HTTP_ACTIONS:
        out.write(f"  {what:<66} {action}\n")
    return EXIT_OK


def cmd_sandbox(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`harvester sandbox`: the local PatSnap-compatible server."""
    from harvester.sandbox.server import SandboxConfig, config_from_args, serve_forever

    builtin_secret = SandboxConfig().client_secret  # printed: the sandbox's, not a real one

    config = config_from_args(args)

    def ready(url: str) -> None:
        out.write(f"PatSnap sandbox listening on {url}\n")
        secret = config.client_secret if config.client_secret == builtin_secret else "(as given)"
        out.write(f"  client id/secret: {config.client_id} / {secret}\n")
        out.flush()

    with contextlib.suppress(KeyboardInterrupt, Terminated):  # Ctrl-C, SIGTERM: a clean stop
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
