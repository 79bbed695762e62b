"""Figure 5, peers: the same job from the same sandbox with Scrapy and with dlt, beside ours.

The job: 100 searches mixed like PatSnap's (541 calls, ~50,000 hits) at 50 requests/s,
which the sandbox enforces (refusing with HTTP 429 + Retry-After, the signal generic
tools understand). Every tool runs in its own process; wall time, CPU seconds (wait4),
the calls the sandbox saw, and what the output holds are measured, each as a ratio to
ours. Then each peer is killed with SIGKILL half-way (by the sandbox's call count) and
started again the way that tool resumes, and its output is checked hit by hit against
the sandbox's data: hits lost, hits written twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from bench.jobs import CONCURRENCY, SearchSpec, ids_for, min_job_calls, mixed_totals, write_job
from bench.outputs import Check, Hit, check, expected_hits, read_dlt, read_ours, read_scrapy
from bench.procs import API_KEY, ROOT, Measured, Sandbox, harvester_cmd, run_measured
from bench.procs import sandbox_process as _sandbox_process
from bench.table import Context, Row

__all__ = ["PEER_RATE", "peer_job", "peer_sandbox", "run"]

PEER_RATE = 50
_SANDBOX_FLAGS = ("--rate", str(PEER_RATE), "--burst", "2", "--rate-limit-status", "429")


def peer_job() -> list[SearchSpec]:
    """The searches of the peers' job (the resume figure uses it too)."""
    return ids_for(mixed_totals(100, seed=5), "peer")


def peer_sandbox() -> AbstractContextManager[Sandbox]:
    """A sandbox limited to PEER_RATE, refusing with 429 + Retry-After."""
    return _sandbox_process(*_SANDBOX_FLAGS)


@dataclass(slots=True, frozen=True)
class _Run:
    measured: Measured
    calls: int  #: results calls the sandbox saw, refused ones included
    refused: int  #: of them refused by its rate limit
    check: Check


@dataclass(slots=True, frozen=True)
class _Tool:
    name: str
    command: Callable[[Sandbox, Path], list[str]]  #: (sandbox, state dir) -> argv
    read: Callable[[Path], tuple[list[Hit], int]]  #: state dir -> hits
    deduped: bool


def _tools(ctx: Context, ids: Path, job: Path) -> list[_Tool]:
    def ours(sandbox: Sandbox, state: Path) -> list[str]:
        return harvester_cmd(job, state / "out", "--concurrency", str(CONCURRENCY))

    tools = [_Tool("ours", ours, lambda state: read_ours(state / "out"), True)]
    python = ctx.peers_python
    if python is None:
        return tools
    if "scrapy" not in ctx.peers_problems:

        def scrapy(sandbox: Sandbox, state: Path) -> list[str]:
            script = ROOT / "bench" / "peer_scrapy.py"
            return [
                str(python), str(script), sandbox.url, str(ids), str(state / "feed.jsonl"),
                str(state / "jobdir"), "--api-key", API_KEY, "--rate", str(PEER_RATE),
                "--concurrency", str(CONCURRENCY),
            ]  # fmt: skip

        tools.append(_Tool("Scrapy", scrapy, lambda s: read_scrapy(s / "feed.jsonl"), False))
    if "dlt" not in ctx.peers_problems:

        def dlt(sandbox: Sandbox, state: Path) -> list[str]:
            script = ROOT / "bench" / "peer_dlt.py"
            return [
                str(python), str(script), sandbox.url, str(ids), str(state / "dest"),
                str(state / "pipelines"), "--api-key", API_KEY, "--rate", str(PEER_RATE),
            ]  # fmt: skip

        tools.append(_Tool("dlt", dlt, lambda state: read_dlt(state / "dest"), False))
    return tools


def _measure(
    tool: _Tool, sandbox: Sandbox, state: Path, expected: Counter[Hit], *, kill_at: int | None
) -> _Run:
    """One run of `tool` from scratch; with `kill_at`, SIGKILL at that many calls, then again."""
    sandbox.reset()
    state.mkdir(parents=True)
    log = state / "run.log"
    cmd = tool.command(sandbox, state)
    if kill_at is None:
        measured = run_measured(cmd, log=log, env=sandbox.env())
    else:
        run_measured(cmd, log=log, env=sandbox.env(), kill_when=lambda: sandbox.calls() >= kill_at)
        measured = run_measured(cmd, log=log, env=sandbox.env())
    stats = sandbox.stats()
    hits, broken = tool.read(state)
    return _Run(
        measured,
        int(str(stats["calls"])),
        int(str(stats["rate_limited"])),
        check(hits, broken, expected, deduped=tool.deduped),
    )


def run(ctx: Context) -> list[Row]:
    """Measure figure 5."""
    work = ctx.workdir / "peers"
    searches = peer_job()
    job = write_job(work, "peers", searches, rate=PEER_RATE, concurrency=CONCURRENCY)
    ids = work / "peers-ids.txt"
    expected = expected_hits(searches)
    minimal = min_job_calls(searches)
    tools = _tools(ctx, ids, job)
    clean: dict[str, _Run] = {}
    killed: dict[str, _Run] = {}
    with peer_sandbox() as sandbox:
        for tool in tools:
            clean[tool.name] = _measure(tool, sandbox, work / f"{tool.name}-clean", expected,
                                        kill_at=None)  # fmt: skip
        for tool in tools[1:]:
            killed[tool.name] = _measure(
                tool, sandbox, work / f"{tool.name}-kill", expected, kill_at=minimal // 2
            )
    rows = [_ours_row(clean["ours"], minimal)]
    for tool in tools[1:]:
        rows += _peer_rows(tool.name, clean[tool.name], killed[tool.name], clean["ours"])
    for name, problem in sorted(ctx.peers_problems.items()):
        if name in ("scrapy", "dlt"):
            rows.append(Row(f"5 Peers: {name}", "not installed", "n/a", "", None, problem))
    return rows


def _ours_row(ours: _Run, minimal: int) -> Row:
    c = ours.check
    return Row(
        "5 Peers: ours (baseline)",
        "calls ÷ minimal; duplicate records",
        f"{ours.calls / minimal:.2f}; {c.duplicates}",
        "",
        None,
        f"{ours.measured.wall_s:.1f} s wall, {ours.measured.cpu_s:.1f} CPU-s, {ours.calls} calls "
        f"({ours.refused} refused), {c.records:,} records, {c.lost} patents lost",
    )


def _peer_rows(name: str, peer: _Run, after_kill: _Run, ours: _Run) -> list[Row]:
    m, o, c = peer.measured, ours.measured, peer.check
    k = after_kill.check
    failed = "" if m.code == 0 else f"; exit {m.code}"
    return [
        Row(
            f"5 Peers: {name}",
            "wall; CPU-s; calls ÷ ours; duplicate records",
            f"{m.wall_s / o.wall_s:.2f}; {m.cpu_s / o.cpu_s:.2f}; {peer.calls / ours.calls:.2f}; "
            f"{c.duplicates:,}",
            "",
            None,
            f"{m.wall_s:.1f} s wall, {m.cpu_s:.1f} CPU-s, {peer.calls} calls ({peer.refused} "
            f"refused), {c.records:,} records ({c.duplicates:,} repeat a patent of their "
            f"search; ours 0), {c.lost:,} hits lost{failed}",
        ),
        Row(
            f"5 Peers: {name} after kill -9",
            "hits lost; hits duplicated (restart as the tool resumes)",
            f"{k.lost:,}; {k.repeated:,}",
            "",
            None,
            f"SIGKILL at half the job's calls, then run again: {after_kill.calls} calls in "
            f"all ({after_kill.calls / peer.calls:.2f} × a clean run), {k.records:,} records, "
            f"{k.broken} broken lines",
        ),
    ]
