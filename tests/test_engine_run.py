"""One run wired as the CLI wires it: the pool and the writer, with the writer gathering."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

import harvester.engine.run as engine_run
from harvester.engine.harvest import HarvestOptions
from harvester.engine.rate import Throttle
from harvester.engine.run import prepare, run_harvest
from harvester.sink import CommitStats, Sink
from tests.test_engine_pool import FakeApi, make_job


def _sink(out: Path, ids: list[str]) -> Sink:
    fingerprint = {"searches": ids}
    return Sink.open(
        out, job_name="t", job_sha256="0" * 64, fingerprint=fingerprint, shards=2, dedupe="search"
    )


async def _run(
    tmp_path: Path, totals: dict[str, int], concurrency: int
) -> tuple[list[CommitStats], dict[str, int]]:
    job = make_job(totals)
    api = FakeApi(totals)
    options = HarvestOptions(rate=10_000, burst=10_000, concurrency=concurrency)
    throttle = Throttle(options.rate, options.burst)
    api.pace = throttle.acquire
    commits: list[CommitStats] = []
    with _sink(tmp_path / "out", list(totals)) as sink:
        harvest, receive = prepare(job, api, sink, options, throttle=throttle)
        fed_back = harvest.committed
        harvest.committed = lambda pages: (commits.append(pages), fed_back(pages))  # type: ignore[method-assign,func-returns-value]
        with anyio.fail_after(30):  # a gathering writer that held a full window would hang
            await run_harvest(harvest, sink, receive)
        done = {sid: len(p.done_offsets) for sid, p in sink.progress().items()}
    return commits, done  # type: ignore[return-value]


async def test_a_full_commit_window_makes_the_gathering_writer_commit_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_run, "GATHER_S", 60.0)  # only the pool's flush ends a wait
    totals = {f"S{i}": 1100 for i in range(4)}  # 44 pages, the window holds 8
    commits, done = await _run(tmp_path, totals, concurrency=8)
    assert done == {sid: 11 for sid in totals}
    assert sum(commits) == 44 and len(commits) > 1


async def test_pages_that_trickle_in_are_gathered_into_fewer_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_run, "GATHER_S", 60.0)
    totals = {"A": 300, "B": 200}  # 5 pages, one at a time: the window never fills
    commits, done = await _run(tmp_path, totals, concurrency=1)
    assert done == {"A": 3, "B": 2}
    assert commits == [5]  # one commit, when the pool closed its stream
