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

import sys
from collections.abc import Sequence
from typing import TextIO

from harvester.api.errors import PatSnapError
from harvester.cli.exits import EXIT_STOPPED, CliError, exit_codes
from harvester.cli.parser import Command, build_parser

__all__ = ["entry", "main"]


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
