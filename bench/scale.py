"""Figure 3, scale: 10,000 searches from an ids_file, about a million records.

Each search is `SBX-100-...`: one full page, so the job is 10,000 calls and 1,000,000
hits (the sandbox repeats about 2% of a search's patents with another image, which the
harvester dedupes). No rate limit: this is the harvester's own speed and memory. Peak RSS
is the kernel's high-water mark for the harvester process (wait4), not a sample.
"""

from __future__ import annotations

import json

from bench.jobs import CONCURRENCY, ids_for, min_job_calls, write_job
from bench.procs import harvester_cmd, run_measured, sandbox_process
from bench.table import Context, Row

__all__ = ["run"]

SEARCHES = 10_000
HITS = 100
RSS_TARGET_MB = 150.0


def run(ctx: Context) -> list[Row]:
    """Measure figure 3."""
    work = ctx.workdir / "scale"
    searches = ids_for([HITS] * SEARCHES, "scale")
    job = write_job(work, "scale", searches, rate=1000, burst=1000)
    out = work / "out"
    with sandbox_process() as sandbox:
        cmd = harvester_cmd(job, out, "--fresh", "--concurrency", str(CONCURRENCY))
        result = run_measured(cmd, env=sandbox.env(), log=work / "harvester.log")
        stats = sandbox.stats()
    if result.code != 0:
        raise RuntimeError(f"harvester exited {result.code}; see {work / 'harvester.log'}")
    totals = json.loads((out / "manifest.json").read_text())["totals"]
    records = int(totals["records"])
    calls = int(str(stats["calls"]))
    minimal = min_job_calls(searches)
    calls_ratio = calls / minimal
    rss_ok = result.peak_rss_mb <= RSS_TARGET_MB
    hits = SEARCHES * HITS
    base = f"{SEARCHES:,} searches, {hits:,} hits"
    return [
        Row(
            "3 Scale: speed",
            "records written/s (wall, spawn to exit)",
            f"{records / result.wall_s:,.0f}/s",
            "",
            None,
            f"{base} in {result.wall_s:.1f} s; {records:,} records written after dedupe; "
            f"harvester CPU {result.cpu_s:.1f} s",
        ),
        Row(
            "3 Scale: memory",
            "peak RSS ÷ 150 MB",
            f"{result.peak_rss_mb / RSS_TARGET_MB:.2f} ({result.peak_rss_mb:.0f} MB)",
            "≤ 1.00",
            rss_ok,
            f"kernel high-water mark of the harvester process over the {base} run",
            "" if rss_ok else "see the profile notes",
        ),
        Row(
            "3 Scale: calls",
            "API calls ÷ minimal calls",
            f"{calls_ratio:.2f}",
            "1.00",
            calls == minimal,
            f"sandbox saw {calls:,} calls; sum of paging.min_calls is {minimal:,}; "
            f"pages paid twice: {stats['pages_billed_twice']}",
            "" if calls == minimal else "calls beyond the minimum: see harvester.log",
        ),
    ]
