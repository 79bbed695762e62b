"""The output files pinned: the same records in the same order, and the same searches.jsonl,
as the sink wrote them before its staging and records were reworked (issue 13).

Two runs are pinned, each in a small JSON file under tests/golden/:
- the sink alone, fed a fixed, interleaved message sequence in fixed batches (pages out of
  order, searches ending mid-batch, job-scope dedupe across searches): every byte of every
  shard's decompressed content, harvested_at included (the messages fix it);
- the CLI against `harvester sandbox --seed`, at concurrency 1 so the order in which
  searches end is the job's: every field but harvested_at, in file order, and
  searches.jsonl but for `deadline` (it follows the run's start).

The CLI run's file was pinned again once, on purpose: issue 10's admission orders the
searches differently (probes, then known sizes smallest first), so they end in another
order, and with dedupe = "job" a patent two searches share is kept by the one that ends
first. The sink's own files (fed the same messages) did not change.

`HARVESTER_WRITE_GOLDEN=1 pytest tests/test_golden_output.py` rewrites the files: only
for a change that means to alter the output, with a note saying why.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.e2e_helpers import COMPARED, run, sandbox, search_ids
from tests.test_sink_helpers import feed, open_sink, synthetic_job

GOLDEN = Path(__file__).parent / "golden"
_WRITE = os.environ.get("HARVESTER_WRITE_GOLDEN") == "1"
_SHOWN = 3  #: records kept verbatim at the head of each shard (the rest by digest)


def _shard_summary(lines: list[bytes], fields: tuple[str, ...] | None) -> dict[str, Any]:
    """A shard's records in file order: count, digest, and the first few in full."""
    if fields is None:
        kept = lines
    else:
        kept = [orjson.dumps([orjson.loads(line)[key] for key in fields]) for line in lines]
    return {
        "records": len(kept),
        "sha256": hashlib.sha256(b"\n".join(kept)).hexdigest(),
        "head": [orjson.loads(line) for line in kept[:_SHOWN]],
    }


def summarize(out: Path, fields: tuple[str, ...] | None, drop: tuple[str, ...]) -> dict[str, Any]:
    """What the golden file holds for a run's directory."""
    shards = {}
    for part in sorted(out.glob("part-*.jsonl.gz")):
        lines = gzip.decompress(part.read_bytes()).splitlines()
        shards[part.name] = _shard_summary(lines, fields)
    searches = []
    for line in (out / "searches.jsonl").read_bytes().splitlines():
        row = orjson.loads(line)
        searches.append({key: value for key, value in row.items() if key not in drop})
    return {"shards": shards, "searches": searches}


def check(name: str, summary: dict[str, Any]) -> None:
    """Compare with tests/golden/NAME.json (or write it, under HARVESTER_WRITE_GOLDEN=1)."""
    path = GOLDEN / f"{name}.json"
    if _WRITE:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n")
    golden = orjson.loads(path.read_bytes())
    assert summary["searches"] == golden["searches"]
    assert summary["shards"] == golden["shards"]


@pytest.mark.parametrize(("dedupe", "job_pool"), [("search", 0), ("job", 3000)])
def test_the_sink_writes_the_pinned_bytes_for_a_fixed_message_sequence(
    tmp_path: Path, dedupe: str, job_pool: int
) -> None:
    job = synthetic_job(1313, searches=24, job_pool=job_pool)
    out = tmp_path / "out"
    with open_sink(out, job, shards=3, dedupe=dedupe) as sink:
        messages = list(feed(job, sink.progress(), seed=13))
        for start in range(0, len(messages), 7):  # fixed batches, ends mid-batch
            sink.commit(messages[start : start + 7])
        sink.finish(run_info={"rate": 10})
    check(f"sink-{dedupe}", summarize(out, None, ()))


def test_a_cli_run_writes_the_pinned_records_in_the_pinned_order(tmp_path: Path) -> None:
    seed = 1313
    ids = search_ids(seed, 8, max_total=900)
    lines = ["[job]", 'name = "golden"', "rate = 200", "concurrency = 1", "shards = 3"]
    lines += ['dedupe = "job"', "", "[defaults]", "limit = 100", ""]
    for search_id in ids:
        lines += ["[[search]]", f'id = "{search_id}"', ""]
    job = tmp_path / "job.toml"
    job.write_text("\n".join(lines))
    out = tmp_path / "out"
    with sandbox(seed) as box:
        done = run(box, "run", job, "--out", out)
    assert done.returncode == 0, done.stderr
    check("cli-job-dedupe", summarize(out, COMPARED, ("deadline",)))
