"""`python -m bench` (`make bench`): every figure side by side, one table, bench/RESULTS.md.

    python -m bench                   # all figures (installs nginx and the peers' venv first)
    python -m bench --only cpu,rate   # some of them (the table in RESULTS.md is not rewritten)

Logs and outputs of each figure stay in out/bench/<figure>/ for a look afterwards.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench.installs import PEER_PACKAGES, ensure_nginx, ensure_peers, versions_in
from bench.procs import ROOT, compile_bytecode
from bench.table import Context, Row, render

FIGURES = (
    "cpu",
    "rate",
    "latency",
    "rate_sandbox",
    "scale",
    "writer",
    "deadline",
    "images",
    "overload",
    "peers",
    "resume",
)
RESULTS = ROOT / "bench" / "RESULTS.md"
WORKDIR = ROOT / "out" / "bench"
#: The figures that need nginx, and those that need the peers' venv: nothing else installs.
NEEDS_NGINX = ("cpu", "rate", "deadline")
NEEDS_PEERS = ("peers",)
NOTES_MARK = "<!-- notes: everything below this line is kept when the bench rewrites the file -->"
_OURS = ("aiohttp", "anyio", "msgspec", "orjson")


def _figure(name: str) -> Callable[[Context], list[Row]]:
    module = importlib.import_module(f"bench.{name}")
    run: Callable[[Context], list[Row]] = module.run
    return run


def _failed_row(name: str, exc: BaseException, log: Path) -> Row:
    return Row(name, "(failed)", "n/a", "", False, f"{type(exc).__name__}: {exc}", f"see {log}")


def _versions(ctx: Context) -> str:
    ours = versions_in(Path(sys.executable), ("patsnap-harvester", *_OURS))
    parts = [f"Python {platform.python_version()}"]
    parts += [f"{name} {version}" for name, version in ours.items()]
    if ctx.nginx is not None:
        text = subprocess.run([str(ctx.nginx), "-v"], capture_output=True, text=True).stderr
        parts.append(text.strip().replace("nginx version: ", ""))
    if ctx.peers_python is not None:
        peers = versions_in(ctx.peers_python, (*PEER_PACKAGES, "twisted"))
        parts += [f"{name} {version}" for name, version in peers.items()]
    return ", ".join(parts)


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _write_results(rows: Sequence[Row], header: str, elapsed: float) -> None:
    notes = ""
    if RESULTS.exists():
        text = RESULTS.read_text()
        if NOTES_MARK in text:
            notes = text.split(NOTES_MARK, 1)[1]
    missed = [row for row in rows if row.met is False]
    misses = "\n".join(f"- **{row.figure}**: {row.limits or row.detail}" for row in missed)
    body = (
        "# `make bench` results\n\n"
        f"{header}\n\nThe bench took {elapsed / 60:.1f} min. Every figure is a ratio of two "
        "things measured side by side in this run; absolute numbers are noisy on a shared "
        "machine.\n\n"
        f"{render(rows)}\n\n## Missed targets\n\n{misses or 'None.'}\n\n{NOTES_MARK}{notes}"
    )
    RESULTS.write_text(body if body.endswith("\n") else body + "\n")


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", help=f"comma-separated figures from {', '.join(FIGURES)}")
    args = parser.parse_args(argv)
    chosen = FIGURES if not args.only else tuple(args.only.split(","))
    unknown = sorted(set(chosen) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(FIGURES)}")
    started = time.perf_counter()
    for name in chosen:  # other figures' logs stay for a look
        shutil.rmtree(WORKDIR / name, ignore_errors=True)
    WORKDIR.mkdir(parents=True, exist_ok=True)
    install_log = WORKDIR / "install.log"
    print(f"bench: installing what it needs (log: {install_log.relative_to(ROOT)})", flush=True)
    compile_bytecode()
    nginx: Path | None = None
    nginx_problem = "not needed by the figures chosen"
    if set(chosen) & set(NEEDS_NGINX):
        nginx, nginx_problem = ensure_nginx(install_log)
    peers: Path | None = None
    peers_problems: dict[str, str] = {}
    if set(chosen) & set(NEEDS_PEERS):
        peers, peers_problems = ensure_peers(install_log)
    ctx = Context(WORKDIR, peers, peers_problems, nginx, nginx_problem)
    rows: list[Row] = []
    for name in chosen:
        print(f"bench: figure {name} ...", flush=True)
        began = time.perf_counter()
        try:
            rows += _figure(name)(ctx)
        except Exception as exc:  # one broken figure must not cost the others
            log = WORKDIR / name / "error.txt"
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(traceback.format_exc())
            rows.append(_failed_row(name, exc, log))
        print(f"bench: figure {name} took {time.perf_counter() - began:.0f} s", flush=True)
    elapsed = time.perf_counter() - started
    header = (
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores "
        f"({_cpu_model()}), {platform.system()} {platform.release()}.  \n"
        f"Versions: {_versions(ctx)}."
    )
    print(f"\n{header}\n\n{render(rows)}\n")
    for row in rows:
        if row.met is False:
            print(f"missed: {row.figure}: {row.limits or row.detail}")
    if args.only:
        print("bench: --only given; bench/RESULTS.md left as it was")
    else:
        _write_results(rows, header, elapsed)
        print(f"bench: wrote {RESULTS.relative_to(ROOT)} ({elapsed / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
