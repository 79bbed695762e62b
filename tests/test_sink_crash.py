"""Crash safety without the engine: a writer process SIGKILLed at chosen and random
moments, then resumed, must leave exactly the records of an uninterrupted run."""

from __future__ import annotations

import gzip
import random
import signal
import subprocess
import sys
from pathlib import Path

from tests.test_sink_helpers import (
    expected_records,
    open_sink,
    read_records,
    read_searches,
    synthetic_job,
)

ROOT = Path(__file__).resolve().parents[1]
SEED = 21


def child(out: Path, *args: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "tests.test_sink_helpers", str(out), str(SEED), *args]
    return subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[bytes], kill_after: float | None = None) -> int:
    try:
        proc.wait(timeout=kill_after if kill_after is not None else 60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.returncode in (0, -signal.SIGKILL), err
    return proc.returncode


def assert_recovers_to_valid_gzip(out: Path, job_pool: int = 0) -> None:
    """Reopening cuts uncommitted tails: every shard is a whole gzip stream again."""
    with open_sink(
        out, synthetic_job(SEED, job_pool=job_pool), dedupe="job" if job_pool else "search"
    ):
        for part in out.glob("part-*.jsonl.gz"):
            gzip.decompress(part.read_bytes())


def test_sigkill_at_many_points_then_resume_writes_every_record_exactly_once(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    rng = random.Random(SEED)
    hooks = ["after-append", "mid-write", "mid-stage"]
    kills = 0
    for round_ in range(40):
        if kills >= 12:
            break
        if round_ % 5 == 4:  # a kill at a random moment, wherever the writer is
            proc = child(out, "--feed-seed", str(round_))
            rc = finish(proc, kill_after=rng.uniform(0.05, 0.3))
        else:
            crash = f"{hooks[round_ % 3]}:{rng.randint(1, 3)}"
            rc = finish(child(out, "--feed-seed", str(round_), "--crash", crash))
        kills += rc == -signal.SIGKILL
        assert_recovers_to_valid_gzip(out)
    assert finish(child(out, "--feed-seed", "99")) == 0
    assert kills >= 10

    reference = tmp_path / "reference"
    assert finish(child(reference)) == 0
    records = read_records(out)
    assert records == read_records(reference) == expected_records(synthetic_job(SEED))
    assert len({(r["search_id"], r["patent_id"]) for r in records}) == len(records)
    resumed, straight = read_searches(out), read_searches(reference)
    for search_id, line in straight.items():
        for key in ("status", "pages", "records", "duplicates", "total", "reachable"):
            assert resumed[search_id][key] == line[key], (search_id, key)
    assert (out / "_SUCCESS").exists()


def test_sigkill_with_job_scope_dedupe_keeps_each_patent_exactly_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    pool = ["--dedupe", "job", "--job-pool", "4000"]
    kills = 0
    for round_, crash in enumerate(["after-append:2", "mid-write:1", "mid-stage:2", "mid-write:3"]):
        kills += finish(child(out, *pool, "--feed-seed", str(round_), "--crash", crash)) != 0
        assert_recovers_to_valid_gzip(out, job_pool=4000)
    assert finish(child(out, *pool)) == 0
    assert kills >= 3
    job = synthetic_job(SEED, job_pool=4000)
    every_patent = {hit.patent_id for s in job for o in s.offsets for hit in s.hits(o)}
    patents = [r["patent_id"] for r in read_records(out)]
    assert len(patents) == len(set(patents))
    assert set(patents) == every_patent
