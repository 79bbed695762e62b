"""A disk that says no (full, read-only): OutputError, and a checkpoint that resumes."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import pytest

from harvester.sink import OutputError, PageFetched, SearchEnded, shard_name
from harvester.sink import shards as shards_module
from tests.test_sink_helpers import (
    drive,
    expected_records,
    feed,
    open_sink,
    pump,
    read_records,
    run_once,
    synthetic_job,
)

SEED = 4


def failing_write(nth: int, code: int) -> object:
    """A stand-in for the shard writer that fails with `code` from its nth call on."""
    calls = [0]
    original = shards_module._write_all

    def write(fd: int, data: bytes) -> None:
        calls[0] += 1
        if calls[0] >= nth:
            raise OSError(code, os.strerror(code))
        original(fd, data)

    return write


def resume_to_the_end(out: Path) -> None:
    job = synthetic_job(SEED, searches=20)
    assert run_once(out, job, seed=9).success
    assert read_records(out) == expected_records(job)


def test_full_disk_during_a_commit_keeps_the_last_commit_and_the_paid_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = synthetic_job(SEED, searches=20)
    with open_sink(tmp_path, job) as sink:
        messages = list(feed(job, sink.progress(), seed=1))
        first, second = messages[:40], messages[40:80]
        sink.commit(first)
        sizes = [(tmp_path / shard_name(i)).stat().st_size for i in range(4)]
        monkeypatch.setattr(shards_module, "_write_all", failing_write(2, errno.ENOSPC))
        with pytest.raises(OutputError, match="no space left") as info:
            sink.commit(second)
        assert str(tmp_path) in str(info.value)
        assert "run again" in str(info.value)
        assert [(tmp_path / shard_name(i)).stat().st_size for i in range(4)] == sizes
        after = sink.progress()
    monkeypatch.undo()
    pages = [m for m in second if isinstance(m, PageFetched)]
    assert pages and all(m.offset in after[m.search_id].done_offsets for m in pages)
    ended = [m.search_id for m in second if isinstance(m, SearchEnded)]
    assert ended and all(after[s].status is None for s in ended)
    resume_to_the_end(tmp_path)


async def test_writer_task_ends_with_output_error_and_a_later_run_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = synthetic_job(SEED, searches=20)
    with open_sink(tmp_path, job) as sink:
        monkeypatch.setattr(shards_module, "_write_all", failing_write(6, errno.EROFS))
        with pytest.raises(ExceptionGroup) as info:
            await pump(sink, feed(job, sink.progress(), seed=2))
        assert info.group_contains(OutputError, match="read-only file system")
    monkeypatch.undo()
    with open_sink(tmp_path, job) as sink:
        await pump(sink, feed(job, sink.progress(), seed=3))
        assert sink.finish(run_info={}).success
    assert read_records(tmp_path) == expected_records(job)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs of our own (needs root; skipped where mounting is not allowed)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=192k", "tmpfs", str(mnt)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here (not root?)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def remount(mnt: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(mnt)], check=True)


def test_a_really_full_tmpfs_ends_with_output_error_and_resumes_once_there_is_room(
    tmpfs: Path,
) -> None:
    job = synthetic_job(SEED, searches=20)
    out = tmpfs / "run"
    with pytest.raises(ExceptionGroup) as info, open_sink(out, job) as sink:
        drive(sink, feed(job, sink.progress(), seed=5))
    assert info.group_contains(OutputError, match="no space left")
    remount(tmpfs, "size=16m")
    resume_to_the_end(out)


def test_a_read_only_output_dir_fails_at_open_and_resumes_when_writable(tmpfs: Path) -> None:
    remount(tmpfs, "size=16m")
    job = synthetic_job(SEED, searches=20)
    out = tmpfs / "run"
    with open_sink(out, job) as sink:  # half a run, then the disk turns read-only
        drive(sink, islice(feed(job, sink.progress(), seed=6), 60))
    before = (out / "_checkpoint.sqlite").read_bytes()
    remount(tmpfs, "ro")
    try:
        with pytest.raises(OutputError, match="read-only file system"):
            open_sink(out, job)
    finally:
        remount(tmpfs, "rw")
    assert (out / "_checkpoint.sqlite").read_bytes() == before
    resume_to_the_end(out)


def test_a_checkpoint_that_fills_mid_transaction_ends_with_output_error_and_resumes(
    tmp_path: Path,
) -> None:
    job = synthetic_job(SEED, searches=20)
    with open_sink(tmp_path, job) as sink:
        messages = list(feed(job, sink.progress(), seed=1))
        sink.commit(messages[:40])
        # SQLite's own "database or disk is full" (SQLITE_FULL), raised by a statement
        # between BEGIN and COMMIT: the staged pages need room the file may not take
        db = sink._checkpoint._db
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")
        pages_only = [m for m in messages[40:] if isinstance(m, PageFetched)][:30]
        with pytest.raises(OutputError, match="no space left"):
            sink.commit(pages_only)
    resume_to_the_end(tmp_path)
