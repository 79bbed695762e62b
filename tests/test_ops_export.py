"""`harvester export --format parquet`: every record, typed, checked with DuckDB."""

from __future__ import annotations

import io
import random
import shutil
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harvester.cli import main
from harvester.ops import MissingExtra, NotPublishable, export_parquet, publish, verify_run
from tests.test_harvest_support import read_records
from tests.test_ops_support import COMPARED, harvester, sandbox, write_job

DT = "2026-11-25"
NDJSON_COLUMNS = (
    "{search_id: 'VARCHAR', patent_id: 'VARCHAR', patent_pn: 'VARCHAR', title: 'VARCHAR', "
    "score: 'DOUBLE', url: 'VARCHAR', rank: 'INTEGER', harvested_at: 'VARCHAR'}"
)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """A finished run (and its job file, and the sandbox env) to copy from; the sandbox is
    gone after the fixture, so a later `run` must find nothing to do."""
    root = tmp_path_factory.mktemp("export")
    job = write_job(root)
    out = root / "runs" / f"dt={DT}"
    with sandbox() as box:
        env = box.env()
        done = harvester(["run", job, "--out", out], env=env, cwd=root)
    assert done.returncode == 0, done.stderr
    return out, job, env


@pytest.fixture
def run(finished: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> Path:
    target = tmp_path / f"dt={DT}"
    shutil.copytree(finished[0], target)
    return target


def test_export_parquet_round_trips_every_record(run: Path) -> None:
    done = harvester(["export", run, "--format", "parquet"])
    assert done.returncode == 0, done.stderr
    records = read_records(run)
    manifest = orjson.loads((run / "manifest.json").read_bytes())
    assert len(records) == manifest["totals"]["records"] > 1000
    ndjson = (
        f"read_json('{run}/part-*.jsonl.gz', format='newline_delimited', columns={NDJSON_COLUMNS})"
    )
    parquet = f"read_parquet('{run}/part-*.parquet', hive_partitioning = false)"
    db = duckdb.connect()
    assert db.execute(f"select count(*) from {parquet}").fetchone() == (len(records),)
    typed = (
        "select search_id, patent_id, patent_pn, title, score, url, rank, "
        f"harvested_at::TIMESTAMPTZ as harvested_at from {ndjson}"
    )
    for left, right in ((typed, f"select * from {parquet}"), (f"select * from {parquet}", typed)):
        assert db.execute(f"select count(*) from ({left} except all {right})").fetchone() == (0,)
    sample = random.Random(7).sample(records, 25)
    for record in sample:
        row = db.execute(
            f"select {', '.join(COMPARED)}, epoch_ms(harvested_at) from {parquet} "
            "where search_id = ? and patent_id = ?",
            [record["search_id"], record["patent_id"]],
        ).fetchall()
        stamp = datetime.fromisoformat(record["harvested_at"])
        assert row == [(*(record[f] for f in COMPARED), int(stamp.timestamp() * 1000))]


def test_parquet_files_have_the_documented_types(run: Path) -> None:
    export_parquet(run)
    schema = pq.read_schema(run / "part-00000.parquet")
    assert [(f.name, f.type, f.nullable) for f in schema] == [
        ("search_id", pa.string(), False),
        ("patent_id", pa.string(), False),
        ("patent_pn", pa.string(), True),
        ("title", pa.string(), True),
        ("score", pa.float64(), True),
        ("url", pa.string(), True),
        ("rank", pa.int32(), False),
        ("harvested_at", pa.timestamp("ms", tz="UTC"), False),
    ]
    for shard in orjson.loads((run / "manifest.json").read_bytes())["shards"]:
        parquet = run / shard["path"].replace(".jsonl.gz", ".parquet")
        assert pq.read_metadata(parquet).num_rows == shard["records"]


def test_export_leaves_a_verified_complete_run_and_a_second_export_changes_nothing(
    run: Path, finished: tuple[Path, Path, dict[str, str]]
) -> None:
    first = export_parquet(run)
    assert first.written and first.records == sum(
        s["records"] for s in orjson.loads((run / "manifest.json").read_bytes())["shards"]
    )
    names = {f.name for f in verify_run(run).data}
    assert {"part-00000.parquet", "part-00000.jsonl.gz", "searches.jsonl"} <= names
    before = {p.name: p.read_bytes() for p in run.iterdir() if not p.name.startswith("_check")}
    again = export_parquet(run)
    assert not again.written and again.files == first.files
    assert {
        p.name: p.read_bytes() for p in run.iterdir() if not p.name.startswith("_check")
    } == before
    # The sink still recognises its complete run: running the job again does nothing.
    _, job, env = finished
    rerun = harvester(["run", job, "--out", run], env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert "nothing to do" in rerun.stdout


def test_export_replace_removes_the_ndjson_and_publish_copies_the_parquet(
    run: Path, tmp_path: Path
) -> None:
    count = len(read_records(run))
    shards = tuple(sorted(p.name for p in run.glob("*.jsonl.gz")))
    result = export_parquet(run, replace=True)
    assert result.records == count
    assert result.removed == shards
    assert not list(run.glob("*.jsonl.gz"))
    manifest = orjson.loads((run / "manifest.json").read_bytes())
    assert manifest["shards"] == [] and manifest["replaced"] == ["ndjson"]
    publish(run, str(tmp_path / "lake"))
    folder = tmp_path / "lake" / "job=opsjob" / f"dt={DT}"
    assert sorted(p.name for p in folder.glob("part-*")) == sorted(result.files)
    query = f"select count(*) from read_parquet('{folder}/*.parquet')"
    total = duckdb.connect().execute(query).fetchone()
    assert total == (count,)


def test_export_refuses_a_tampered_run_and_writes_no_parquet(run: Path) -> None:
    with open(run / "part-00002.jsonl.gz", "ab") as shard:
        shard.write(b"junk")
    with pytest.raises(NotPublishable, match="part-00002"):
        export_parquet(run)
    assert not list(run.glob("*.parquet"))


def test_export_without_pyarrow_names_the_extra_and_exits_2(
    run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(MissingExtra, match=r"pip install '\.\[parquet\]' in the harvester's clone"):
        export_parquet(run)
    err = io.StringIO()
    assert main(["export", str(run), "--format", "parquet"], io.StringIO(), err) == 2
    assert "pip install '.[parquet]'" in err.getvalue()


def test_a_failed_write_is_exit_1_and_leaves_the_run_as_it_was(run: Path) -> None:
    (run / ".part-00001.parquet.tmp").mkdir()  # the temporary name is taken: writing fails
    manifest = (run / "manifest.json").read_bytes()
    err = io.StringIO()
    assert main(["export", str(run), "--format", "parquet"], io.StringIO(), err) == 1
    assert "Export again" in err.getvalue()
    assert (run / "manifest.json").read_bytes() == manifest
    verify_run(run)


def test_a_replaced_directory_is_not_resumed_and_run_says_why(
    run: Path, finished: tuple[Path, Path, dict[str, str]]
) -> None:
    export_parquet(run, replace=True)
    _, job, env = finished
    rerun = harvester(["run", job, "--out", run], env=env)
    assert rerun.returncode == 2
    assert "part-00000.jsonl.gz is missing" in rerun.stderr
    assert list(run.glob("*.jsonl.gz")) == []
