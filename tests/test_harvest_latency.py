"""The pool against the sandbox's latency mode over real sockets: concurrency = "auto" keeps
enough calls in flight, a pinned one shows what it costs, and `plan` learns the latency.

Speeds are measured in `make bench` (figure 2L); here the checks are what a run did: the
calls it paid for, what it kept in flight, and what it reported."""

from __future__ import annotations

import re
from pathlib import Path

import orjson

from harvester.sandbox import running_sandbox
from harvester.sandbox.dataset import Dataset
from tests.test_harvest_support import (
    SEED,
    calls_needed,
    cli_env,
    read_searches,
    run_cli,
    sandbox_config,
    write_job,
)

IDS = [f"SBX-1100-lat{i}" for i in range(3)]  # 33 calls
LATENCY = {"latency_s": 0.1, "jitter_s": 0.05}  # 100 +- 50 ms


async def test_auto_keeps_several_calls_in_flight_and_pays_each_page_once(
    tmp_path: Path, dataset: Dataset
) -> None:
    job = write_job(tmp_path, IDS, rate=30)  # no concurrency: "auto"
    out = tmp_path / "out"
    async with running_sandbox(sandbox_config(SEED, **LATENCY)) as sandbox:
        code, cli = await run_cli(
            ["run", str(job), "--out", str(out)], cli_env(sandbox.url), tmp_path
        )
        stats = sandbox.stats
    assert code == 0, cli
    assert stats.billed == calls_needed(dataset, IDS) and stats.pages_billed_twice == 0
    # 30/s at 100-150 ms wants 5 to 8 calls out; a pool of 1 or 2 would leave the rate unpaid
    assert stats.max_in_flight >= 3
    pool = re.search(
        r"pool +up to (\d+) in flight, latency p50 ([\d.]+) s p90 ([\d.]+) s", cli.stdout
    )
    assert pool is not None, cli.stdout
    assert int(pool[1]) >= 3 and 0.05 <= float(pool[2]) <= float(pool[3])
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["settings"]["concurrency"] == "auto"
    assert manifest["settings"]["latency_p50"] >= 0.05  # the sandbox's floor


async def test_plan_after_a_run_uses_the_latency_it_measured(tmp_path: Path) -> None:
    # pinned at 2 in flight, 100-150 ms away: about 16 calls/s of the 40 paid for
    job = write_job(tmp_path, IDS, rate=40, concurrency=2)
    out = tmp_path / "out"
    async with running_sandbox(sandbox_config(SEED, **LATENCY)) as sandbox:
        env = cli_env(sandbox.url)
        code, cli = await run_cli(["run", str(job), "--out", str(out)], env, tmp_path)
        assert code == 0, cli
        assert sandbox.stats.max_in_flight <= 2
        code, plan = await run_cli(["plan", str(job), "--out", str(out)], env, tmp_path)
        calls = sandbox.stats.calls
    assert code == 0, plan
    assert calls == 33  # plan makes no call
    line = next(row for row in plan.stdout.splitlines() if row.strip().startswith("latency"))
    assert "measured by the last run" in line
    needed = re.search(r"set concurrency to (\d+) or more to fill 40 req/s", line)
    assert needed is not None and int(needed[1]) > 4, line
    assert all(row["status"] == "complete" for row in read_searches(out).values())
