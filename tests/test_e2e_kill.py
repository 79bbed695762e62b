"""The kill -9 acceptance test: the real `harvester run` in a subprocess, SIGKILLed at a
dozen moments (after some pages, right after a commit, while shards are being appended, at
a random delay) and once while it writes the closing files, resumed with the same command
until it exits 0, must leave exactly the output of an uninterrupted run, and must never pay
again for a page that was committed before a kill."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from tests.e2e_helpers import (
    CHECKPOINT,
    all_records,
    committed_pages,
    read_records,
    read_searches,
    sandbox,
    search_ids,
    start_run,
    write_job,
)

SEED = 1125
KILLS = 12
RATE = 80
CONCURRENCY = 4
SHARDS = 3
_POLL_S = 0.0005  # how often the watcher looks at the files: a commit takes longer
_SEGMENT_TIMEOUT_S = 30.0
_COMPARED_SEARCH_FIELDS = ("status", "total", "reachable", "pages", "records", "duplicates")


@dataclass(slots=True)
class Segment:
    """One start of `harvester run` and where its log goes."""

    proc: subprocess.Popen[bytes]
    log: Path
    read: int = 0  #: bytes of the log already counted
    pages: int = 0  #: page_done events seen

    def count_pages(self) -> int:
        """page_done events logged so far (the log is read incrementally)."""
        with open(self.log, "rb") as file:
            file.seek(self.read)
            chunk = file.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.read += len(complete)
        self.pages += complete.count(b'"event":"page_done"')
        return self.pages


def file_state(out: Path, names: list[str]) -> tuple[tuple[int, int], ...]:
    """(size, mtime_ns) of each named file in `out` ((-1, -1) when missing)."""
    state = []
    for name in names:
        try:
            info = (out / name).stat()
            state.append((info.st_size, info.st_mtime_ns))
        except FileNotFoundError:
            state.append((-1, -1))
    return tuple(state)


def shard_sizes(out: Path) -> tuple[int, ...]:
    """Current byte size of every part file."""
    return tuple(
        (out / f"part-{i:05d}.jsonl.gz").stat().st_size
        if (out / f"part-{i:05d}.jsonl.gz").exists()
        else -1
        for i in range(SHARDS)
    )


def wait_until(segment: Segment, moment: Callable[[], bool]) -> bool:
    """Poll until `moment()` holds (True) or the run ends by itself (False)."""
    deadline = time.monotonic() + _SEGMENT_TIMEOUT_S
    while segment.proc.poll() is None:
        if moment():
            return True
        assert time.monotonic() < deadline, "the run neither ended nor reached the moment"
        time.sleep(_POLL_S)
    return False


def kill_at(segment: Segment, out: Path, trigger: str, rng: random.Random) -> bool:
    """Wait for the moment `trigger` names, then SIGKILL the run; False if it ended first."""
    if trigger == "pages":  # somewhere in the middle of fetching
        n = rng.randint(1, 15)
        reached = wait_until(segment, lambda: segment.count_pages() >= n)
    elif trigger == "closing":  # writing searches.jsonl, manifest.json, _SUCCESS
        closing = [".searches.jsonl.tmp", "searches.jsonl", ".manifest.json.tmp"]
        reached = wait_until(segment, lambda: any((out / n).exists() for n in closing))
    else:
        if not wait_until(segment, lambda: segment.count_pages() >= 1):
            return False
        if trigger == "delay":  # wherever the process happens to be
            end = time.monotonic() + rng.uniform(0.02, 0.35)
            reached = wait_until(segment, lambda: time.monotonic() >= end)
        elif trigger == "commit":  # right after SQLite took a commit
            names = [CHECKPOINT, f"{CHECKPOINT}-wal"]
            before = file_state(out, names)
            reached = wait_until(segment, lambda: file_state(out, names) != before)
        else:  # "shard": a shard grew, its commit has not been seen yet: mid-write
            before_shards = shard_sizes(out)
            reached = wait_until(segment, lambda: shard_sizes(out) != before_shards)
    if not reached:
        return False
    segment.proc.send_signal(signal.SIGKILL)
    assert segment.proc.wait(timeout=10) == -signal.SIGKILL
    return True


def uncommitted_tails(out: Path) -> int:
    """Shards longer than the size the checkpoint committed (a batch cut off mid-write)."""
    db = sqlite3.connect(f"{(out / CHECKPOINT).resolve().as_uri()}?mode=ro", uri=True)
    try:
        committed = dict(db.execute("SELECT shard, size FROM shards").fetchall())
    finally:
        db.close()
    return sum(size > committed[i] for i, size in enumerate(shard_sizes(out)))


@pytest.mark.slow
def test_resume_after_twelve_sigkills_equals_a_straight_run_and_refetches_no_committed_page(
    tmp_path: Path,
) -> None:
    ids = search_ids(SEED, 30, min_total=200)
    job = write_job(tmp_path / "job.toml", ids, rate=RATE, concurrency=CONCURRENCY, shards=SHARDS)
    rng = random.Random(SEED)
    out = tmp_path / "killed"
    triggers = ["pages", "commit", "shard", "delay"]
    kills: list[str] = []
    tails = 0
    rebilled_per_kill: list[int] = []
    with sandbox(SEED) as box:
        billed: dict[str, int] = {}
        committed: set[str] = set()
        for attempt in range(KILLS + 5):
            log = tmp_path / f"run-{attempt}.log"
            segment = Segment(start_run(box, job, out, log), log)
            trigger = (
                triggers[attempt % len(triggers)]
                if len(kills) < KILLS
                else "closing"
                if "closing" not in kills
                else None
            )
            killed = trigger is not None and kill_at(segment, out, trigger, rng)
            if not killed:
                code = segment.proc.wait(timeout=_SEGMENT_TIMEOUT_S)
                assert code == 0, segment.log.read_text()[-2000:]
            now_billed = box.billed()
            now_committed = committed_pages(out)
            paid_again = {k for k, n in now_billed.items() if n > billed.get(k, 0)} & committed
            assert not paid_again, f"committed before kill {len(kills)}, paid again: {paid_again}"
            assert now_committed >= committed, "a kill lost pages that were committed"
            rebilled_per_kill.append(
                sum(1 for k, n in now_billed.items() if n > 1 and billed.get(k, 0) <= 1)
            )
            billed, committed = now_billed, now_committed
            if not killed:
                break
            kills.append(trigger or "")
            tails += uncommitted_tails(out)
        totals = box.settled_stats()
    assert len(kills) >= 10, f"only {len(kills)} kills landed: {kills}"
    assert tails >= 1, "no kill landed between a shard append and its commit"

    with sandbox(SEED) as fresh:
        straight = tmp_path / "straight"
        log = tmp_path / "straight.log"
        assert start_run(fresh, job, straight, log).wait(timeout=60) == 0, log.read_text()
        reference_billed = fresh.billed()

    # record for record, shard by shard, equal to the uninterrupted run
    assert read_records(out) == read_records(straight)
    records = all_records(out)
    assert len(records) > 10_000
    assert len({(r[0], r[1]) for r in records}) == len(records), "duplicate (search, patent)"
    resumed, reference = read_searches(out), read_searches(straight)
    assert resumed.keys() == reference.keys() == set(ids)
    for search_id, row in reference.items():
        for key in _COMPARED_SEARCH_FIELDS:
            assert resumed[search_id][key] == row[key], (search_id, key)
    assert orjson.loads((out / "manifest.json").read_bytes())["complete"] is True
    assert (out / "_SUCCESS").exists()

    # every page paid for at least once, the same pages as the straight run; a page paid
    # twice was in flight or not yet committed at a kill (checked per kill above)
    assert set(billed) == set(reference_billed)
    assert all(n == 1 for n in reference_billed.values())
    twice = sum(1 for n in billed.values() if n > 1)
    figures = (
        f"kills={len(kills)} ({', '.join(kills)}), tails cut={tails}, "
        f"pages={len(reference_billed)}, billed={totals['billed']}, paid twice={twice}, "
        f"newly paid twice per run={rebilled_per_kill}"
    )
    assert twice <= len(kills) * CONCURRENCY, figures
