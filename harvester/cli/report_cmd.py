"""`harvester report DIR`: write the run's report.html again (also while it runs), and open it."""

from __future__ import annotations

import argparse
import webbrowser
from pathlib import Path
from typing import TextIO

from harvester.cli.exits import EXIT_OK
from harvester.runreport import write_report

__all__ = ["cmd_report"]


def cmd_report(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Draw OUT_DIR's report.html from its files (from the checkpoint, read-only, if a run
    holds the directory); with --open, show it in the user's browser."""
    out_dir = Path(args.out_dir)
    if not out_dir.is_dir():
        raise FileNotFoundError(f"{out_dir} is not a directory: give a run's output directory")
    path = write_report(out_dir)
    out.write(f"harvester: wrote {path}\n")
    if args.open and not webbrowser.open(path.resolve().as_uri()):
        err.write(f"harvester: could not start a browser; open {path} yourself\n")
    return EXIT_OK
