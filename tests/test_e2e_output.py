"""What a finished run hands the data lake, read with the lake's own tools (duckdb), and
`harvester status --json` polled while a run is going."""

from __future__ import annotations

import gzip
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from tests.e2e_helpers import (
    SandboxProcess,
    all_records,
    no_traceback,
    run,
    sandbox,
    search_ids,
    start_run,
    write_job,
)

SEED = 77
RECORD_COLUMNS = {
    "search_id",
    "patent_id",
    "patent_pn",
    "title",
    "score",
    "url",
    "rank",
    "harvested_at",
}


@pytest.fixture(scope="module")
def box() -> Iterator[SandboxProcess]:
    with sandbox(SEED) as running:
        yield running


def manifest_of(out: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = orjson.loads((out / "manifest.json").read_bytes())
    return manifest


def test_duckdb_reads_every_record_of_a_run_and_the_manifest_vouches_for_each_shard(
    box: SandboxProcess, tmp_path: Path
) -> None:
    job = write_job(tmp_path / "job.toml", search_ids(SEED, 12), rate=300, shards=4)
    out = tmp_path / "out"
    done = run(box, "run", job, "--out", out)
    assert done.returncode == 0, done.stderr
    manifest = manifest_of(out)
    total = manifest["totals"]["records"]
    assert total == len(all_records(out)) > 1000

    glob = f"{out}/part-*.jsonl.gz"
    with duckdb.connect() as db:  # duckdb 2 keeps read_json_auto as SQL, read_json in Python
        assert set(db.read_json(glob).columns) == RECORD_COLUMNS
        lake = f"read_json_auto('{glob}')"
        count, pairs = db.execute(
            f"SELECT count(*), count(DISTINCT (search_id, patent_id)) FROM {lake}"
        ).fetchone() or (0, 0)
    assert count == pairs == total

    assert [shard["path"] for shard in manifest["shards"]] == [
        f"part-{i:05d}.jsonl.gz" for i in range(4)
    ]
    for shard in manifest["shards"]:
        data = (out / shard["path"]).read_bytes()
        assert shard["bytes"] == len(data)
        assert shard["sha256"] == hashlib.sha256(data).hexdigest()
        assert shard["records"] == len(gzip.decompress(data).splitlines())
    assert sum(shard["records"] for shard in manifest["shards"]) == total
    assert manifest["complete"] is True


def status_json(out: Path) -> dict[str, Any]:
    """`harvester status OUT --json`, which must succeed and print one JSON object."""
    done = run(None, "status", out, "--json")
    assert done.returncode == 0, done.stderr
    no_traceback(done.stderr)
    report: dict[str, Any] = orjson.loads(done.stdout)
    return report


def test_status_json_while_a_run_is_going_shows_growing_progress_then_the_manifest_totals(
    box: SandboxProcess, tmp_path: Path
) -> None:
    # ~80 pages at 24/s: the run takes over three seconds, a status call well under one
    job = write_job(tmp_path / "job.toml", search_ids(SEED + 1, 12, max_total=1200), rate=24)
    out = tmp_path / "out"
    proc = start_run(box, job, out, tmp_path / "run.log")
    polls: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            if (out / "_checkpoint.sqlite").exists():
                polls.append(status_json(out))
    finally:
        code = proc.wait(timeout=30)
    assert code == 0, (tmp_path / "run.log").read_text()[-2000:]

    during = [poll for poll in polls if poll["running"]]
    assert len(during) >= 2, f"only {len(during)} status calls landed during the run"
    pages = [poll["totals"]["pages"] for poll in during]
    assert pages == sorted(pages), f"progress went backwards: {pages}"
    assert len(set(pages)) >= 2, f"progress did not grow: {pages}"
    assert all(poll["running_pid"] == proc.pid for poll in during)
    assert all(len(poll["searches"]) == 12 for poll in polls)

    after = status_json(out)
    assert not after["running"] and after["success"]
    totals = manifest_of(out)["totals"]
    for key, value in totals.items():
        if key != "bytes":  # the manifest's own: the checkpoint knows no file sizes
            assert after["totals"][key] == value, key
    assert after["totals"]["pages"] > pages[0]
    assert after["totals"]["staged_pages"] == 0
