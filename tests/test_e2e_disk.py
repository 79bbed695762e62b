"""A disk that says no, under the real CLI: a tmpfs that fills up mid-run, and one that is
read-only. Each must end with one clear paragraph naming the path (no traceback), a
non-zero exit, and a checkpoint from which a later run completes with the right records,
paying for no page the checkpoint already held. Skipped where tmpfs cannot be mounted."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.e2e_helpers import (
    CHECKPOINT,
    SandboxProcess,
    all_records,
    committed_pages,
    kill,
    no_traceback,
    run,
    sandbox,
    search_ids,
    start_run,
    write_job,
)

SEED = 909
IDS = search_ids(SEED, 16, max_total=1500, hashed=2)


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of `size` at `path` for the block; skip the test where we cannot."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def remount(path: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)


@pytest.fixture(scope="module")
def box() -> Iterator[SandboxProcess]:
    with sandbox(SEED) as running:
        yield running


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_job(tmp_path_factory.mktemp("job") / "job.toml", IDS, rate=300)


@pytest.fixture(scope="module")
def reference(box: SandboxProcess, job: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run of the job on an ordinary disk."""
    out = tmp_path_factory.mktemp("reference") / "out"
    done = run(box, "run", job, "--out", out)
    assert done.returncode == 0, done.stderr
    return out


def told(stderr: str) -> list[str]:
    """What the user is told on stderr: everything but JSON and text log events."""
    return [line for line in stderr.splitlines() if line.startswith("harvester:")]


def assert_clear_error(stderr: str, out: Path, reason: str) -> None:
    """One paragraph, naming a file in `out`, saying `reason`, and no traceback."""
    no_traceback(stderr)
    messages = told(stderr)
    assert len(messages) == 1, stderr
    assert f"cannot write {out}/" in messages[0] and reason in messages[0], messages[0]


def assert_sound(out: Path, scratch: Path) -> None:
    """SQLite itself finds the checkpoint whole: checked on a copy of it and its WAL (the
    last commits live there), so the directory itself stays as it was."""
    scratch.mkdir()
    for suffix in ("", "-wal"):
        if (out / f"{CHECKPOINT}{suffix}").exists():
            shutil.copy(out / f"{CHECKPOINT}{suffix}", scratch)
    db = sqlite3.connect(scratch / CHECKPOINT)
    try:
        assert db.execute("PRAGMA quick_check").fetchall() == [("ok",)]
    finally:
        db.close()


def status(out: Path) -> dict[str, Any]:
    done = run(None, "status", out, "--json")
    assert done.returncode == 0, done.stderr
    no_traceback(done.stderr)
    report: dict[str, Any] = orjson.loads(done.stdout)
    return report


# On 1 MB a shard append usually meets the full disk first, on 400 KB the checkpoint's
# WAL: either way the run must stop cleanly (which one is timing, so it is not asserted).
@pytest.mark.parametrize("size", ["1m", "400k"])
def test_a_disk_that_fills_mid_run_ends_clearly_and_a_copy_on_a_bigger_disk_completes(
    box: SandboxProcess,
    job: Path,
    reference: Path,
    tmp_path: Path,
    size: str,
) -> None:
    with tmpfs(tmp_path / "small", size) as small:
        out = small / "out"
        done = run(box, "run", job, "--out", out)
        assert done.returncode == 5, done.stderr
        assert_clear_error(done.stderr, out, "no space left on the device")
        committed = committed_pages(out)
        assert committed, "the disk filled before the first commit: make the tmpfs bigger"

        again = run(box, "run", job, "--out", out)  # still full: same message, no damage
        assert again.returncode == 5, again.stderr
        assert_clear_error(again.stderr, out, "no space left on the device")
        assert committed_pages(out) >= committed

        bigger = tmp_path / "bigger"
        shutil.copytree(out, bigger)
    assert_sound(bigger, tmp_path / "scratch")
    billed = box.billed()
    resumed = run(box, "run", job, "--out", bigger)
    assert resumed.returncode == 0, resumed.stderr
    assert all_records(bigger) == all_records(reference)
    paid_again = {key for key, n in box.billed().items() if n > billed.get(key, 0)} & committed
    assert not paid_again, f"pages the checkpoint held were paid again: {sorted(paid_again)}"


def test_a_read_only_output_directory_ends_clearly_keeps_the_checkpoint_and_resumes_when_writable(
    box: SandboxProcess, job: Path, reference: Path, tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "disk", "20m") as disk:
        out = disk / "out"
        first = start_run(box, job, out, tmp_path / "first.log")
        deadline = time.monotonic() + 20
        while not committed_pages(out):  # a run killed with commits in its WAL
            assert first.poll() is None, (tmp_path / "first.log").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.005)
        assert kill(first) == -signal.SIGKILL
        before = status(out)
        committed = committed_pages(out)
        files = {p.name: p.read_bytes() for p in out.iterdir()}

        remount(disk, "ro")
        try:
            done = run(box, "run", job, "--out", out)
            assert done.returncode != 0, done.stderr
            assert_clear_error(done.stderr, out, "read-only file system")
            assert "writable again" in done.stderr  # not another --out: that would start over
            # status still reads it, and sees every commit (they sit in the WAL)
            assert status(out)["totals"] == before["totals"]
            assert {p.name: p.read_bytes() for p in out.iterdir()} == files
        finally:
            remount(disk, "rw")

        billed = box.billed()
        resumed = run(box, "run", job, "--out", out)
        assert resumed.returncode == 0, resumed.stderr
        assert all_records(out) == all_records(reference)
    paid_again = {key for key, n in box.billed().items() if n > billed.get(key, 0)} & committed
    assert not paid_again, f"pages the checkpoint held were paid again: {sorted(paid_again)}"
