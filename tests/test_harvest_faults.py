"""Against a sandbox that breaks 20% of calls in every way it knows and revokes tokens every
1.5 s, a 30-search job still exits 0 with every reachable record, exactly as the data set holds."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

from harvester.sandbox import ALL_FAULTS, running_sandbox
from harvester.sandbox.dataset import Dataset
from tests.test_harvest_support import (
    SEED,
    cli_env,
    expected_records,
    read_records,
    read_searches,
    run_cli,
    sandbox_config,
    search_total,
    write_job,
)

SBX = [0, 1, 37, 99, 100, 101, 250, 999, 1000, 1099, 1100, 1101, 2500]


def job_ids() -> list[str]:
    """13 SBX ids over the interesting totals and 17 PatSnap-looking ids of seeded sizes."""
    hashed = [hashlib.md5(f"search-{i}".encode()).hexdigest().upper() + "-1-D" for i in range(17)]
    return [f"SBX-{n}-s{i}" for i, n in enumerate(SBX)] + hashed


async def test_every_reachable_record_arrives_despite_faults_and_token_revocation(
    tmp_path: Path, dataset: Dataset
) -> None:
    ids = job_ids()
    job = write_job(tmp_path, ids, rate=60, concurrency=8)
    out = tmp_path / "out"
    # A slow answer (2 s) outlasts the client's read timeout (0.8 s), which a fault-free
    # answer must not reach even on a loaded machine: then a page paid twice is always a
    # slow one the client gave up on (with 0.3 s, a loaded box let plain answers time out).
    config = sandbox_config(SEED, fault_rate=0.2, token_lifetime_s=1.5, slow_s=2.0)
    async with running_sandbox(config) as sandbox:
        args = ["run", str(job), "--out", str(out), "--read-timeout", "0.8"]
        code, cli = await run_cli(args, cli_env(sandbox.url), tmp_path)
        stats = sandbox.stats
    assert code == 0, cli
    # the run really met every fault kind and at least one revoked token
    assert set(stats.faults_by_kind) == set(ALL_FAULTS), stats.faults_by_kind
    assert stats.tokens_issued >= 2 and stats.auth_failures >= 1

    got: dict[str, dict[str, dict[str, object]]] = defaultdict(dict)
    for record in read_records(out):
        by_patent = got[record["search_id"]]
        assert record["patent_id"] not in by_patent, "a duplicate within a search was written"
        by_patent[record["patent_id"]] = record
    rows = read_searches(out)
    fields = ("patent_id", "patent_pn", "title", "score", "url", "rank")
    for search_id in ids:
        want = expected_records(dataset, search_id)
        have = got.get(search_id, {})
        assert set(have) == set(want), search_id
        for patent_id, record in want.items():
            assert {f: have[patent_id][f] for f in fields} == {f: record[f] for f in fields}
        total = search_total(dataset, search_id)
        status = "empty" if total == 0 else "truncated" if total > 1100 else "complete"
        assert rows[search_id]["status"] == status and rows[search_id]["total"] == total
        assert rows[search_id]["records"] == len(want)
    # a page is paid twice only when the client gave up on a slow answer the server billed
    assert stats.pages_billed_twice <= stats.faults_by_kind["slow"]
