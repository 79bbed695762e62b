"""The argument parser, with an example in every --help."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TextIO

from harvester import __version__
from harvester.ops.errors import BadPartition
from harvester.ops.partition import Partition, parse_partition

# --- parser --------------------------------------------------------------------------

Command = Callable[[argparse.Namespace, TextIO, TextIO], int]


def _lazy(module: str, name: str) -> Command:
    """The command `name` of `harvester.cli.<module>`, imported when it runs: a command
    loads only its own modules (a run's start-up CPU is counted in figure 1b)."""

    def command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
        func: Command = getattr(importlib.import_module(f"harvester.cli.{module}"), name)
        return func(args, out, err)

    command.__name__ = command.__qualname__ = name
    return command


cmd_run = _lazy("run", "cmd_run")
cmd_report = _lazy("report_cmd", "cmd_report")
cmd_validate = _lazy("commands", "cmd_validate")
cmd_plan = _lazy("commands", "cmd_plan")
cmd_status = _lazy("commands", "cmd_status")
cmd_codes = _lazy("commands", "cmd_codes")
cmd_sandbox = _lazy("commands", "cmd_sandbox")
cmd_publish = _lazy("commands", "cmd_publish")
cmd_export = _lazy("commands", "cmd_export")
cmd_merge = _lazy("commands", "cmd_merge")


class UsageProblem(Exception):
    """Bad usage, raised instead of printed (so --log-format json can say it as an event)."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.usage = usage  #: the command's usage line


class _RaisingParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are raised, not printed: subparsers inherit it."""

    def error(self, message: str) -> NoReturn:
        raise UsageProblem(f"{self.prog}: error: {message}", self.format_usage().strip())


def build_parser(*, raise_usage: bool = False) -> argparse.ArgumentParser:
    """The argument parser, with an example in every --help; `raise_usage`: usage errors
    raise UsageProblem instead of printing to stderr and exiting."""
    from harvester.sandbox.options import add_arguments as sandbox_arguments

    fmt = argparse.RawDescriptionHelpFormatter
    parser_class = _RaisingParser if raise_usage else argparse.ArgumentParser
    parser = parser_class(
        prog="harvester",
        formatter_class=fmt,
        description="Harvest PatSnap image-search results into sharded, deduplicated NDJSON.",
        epilog="example:\n  PATSNAP_CLIENT_ID=... PATSNAP_CLIENT_SECRET=... "
        "harvester run jobs/example.toml\n\n"
        "exit codes: 0 all complete/empty/truncated, 1 some failed or expired, "
        "2 bad usage or job file,\n  3 stopped by the platform (resumable), "
        "4 output locked, 5 output not writable (disk full, read-only; resumable),\n"
        "  6 the API could not be reached (nothing made final; retry later, resumable),\n"
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
    _give_up_flag(run)
    run.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text (live line on a terminal) or json: every line on stdout and stderr is "
        "one JSON object, the last one run_finished",
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
        description="Check a job file, its ids and images files and its local images (JPG or\n"
        "PNG, at most 4 MB); print every problem with file:line.",
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
    _give_up_flag(plan)
    plan.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text, or json: every line on stdout and stderr is one JSON object",
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

    report = sub.add_parser(
        "report",
        help="write a run's report.html again (also while it runs)",
        formatter_class=fmt,
        description="Draw OUT_DIR/report.html (numbers, charts over the run's time, failed and "
        "expired searches) from the run's files and timeline. Every run writes it when it "
        "ends; this writes it again, also while a run is going (then read-only, from the "
        "checkpoint). One self-contained file: it opens offline.",
        epilog="example:\n  harvester report out/example/dt=2026-11-25 --open",
    )
    report.add_argument("out_dir", type=Path)
    report.add_argument("--open", action="store_true", help="open it in your web browser")
    report.set_defaults(func=cmd_report)

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
        description="Serve a local PatSnap-compatible API on 127.0.0.1 for demos and tests. "
        "Its built-in OAuth client is id sandbox-client, secret sandbox-secret "
        "(change them with --client-id/--client-secret).",
        epilog="example:\n  harvester sandbox --rate 20 --fault-rate 0.1      # port 8765\n"
        "  PATSNAP_BASE_URL=http://127.0.0.1:8765 PATSNAP_CLIENT_ID=sandbox-client "
        "PATSNAP_CLIENT_SECRET=sandbox-secret harvester run jobs/example.toml",
    )
    sandbox_arguments(sandbox)
    sandbox.set_defaults(func=cmd_sandbox)
    _ops_parsers(sub, fmt)
    for command in sub.choices.values():  # `harvester run JOB --debug` works too
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
        )
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
        "needs the s3 extra: pip install '.[s3]' (from the clone). Exit 2: the run is "
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
        "the parquet extra: pip install '.[parquet]' (from the clone).",
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


def _give_up_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--give-up-after",
        type=_positive_seconds,
        metavar="SECONDS",
        help="stop with exit 6 when no call is answered this long (API down, wrong URL, "
        "no network); nothing is made final and running again resumes (default: the "
        "job's give_up_after, else 60)",
    )


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
    parser.add_argument(
        "--concurrency",
        type=_concurrency_arg,
        help='calls in flight: "auto" (default; rate x observed latency) or a number that pins it',
    )
    parser.add_argument(
        "--max-concurrency",
        type=int,
        metavar="N",
        help="the most calls in flight under auto (default 64)",
    )
    parser.add_argument("--shards", type=int, help="output part files")
    parser.add_argument(
        "--partition",
        type=_partition_arg,
        metavar="I/N",
        help="take worker I's share of N (1-based; by crc32 of search_id); default output "
        "<out>/part=I-of-N, default rate the job's rate / N",
    )


def _concurrency_arg(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'must be "auto" or a number, got {text!r}') from None


def _partition_arg(text: str) -> Partition:
    try:
        return parse_partition(text)
    except BadPartition as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
