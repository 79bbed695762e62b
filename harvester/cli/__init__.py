"""The `harvester` command: a thin shell over the library; exit codes are decided here alone.

harvester run jobs/example.toml            # harvest; resume by running it again
harvester status out/example/dt=2026-11-25
harvester validate jobs/example.toml
harvester plan jobs/example.toml
harvester sandbox                          # on 127.0.0.1:8765
harvester codes
harvester publish out/example/dt=2026-11-25 s3://lake/patents   # harvester.ops: the lake side
harvester export out/example/dt=2026-11-25 --format parquet
harvester merge out/example/dt=2026-11-25/part=*-of-4
"""

from __future__ import annotations

import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import TextIO

from harvester.api.errors import PatSnapError
from harvester.cli.exits import (
    EXIT_INTERNAL,
    EXIT_STOPPED,
    EXIT_USAGE,
    CliError,
    Terminated,
    exit_codes,
    raise_terminated,
    signal_exit,
)
from harvester.cli.logs import Console, capture_logs, wants_json
from harvester.cli.parser import Command, UsageProblem, build_parser
from harvester.jobs import JobFileError

__all__ = ["entry", "main"]


def main(
    argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """Run one command; returns its exit code.

    With `--log-format json` anywhere in argv, every line written (usage errors included)
    is a JSON object and the last one is `run_finished`.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    console = Console(out, err, json=wants_json(argv))
    debug = "--debug" in argv
    # Python lets only the main thread set handlers (main() may be called from others).
    handles_signals = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, raise_terminated) if handles_signals else None
    code = EXIT_INTERNAL
    try:
        with capture_logs(console):
            code = _dispatch(argv, console, debug)
    except (KeyboardInterrupt, Terminated) as exc:
        code = signal_exit(signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)
        console.say(
            "harvester: interrupted; run the same command again (a run resumes)", event="error"
        )
    except SystemExit as exc:  # argparse: --help, --version, and text-mode usage errors
        if not console.json:
            raise
        code = exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except Exception as exc:
        if debug or not console.json:
            raise
        console.emit(
            "internal_error",
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
        )
    finally:
        if handles_signals:
            signal.signal(signal.SIGTERM, previous)
        console.finished(code)
    return code


def _dispatch(argv: list[str], console: Console, debug: bool) -> int:
    parser = build_parser(raise_usage=console.json)
    try:
        args = parser.parse_args(argv)
    except UsageProblem as exc:
        console.say(str(exc), event="usage_error", usage=exc.usage)
        return EXIT_USAGE
    args.console = console
    func: Command = args.func
    try:
        with exit_codes():
            return func(args, console.out, console.err)
    except CliError as exc:
        if debug:
            raise
        if console.json and isinstance(exc.__cause__, JobFileError):
            _job_problems(console, exc.__cause__)
        else:
            console.say(str(exc), event="error", exit_code=exc.code)
        return exc.code
    except PatSnapError as exc:
        if debug:
            raise
        console.say(f"harvester: {exc}", event="error", exit_code=EXIT_STOPPED)
        return EXIT_STOPPED


def _job_problems(console: Console, error: JobFileError) -> None:
    """One event per problem of a job file, with file, line, field and message."""
    for problem in error.problems:
        file, line = problem.location, None
        head, _, tail = problem.location.rpartition(":")
        if head and tail.isdigit():
            file, line = head, int(tail)
        console.emit(
            "job_problem", file=file, line=line, field=problem.field, message=problem.message
        )
    console.emit(
        "error", message=f"{len(error.problems)} problem(s) in the job file", exit_code=EXIT_USAGE
    )


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
