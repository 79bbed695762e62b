"""When the real CLI must refuse: a corrupt or truncated checkpoint (exit 2, never a silent
restart), a changed job (exit 2 listing the changes, unless --fresh), and an output
directory another run holds (exit 4, until that run is killed)."""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from tests.e2e_helpers import (
    CHECKPOINT,
    SandboxProcess,
    all_records,
    committed_pages,
    kill,
    no_traceback,
    read_searches,
    run,
    run_all,
    sandbox,
    search_ids,
    start_run,
    write_job,
)

SEED = 4242
IDS = search_ids(SEED, 6, max_total=600, hashed=1)


@pytest.fixture(scope="module")
def box() -> Iterator[SandboxProcess]:
    with sandbox(SEED) as running:
        yield running


@pytest.fixture(scope="module")
def finished(box: SandboxProcess, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(job file, output directory) of one complete run, to copy and damage."""
    base = tmp_path_factory.mktemp("finished")
    job = write_job(base / "job.toml", IDS, rate=300)
    done = run(box, "run", job, "--out", base / "out")
    assert done.returncode == 0, done.stderr
    return job, base / "out"


def copy_of(finished: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    job, out = finished
    shutil.copytree(out, tmp_path / "out")
    return job, tmp_path / "out"


def message_lines(stderr: str) -> str:
    """stderr without JSON log events: what the user is told."""
    return "\n".join(line for line in stderr.splitlines() if not line.startswith("{"))


def output_files(out: Path) -> dict[str, bytes]:
    """Every file of the directory and its bytes, but SQLite's -wal/-shm (which opening a
    WAL database may create, even read-only) and the lock file (which holds the last pid)."""
    skip = (f"{CHECKPOINT}-wal", f"{CHECKPOINT}-shm", "_harvester.lock")
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.name not in skip}


def garbage(path: Path) -> None:
    path.write_bytes(random.Random(1).randbytes(path.stat().st_size))


def half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def empty(path: Path) -> None:
    path.write_bytes(b"")


def torn_page(path: Path) -> None:
    """Keep the header, scribble over every b-tree page after the first (a torn write)."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    rng = random.Random(2)
    for start in range(page, len(data), page):
        data[start + 8 : start + page] = rng.randbytes(page - 8)
    path.write_bytes(bytes(data))


def foreign(path: Path) -> None:
    """A sound SQLite file, but another program's."""
    path.unlink()
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (body TEXT)")
    db.execute("INSERT INTO notes VALUES ('not a checkpoint')")
    db.commit()
    db.close()


@pytest.mark.parametrize("damage", [garbage, half, empty, torn_page, foreign])
def test_a_damaged_checkpoint_stops_run_and_status_with_exit_2_naming_it_and_restarts_nothing(
    box: SandboxProcess,
    finished: tuple[Path, Path],
    tmp_path: Path,
    damage: Callable[[Path], None],
) -> None:
    job, out = copy_of(finished, tmp_path)
    checkpoint = out / CHECKPOINT
    damage(checkpoint)
    before = checkpoint.read_bytes()
    files = output_files(out)
    billed = box.settled_stats()["billed"]

    commands = (("run", job, "--out", out), ("status", out), ("status", out, "--json"))
    for done in run_all(box, *commands):
        assert done.returncode == 2, (done.args, done.stdout, done.stderr)
        no_traceback(done.stderr)
        told = message_lines(done.stderr)
        assert str(checkpoint) in told, told
        assert told.startswith("harvester: "), told

    assert checkpoint.read_bytes() == before, "the damaged checkpoint was changed"
    assert output_files(out) == files, "files appeared, vanished or changed"
    wal = out / f"{CHECKPOINT}-wal"
    assert not wal.exists() or wal.stat().st_size == 0, "something was written to the WAL"
    assert box.settled_stats()["billed"] == billed, "a refused run called the API"


def test_a_changed_job_is_refused_with_exit_2_listing_the_changes_and_runs_with_fresh(
    box: SandboxProcess, finished: tuple[Path, Path], tmp_path: Path
) -> None:
    _, out = copy_of(finished, tmp_path)
    added = write_job(tmp_path / "added.toml", [*IDS, "SBX-150-new"], rate=300)
    narrowed = write_job(
        tmp_path / "narrowed.toml", IDS, rate=300, filters={IDS[1]: {"country": "CN"}}
    )
    checkpoint = (out / CHECKPOINT).read_bytes()
    billed = box.settled_stats()["billed"]

    done = run(box, "run", added, "--out", out)
    assert done.returncode == 2, done.stderr
    no_traceback(done.stderr)
    assert "searches added (1): SBX-150-new" in done.stderr

    done = run(box, "run", narrowed, "--out", out)
    assert done.returncode == 2, done.stderr
    no_traceback(done.stderr)
    changed = [line for line in done.stderr.splitlines() if IDS[1] in line]
    assert changed and "country" in changed[0], done.stderr
    assert "--fresh" in done.stderr

    assert (out / CHECKPOINT).read_bytes() == checkpoint
    assert box.settled_stats()["billed"] == billed, "a refused run called the API"

    done = run(box, "run", added, "--out", out, "--fresh")
    assert done.returncode == 0, done.stderr
    assert set(read_searches(out)) == {*IDS, "SBX-150-new"}
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["complete"] is True
    assert manifest["totals"]["records"] == len(all_records(out))
    new = read_searches(out)["SBX-150-new"]
    assert new["status"] == "complete" and new["total"] == 150
    assert new["records"] + new["duplicates"] == 150
    assert sum(1 for r in all_records(out) if r[0] == "SBX-150-new") == new["records"]


def lock_held(out: Path) -> bool:
    """Whether some process holds the run's flock (asked of the kernel, not the harvester)."""
    try:
        fd = os.open(out / "_harvester.lock", os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_second_run_on_a_held_directory_exits_4_and_one_after_a_sigkill_proceeds(
    box: SandboxProcess, tmp_path: Path
) -> None:
    # slow on purpose (~80 pages at 10/s): it is still running when the second one starts
    ids = search_ids(SEED + 1, 10, max_total=1000, hashed=0)
    job = write_job(tmp_path / "job.toml", ids, rate=10)
    out = tmp_path / "out"
    first = start_run(box, job, out, tmp_path / "first.log")
    try:
        deadline = time.monotonic() + 20
        while not (lock_held(out) and committed_pages(out)):
            assert first.poll() is None, (tmp_path / "first.log").read_text()
            assert time.monotonic() < deadline, "the first run never committed a page"
            time.sleep(0.01)

        second = run(box, "run", job, "--out", out)
        assert second.returncode == 4, second.stderr
        no_traceback(second.stderr)
        told = message_lines(second.stderr)
        assert str(out) in told and f"pid {first.pid}" in told, told
        assert first.poll() is None, "the refused run disturbed the running one"
    finally:
        assert kill(first) == -9

    assert lock_held(out) is False  # the kernel dropped the dead holder's flock
    third = run(box, "run", job, "--out", out, "--rate", "300")
    assert third.returncode == 0, third.stderr
    records = all_records(out)
    assert len({(r[0], r[1]) for r in records}) == len(records)
    assert set(read_searches(out)) == set(ids)
    assert (out / "_SUCCESS").exists()


def test_running_a_finished_job_again_says_so_exits_0_and_calls_nothing(
    box: SandboxProcess, finished: tuple[Path, Path], tmp_path: Path
) -> None:
    job, out = copy_of(finished, tmp_path)
    files = output_files(out)
    billed = box.settled_stats()["billed"]
    done = run(box, "run", job, "--out", out)
    assert done.returncode == 0, done.stderr
    assert "nothing to do" in done.stdout
    assert output_files(out) == files
    assert box.settled_stats()["billed"] == billed
