"""A fault-free run pays for exactly the pages it needs, once each; `plan` agrees with `run`."""

from __future__ import annotations

from pathlib import Path

from harvester.sandbox import running_sandbox
from harvester.sandbox.dataset import Dataset
from tests.conftest import SEED
from tests.test_harvest_support import (
    calls_needed,
    cli_env,
    read_records,
    read_searches,
    run_cli,
    sandbox_config,
    write_job,
)

IDS = [
    "SBX-0-none",
    "SBX-1-one",
    "SBX-99-under",
    "SBX-100-exact",
    "SBX-101-over",
    "SBX-1000-ten",
    "SBX-1100-cap",
    "SBX-2500-truncated",
    "6F1C0E2A9B7D4C3E8A5F1B2C3D4E5F60-1-D",
    "0A1B2C3D4E5F60718293A4B5C6D7E8F9-1-D",
]


async def test_fault_free_run_pays_exactly_the_minimal_calls_once_each(
    tmp_path: Path, dataset: Dataset
) -> None:
    job = write_job(tmp_path, IDS, rate=200, concurrency=8)
    out = tmp_path / "out"
    async with running_sandbox(sandbox_config(SEED)) as sandbox:
        args = ["run", str(job), "--out", str(out)]
        code, cli = await run_cli(args, cli_env(sandbox.url), tmp_path)
        stats = sandbox.stats
    assert code == 0, cli
    expected_calls = calls_needed(dataset, IDS)
    assert stats.calls == expected_calls
    assert stats.billed == expected_calls and stats.pages_billed_twice == 0
    assert max(stats.billed_by_key.values()) == 1
    rows = read_searches(out)
    assert rows["SBX-0-none"]["status"] == "empty"
    assert rows["SBX-2500-truncated"]["status"] == "truncated"
    assert rows["SBX-2500-truncated"]["reachable"] == 1100
    assert sum(row["calls"] for row in rows.values()) == expected_calls
    assert (out / "_SUCCESS").exists() and len(read_records(out)) > 0
