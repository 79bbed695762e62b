"""Opening an output directory: corrupt checkpoints, changed jobs, --fresh, the lock."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from harvester.sink import (
    CHECKPOINT_NAME,
    CheckpointCorrupt,
    CheckpointMismatch,
    OutputLocked,
    PageFetched,
    Sink,
    read_status,
)
from tests.test_sink_helpers import (
    FakeHit,
    drive,
    expected_records,
    feed,
    fingerprint,
    open_sink,
    read_records,
    run_once,
    synthetic_job,
)

ROOT = Path(__file__).resolve().parents[1]


def half_run(out: Path, searches: int = 20) -> None:
    job = synthetic_job(3, searches=searches)
    with open_sink(out, job) as sink:
        drive(sink, islice(feed(job, sink.progress(), seed=1), 70))


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p.write_bytes(os.urandom(8192)), id="garbage"),
        pytest.param(lambda p: p.write_bytes(b""), id="empty"),
        pytest.param(lambda p: os.truncate(p, p.stat().st_size // 2), id="truncated"),
        pytest.param(lambda p: os.truncate(p, 60), id="truncated-header"),
    ],
)
def test_a_damaged_checkpoint_is_reported_with_its_path_and_left_alone(
    tmp_path: Path, damage: object
) -> None:
    half_run(tmp_path)
    path = tmp_path / CHECKPOINT_NAME
    damage(path)  # type: ignore[operator]
    damaged = path.read_bytes()
    with pytest.raises(CheckpointCorrupt, match=str(path)):
        open_sink(tmp_path, synthetic_job(3, searches=20))
    with pytest.raises(CheckpointCorrupt, match=str(path)):
        read_status(tmp_path)
    assert path.read_bytes() == damaged
    open_sink(tmp_path, synthetic_job(3, searches=20), fresh=True).close()


def test_an_sqlite_file_of_another_program_is_not_taken_for_a_checkpoint(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / CHECKPOINT_NAME) as db:
        db.execute("CREATE TABLE meta (key, value)")
    with pytest.raises(CheckpointCorrupt, match="not a harvester checkpoint"):
        open_sink(tmp_path, synthetic_job(3))


def test_a_changed_job_is_refused_with_the_changes_listed(tmp_path: Path) -> None:
    half_run(tmp_path, searches=5)
    job = synthetic_job(3, searches=6)[1:]  # one search gone, one new
    changed = fingerprint(job) | {"validity_minutes": 30}

    def describe(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
        assert old == fingerprint(synthetic_job(3, searches=5))
        assert new == changed
        return ["shards: the describer's words for it", "searches: 1 added, 1 removed"]

    with pytest.raises(CheckpointMismatch) as info:
        Sink.open(
            tmp_path,
            job_name="synthetic",
            job_sha256="1" * 64,
            fingerprint=changed,
            shards=8,
            dedupe="search",
            describe_changes=describe,
        )
    # the layout is the sink's to name, once; the rest is the describer's
    assert info.value.changes == ["shards: 4 -> 8", "searches: 1 added, 1 removed"]
    assert "--fresh" in str(info.value)


def test_a_changed_job_without_a_describer_is_refused_in_general_terms(tmp_path: Path) -> None:
    half_run(tmp_path, searches=5)
    changed = fingerprint(synthetic_job(3, searches=5)) | {"validity_minutes": 30}
    with pytest.raises(CheckpointMismatch) as info:
        Sink.open(
            tmp_path,
            job_name="synthetic",
            job_sha256="1" * 64,
            fingerprint=changed,
            shards=4,
            dedupe="search",
        )
    assert info.value.changes == ["the job's fingerprint changed"]


def test_the_same_job_with_searches_listed_in_another_order_resumes(tmp_path: Path) -> None:
    ids = ["A", "B", "C"]
    with Sink.open(
        tmp_path,
        job_name="j",
        job_sha256="",
        fingerprint={"searches": ids},
        shards=2,
        dedupe="search",
    ) as sink:
        sink.commit([PageFetched("B", 0, 100, 1, [FakeHit("P", None, None, None, None)], "t")])
    with Sink.open(
        tmp_path,
        job_name="j",
        job_sha256="",
        fingerprint={"searches": ids[::-1]},
        shards=2,
        dedupe="search",
    ) as again:  # no CheckpointMismatch, and the same checkpoint goes on
        progress = again.progress()
    assert list(progress) == ids  # the job order of the first run
    assert progress["B"].done_offsets == {0}


def test_fresh_deletes_the_previous_run_and_starts_over(tmp_path: Path) -> None:
    half_run(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    job = synthetic_job(8, searches=10)
    with Sink.open(
        tmp_path,
        job_name="other",
        job_sha256="",
        fingerprint=fingerprint(job),
        shards=2,
        dedupe="search",
        fresh=True,
    ) as sink:
        assert all(p.status is None and not p.done_offsets for p in sink.progress().values())
        assert sorted(p.name for p in tmp_path.glob("part-*")) == [
            "part-00000.jsonl.gz",
            "part-00001.jsonl.gz",
        ]
        drive(sink, feed(job, sink.progress(), seed=1))
    assert read_records(tmp_path) == expected_records(job)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_output_files_without_a_checkpoint_are_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "part-00000.jsonl.gz").write_bytes(b"someone else's")
    with pytest.raises(CheckpointMismatch, match="without a checkpoint"):
        open_sink(tmp_path, synthetic_job(3))
    assert (tmp_path / "part-00000.jsonl.gz").read_bytes() == b"someone else's"


def test_a_resume_after_success_finds_the_run_complete(tmp_path: Path) -> None:
    job = synthetic_job(3, searches=5)
    assert run_once(tmp_path, job, seed=0).success
    with open_sink(tmp_path, job) as sink:
        assert sink.is_complete()
        assert all(p.status for p in sink.progress().values())


HOLDER = """
import sys
from pathlib import Path
from harvester.sink import Sink
sink = Sink.open(Path(sys.argv[1]), job_name="j", job_sha256="", fingerprint={"searches": ["A"]},
                 shards=1, dedupe="search")
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_second_run_on_a_locked_dir_fails_until_the_holder_is_killed(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"locked\n"
        with pytest.raises(OutputLocked) as info:
            Sink.open(
                tmp_path,
                job_name="j",
                job_sha256="",
                fingerprint={"searches": ["A"]},
                shards=1,
                dedupe="search",
            )
        assert info.value.pid == holder.pid
        assert f"pid {holder.pid}" in str(info.value)
        status = read_status(tmp_path)
        assert (status.running, status.running_pid) == (True, holder.pid)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        for stream in (holder.stdin, holder.stdout):
            assert stream is not None
            stream.close()
    with Sink.open(
        tmp_path,
        job_name="j",
        job_sha256="",
        fingerprint={"searches": ["A"]},
        shards=1,
        dedupe="search",
    ):
        pass
    assert read_status(tmp_path).running is False


def test_the_same_process_cannot_open_a_dir_twice(tmp_path: Path) -> None:
    with open_sink(tmp_path, synthetic_job(3)), pytest.raises(OutputLocked):
        open_sink(tmp_path, synthetic_job(3))
