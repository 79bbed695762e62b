"""`read_status`: progress from the checkpoint, read-only, also while a run writes."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import orjson
import pytest

from harvester.sink import CommitStats, PageFetched, read_status
from tests.test_sink_helpers import feed, open_sink, pump, run_once, synthetic_job


async def test_status_reads_progress_while_the_writer_commits(tmp_path: Path) -> None:
    job = synthetic_job(2, searches=15)
    seen: list[int] = []

    def look(stats: CommitStats) -> None:
        status = read_status(tmp_path)
        assert status.running
        seen.append(status.totals["pages"])

    with open_sink(tmp_path, job) as sink:
        await pump(sink, feed(job, sink.progress(), seed=4), on_commit=look)
    assert len(seen) > 3 and seen == sorted(seen) and seen[-1] > 0


def test_status_after_a_run_matches_the_closing_files(tmp_path: Path) -> None:
    job = synthetic_job(2, searches=15)
    result = run_once(tmp_path, job, seed=1)
    status = read_status(tmp_path)
    assert status.success and not status.running
    assert status.job_name == "synthetic" and status.shards == 4
    assert [s.search_id for s in status.searches] == [s.search_id for s in job]
    for key in ("records", "duplicates", "pages", "calls", "searches"):
        assert status.totals[key] == result.totals[key], key
    assert status.totals["final"] == 15 and status.totals["staged_pages"] == 0


async def test_status_counts_staged_pages_of_unfinished_searches(tmp_path: Path) -> None:
    job = synthetic_job(2, searches=15)
    with open_sink(tmp_path, job) as sink:
        pages = [m for m in feed(job, sink.progress(), seed=4) if isinstance(m, PageFetched)]
        await pump(sink, pages[:20])
    status = read_status(tmp_path)
    assert status.totals["pending"] == 15
    assert status.totals["pages"] == status.totals["staged_pages"] == 20


def test_status_of_a_dir_without_checkpoint_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="harvester run"):
        read_status(tmp_path / "nowhere")


def test_status_reads_a_finished_run_on_a_read_only_mount(tmp_path: Path) -> None:
    source, view = tmp_path / "run", tmp_path / "view"
    view.mkdir()
    run_once(source, synthetic_job(2, searches=3), seed=1)
    if subprocess.run(["mount", "--bind", str(source), str(view)], capture_output=True).returncode:
        pytest.skip("cannot bind-mount here (not root?)")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
        status = read_status(view)  # no -shm can be created: read the file as it is
        assert status.totals["final"] == 3 and status.success
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)


def test_status_renders_text_and_json_for_the_cli(tmp_path: Path) -> None:
    job = synthetic_job(2, searches=4)
    run_once(tmp_path, job, seed=1)
    status = read_status(tmp_path)
    text = status.to_text(max_rows=2)
    assert "complete (_SUCCESS)" in text and "... and 2 more" in text
    data = orjson.loads(status.to_json())
    assert [s["search_id"] for s in data["searches"]] == [s.search_id for s in job]
    assert data["totals"] == status.totals and data["run_start"] == status.run_start


def test_run_start_is_the_first_runs_start_across_resumes(tmp_path: Path) -> None:
    job = synthetic_job(2, searches=4)
    with open_sink(tmp_path, job) as sink:
        assert sink.run_start(default=123.0) == 123.0  # the first run: the caller's clock
    first = read_status(tmp_path).run_start
    assert first is not None and abs(first - time.time()) < 60
    with open_sink(tmp_path, job) as sink:
        assert sink.run_start(default=time.time() + 3600) == first
