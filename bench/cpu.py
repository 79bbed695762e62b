"""Figure 1, CPU efficiency: harvester pages/s end to end ÷ a bare aiohttp loop's, same pages;
figure 1b, the same runs as CPU per page: bare CPU-ms a page ÷ harvester CPU-ms a page.

The pages are the sandbox's answers, fetched once and served as static files by nginx
(bench/static_pages.py): a server that costs a few microseconds a page, so it is no
longer the common bottleneck that made figure 1 read high (without nginx the sandbox
serves them, and the row says so). No rate limit anywhere (the harvester runs at its
highest allowed rate, 1000/s with a burst of 1000). Both clients run in their own
process, at the same concurrency, three times each in alternating order; each side's
pages/s is its pages over its summed wall time, its CPU the kernel's count (wait4). The
harvester's time is spawn to exit: fetch, parse, dedupe, write, checkpoint.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path

import orjson

from bench.jobs import CONCURRENCY, ids_for, page_list, write_job
from bench.procs import Measured, Sandbox, harvester_cmd, run_measured, sandbox_process
from bench.static_pages import render_pages, static_server
from bench.table import Context, Row

__all__ = ["run"]

SEARCHES = 200  #: of 1,100 hits each: 2,200 full pages, 220,000 hits
#: Alternating, so a warm cache or a noisy neighbour's busy spell favours neither side.
ORDER = ("ours", "bare", "bare", "ours", "ours", "bare")
TARGET = 0.6
TARGET_1B = 0.30


def _harvester(sandbox: Sandbox, url: str, job: Path, out: Path, log: Path) -> Measured:
    cmd = harvester_cmd(
        job, out, "--fresh", "--rate", "1000", "--burst", "1000", "--concurrency", str(CONCURRENCY)
    )
    run = run_measured(cmd, env=sandbox.env(url), log=log)
    if run.code != 0:
        raise RuntimeError(f"harvester exited {run.code}; see {log}")
    return run


def _bare(url: str, pages: Path, log: Path) -> Measured:
    cmd = [sys.executable, "-m", "bench.bare", url, str(pages)]
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
    with ExitStack() as stack:
        sandbox = stack.enter_context(sandbox_process())
        url, server_s, server = sandbox.url, sandbox.cpu_s, "the sandbox"
        if ctx.nginx is not None:
            render_pages(sandbox, pages, work / "pages")
            static = stack.enter_context(static_server(ctx.nginx, work / "pages", work / "nginx"))
            url, server_s, server = static.url, static.cpu_s, "nginx (static pages)"
        for who in ORDER:
            before = server_s()
            if who == "ours":
                ours.append(_harvester(sandbox, url, job, work / "out", work / "harvester.log"))
            else:
                bare.append(_bare(url, pages_file, work / "bare.log"))
            server_cpu[who] += server_s() - before
    n = len(pages)
    ours_rate = n * len(ours) / sum(r.wall_s for r in ours)
    bare_rate = n * len(bare) / sum(r.wall_s for r in bare)
    ratio = ours_rate / bare_rate
    ours_ms = 1000 * sum(r.cpu_s for r in ours) / (n * len(ours))
    bare_ms = 1000 * sum(r.cpu_s for r in bare) / (n * len(bare))
    server_ms = {k: 1000 * v / (n * ORDER.count(k)) for k, v in server_cpu.items()}
    served = f"served by {server}" + ("" if ctx.nginx else f" ({ctx.nginx_problem})")
    limits = (
        f"the harvester spends {ours_ms:.2f} CPU-ms a page to the bare loop's "
        f"{bare_ms:.2f}, {served}: see the profile notes"
    )
    return [
        Row(
            "1 CPU efficiency",
            "harvester pages/s ÷ bare aiohttp+orjson pages/s",
            f"{ratio:.2f}",
            f"≥ {TARGET}",
            ratio >= TARGET,
            f"{ours_rate:,.0f} vs {bare_rate:,.0f} pages/s ({n:,} pages of 100 hits, "
            f"concurrency {CONCURRENCY}, {len(ours)} runs each, alternating, {served})",
            limits if ratio < TARGET else "",
        ),
        Row(
            "1b CPU per page",
            "bare CPU-ms/page ÷ harvester CPU-ms/page",
            f"{bare_ms / ours_ms:.2f}",
            f"≥ {TARGET_1B}",
            bare_ms / ours_ms >= TARGET_1B,
            f"harvester {ours_ms:.2f} ms, bare loop {bare_ms:.2f} ms a page; {server} "
            f"spent {server_ms['ours']:.3f} / {server_ms['bare']:.3f} ms a page serving them",
            limits if bare_ms / ours_ms < TARGET_1B else "",
        ),
    ]
