"""Figure 6, resume cost: pages paid again after a SIGKILL and a resume.

The harvester is killed half-way (by the sandbox's call count) and run again with the same
command. A repeated call is a page the sandbox billed more than once; the target is the
pages that can be in flight at the kill (the concurrency, 8). Twice: at the peers' rate
(50/s, the sandbox enforcing it), and unthrottled against the CPU figure's job, where the
writer has the most pages queued and uncommitted at the kill. The output is then checked
against the sandbox's data: no patent lost, none written twice.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from pathlib import Path

from bench.jobs import CONCURRENCY, SearchSpec, ids_for, min_job_calls, write_job
from bench.outputs import check, expected_hits, read_ours
from bench.peers import PEER_RATE, peer_job, peer_sandbox
from bench.procs import Sandbox, harvester_cmd, run_measured, sandbox_process
from bench.table import Context, Row
from harvester.sink.status import read_status

__all__ = ["run"]


def _paid_not_committed(sandbox: Sandbox, out: Path) -> int:
    """Pages the sandbox billed that the killed run's checkpoint does not hold."""
    time.sleep(0.5)  # answers the sandbox was writing when the client died are billed too
    billed = int(str(sandbox.stats()["billed"]))
    committed = sum(len(search.done_offsets) for search in read_status(out).searches)
    return billed - committed


def _scenario(
    work: Path,
    label: str,
    searches: list[SearchSpec],
    server: AbstractContextManager[Sandbox],
    *flags: str,
) -> Row:
    job = write_job(work, "resume", searches, rate=1000, burst=1000)
    minimal = min_job_calls(searches)
    cmd = harvester_cmd(job, work / "out", "--concurrency", str(CONCURRENCY), *flags)
    log = work / "harvester.log"
    with server as sandbox:
        first = run_measured(
            cmd, env=sandbox.env(), log=log, kill_when=lambda: sandbox.calls() >= minimal // 2
        )
        uncommitted = _paid_not_committed(sandbox, work / "out")
        second = run_measured(cmd, env=sandbox.env(), log=log)
        stats = sandbox.stats()
    by_key = stats["billed_by_key"]
    assert isinstance(by_key, dict)
    repeated = sum(int(n) - 1 for n in by_key.values())
    calls = int(str(stats["calls"]))
    hits, broken = read_ours(work / "out")
    result = check(hits, broken, expected_hits(searches), deduped=True)
    met = repeated <= CONCURRENCY and result.lost == 0 and result.duplicates == 0
    limits = ""
    if not met:
        limits = (
            f"{repeated} pages paid twice, because {uncommitted} paid pages were not "
            f"yet committed when the process died: up to {CONCURRENCY} answers in flight, the "
            "rest landed and queued for the writer or inside its commit (see the notes)"
        )
    return Row(
        f"6 Resume cost, {label}",
        "pages paid twice after kill -9 + resume",
        f"{repeated}",
        f"≤ {CONCURRENCY}",
        met,
        f"killed at {first.killed_at_s or 0:.1f} s (exit {first.code}) with {uncommitted} paid "
        f"pages not committed, resumed (exit {second.code}); {calls:,} calls for a "
        f"{minimal:,}-call job; "
        f"{result.lost} patents lost, {result.duplicates} written twice",
        limits,
    )


def run(ctx: Context) -> list[Row]:
    """Measure figure 6."""
    work = ctx.workdir / "resume"
    at_rate = _scenario(
        work / "at-rate",
        f"at {PEER_RATE}/s",
        peer_job(),
        peer_sandbox(),
        "--rate",
        str(PEER_RATE),
        "--burst",
        "1",
    )
    flat_out = _scenario(
        work / "unthrottled",
        "unthrottled",
        ids_for([1100] * 200, "resume"),
        sandbox_process(),
    )
    return [at_rate, flat_out]
