"""Quota: when the account's calls run out the run stops with exit 3 and says what the
account needs; with the quota raised, the same command resumes and pays no page twice."""

from __future__ import annotations

from pathlib import Path

from harvester.sandbox import running_sandbox
from harvester.sandbox.dataset import Dataset
from tests.test_harvest_support import (
    SEED,
    billed_keys,
    calls_needed,
    cli_env,
    expected_records,
    read_records,
    read_searches,
    run_cli,
    sandbox_config,
    write_job,
)

IDS = [f"SBX-{n}-quota{i}" for i, n in enumerate([450, 120, 999, 30, 700, 260, 1100, 80])]
QUOTA = 15


async def test_quota_stops_with_exit_3_then_a_raised_quota_resumes_without_paying_twice(
    tmp_path: Path, dataset: Dataset
) -> None:
    job = write_job(tmp_path, IDS, rate=100, concurrency=4)
    out = tmp_path / "out"
    args = ["run", str(job), "--out", str(out)]
    async with running_sandbox(sandbox_config(SEED, quota=QUOTA)) as sandbox:
        code, first = await run_cli(args, cli_env(sandbox.url), tmp_path)
        exhausted = sandbox.stats
    assert code == 3, first
    assert exhausted.billed == QUOTA and exhausted.quota_rejected >= 3
    assert "quota is used up" in first.stdout and "run the same command again" in first.stdout
    assert f"of {len(IDS)} final" in first.stdout  # the summary does not read as done
    assert (out / "searches.jsonl").exists() and (out / "manifest.json").exists()
    assert not (out / "_SUCCESS").exists()
    assert sum(row["pages"] for row in read_searches(out).values()) == QUOTA

    async with running_sandbox(sandbox_config(SEED)) as sandbox:  # the quota was raised
        code, second = await run_cli(args, cli_env(sandbox.url), tmp_path)
        resumed = sandbox.stats
    assert code == 0, second
    assert (out / "_SUCCESS").exists()
    billed = billed_keys(exhausted, resumed)
    assert max(billed.values()) == 1  # no page paid in both runs
    assert sum(billed.values()) == calls_needed(dataset, IDS)
    records = read_records(out)
    assert len(records) == sum(len(expected_records(dataset, sid)) for sid in IDS)
