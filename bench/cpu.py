"""Figure 1, CPU efficiency: harvester pages/s end to end ÷ a bare aiohttp loop's, same pages.

No rate limit anywhere (the sandbox has none; the harvester runs at its highest allowed
rate, 1000/s with a burst of 1000, far above what two cores serve). Both clients run in
their own process against one sandbox process, at the same concurrency, three times
each in alternating order; each side's pages/s is its pages over its summed wall time.
The harvester's time is spawn to exit: fetch, parse, dedupe, write, checkpoint.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from bench.jobs import CONCURRENCY, ids_for, page_list, write_job
from bench.procs import Measured, Sandbox, harvester_cmd, run_measured, sandbox_process
from bench.table import Context, Row

__all__ = ["run"]

SEARCHES = 200  #: of 1,100 hits each: 2,200 full pages, 220,000 hits
#: Alternating, so a warm cache or a noisy neighbour's busy spell favours neither side.
ORDER = ("ours", "bare", "bare", "ours", "ours", "bare")
TARGET = 0.6


def _harvester(sandbox: Sandbox, job: Path, out: Path, log: Path) -> Measured:
    cmd = harvester_cmd(
        job, out, "--fresh", "--rate", "1000", "--burst", "1000", "--concurrency", str(CONCURRENCY)
    )
    run = run_measured(cmd, env=sandbox.env(), log=log)
    if run.code != 0:
        raise RuntimeError(f"harvester exited {run.code}; see {log}")
    return run


def _bare(sandbox: Sandbox, pages: Path, log: Path) -> Measured:
    cmd = [sys.executable, "-m", "bench.bare", sandbox.url, str(pages)]
    run = run_measured([*cmd, "--concurrency", str(CONCURRENCY)], log=log)
    if run.code != 0:
        raise RuntimeError(f"bare loop exited {run.code}; see {log}")
    return run


def run(ctx: Context) -> list[Row]:
    """Measure figure 1 (and CPU per page beside it)."""
    work = ctx.workdir / "cpu"
    searches = ids_for([1100] * SEARCHES, "cpu")
    job = write_job(work, "cpu", searches, rate=1000, burst=1000)
    pages = page_list(searches)
    pages_file = work / "pages.json"
    pages_file.write_bytes(orjson.dumps(pages))
    ours: list[Measured] = []
    bare: list[Measured] = []
    server_cpu = {"ours": 0.0, "bare": 0.0}
    with sandbox_process() as sandbox:
        for who in ORDER:
            before = sandbox.cpu_s()
            if who == "ours":
                ours.append(_harvester(sandbox, job, work / "out", work / "harvester.log"))
            else:
                bare.append(_bare(sandbox, pages_file, work / "bare.log"))
            server_cpu[who] += sandbox.cpu_s() - before
    n = len(pages)
    ours_rate = n * len(ours) / sum(r.wall_s for r in ours)
    bare_rate = n * len(bare) / sum(r.wall_s for r in bare)
    ratio = ours_rate / bare_rate
    ours_ms = 1000 * sum(r.cpu_s for r in ours) / (n * len(ours))
    bare_ms = 1000 * sum(r.cpu_s for r in bare) / (n * len(bare))
    server_ms = {k: 1000 * v / (n * ORDER.count(k)) for k, v in server_cpu.items()}
    limits = ""
    if ratio < TARGET:
        limits = (
            f"the harvester spends {ours_ms:.2f} CPU-ms a page to the bare loop's "
            f"{bare_ms:.2f}, on two cores it shares with the sandbox "
            f"({server_ms['ours']:.2f} ms a page): see the profile notes"
        )
    return [
        Row(
            "1 CPU efficiency",
            "harvester pages/s ÷ bare aiohttp+orjson pages/s",
            f"{ratio:.2f}",
            f"≥ {TARGET}",
            ratio >= TARGET,
            f"{ours_rate:,.0f} vs {bare_rate:,.0f} pages/s ({n:,} pages of 100 hits, "
            f"concurrency {CONCURRENCY}, {len(ours)} runs each, alternating)",
            limits,
        ),
        Row(
            "1b CPU per page",
            "bare CPU-ms/page ÷ harvester CPU-ms/page",
            f"{bare_ms / ours_ms:.2f}",
            "",
            None,
            f"harvester {ours_ms:.2f} ms, bare loop {bare_ms:.2f} ms a page; the sandbox "
            f"spent {server_ms['ours']:.2f} / {server_ms['bare']:.2f} ms a page serving them",
        ),
    ]
