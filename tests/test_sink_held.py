"""Staged pages held in memory: used only when they are the whole of a search's pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester.sink import held
from harvester.sink.checkpoint import Checkpoint
from harvester.sink.held import HeldPages
from harvester.sink.records import RenderedPage, render_page
from tests.test_harvest_support import read_records as read_records_in_file_order
from tests.test_sink_helpers import (
    drive,
    expected_records,
    feed,
    open_sink,
    read_records,
    synthetic_job,
)
from tests.test_sink_output import end, hit, page, small_sink

AT = "2026-11-24T20:00:00.000Z"


def rendered(offset: int, pids: list[str]) -> RenderedPage:
    return render_page("S", offset, AT, [hit(p) for p in pids])


def test_a_search_is_held_only_from_its_first_page() -> None:
    pages = HeldPages()
    first, second = rendered(0, ["a"]), rendered(100, ["b"])
    pages.committed([(1, first), (2, first)], fresh={1}, ended=[])
    pages.committed([(1, second), (2, second)], fresh=set(), ended=[])
    assert pages.pages(1) == [first, second]
    assert pages.pages(2) is None  # it had pages recorded before: read them all back
    pages.committed([], fresh=set(), ended=[1])
    assert pages.pages(1) is None


def test_over_the_budget_the_oldest_search_is_dropped_whole() -> None:
    a, b = rendered(0, ["a"] * 10), rendered(0, ["b"] * 10)
    pages = HeldPages(budget=len(a.block) + len(b.block) // 2)
    pages.committed([(1, a)], fresh={1}, ended=[])
    pages.committed([(2, b)], fresh={2}, ended=[])
    assert (pages.pages(1), pages.pages(2)) == (None, [b])
    pages.committed([(1, rendered(100, ["c"]))], fresh=set(), ended=[])
    assert pages.pages(1) is None  # once dropped, never held again


async def test_a_search_held_whole_is_not_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_read(self: Checkpoint, sid: int) -> list[tuple[int, bytes]]:
        raise AssertionError("read back a search held in memory")

    monkeypatch.setattr(Checkpoint, "staged", no_read)
    with small_sink(tmp_path, ["S1"], shards=1) as sink:
        sink.commit([page("S1", 100, ["b", "a"])])
        sink.commit([page("S1", 0, ["a", "c"])])
        sink.commit([end("S1")])
    assert [r["patent_id"] for r in read_records_in_file_order(tmp_path)] == ["a", "c", "b"]


async def test_pages_staged_before_a_restart_are_read_back_with_the_new_ones(
    tmp_path: Path,
) -> None:
    with small_sink(tmp_path, ["S1"], shards=1) as sink:
        sink.commit([page("S1", 100, ["b", "a"])])
    with small_sink(tmp_path, ["S1"], shards=1) as sink:
        sink.commit([page("S1", 200, ["d"])])  # not held: S1 already had a page
        sink.commit([page("S1", 0, ["a", "c"])])
        sink.commit([end("S1")])
    assert [r["patent_id"] for r in read_records_in_file_order(tmp_path)] == ["a", "c", "b", "d"]


@pytest.mark.parametrize("budget", [0, 40_000, held.HELD_BYTES])
def test_every_record_once_whatever_is_held_across_restarts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, budget: int
) -> None:
    monkeypatch.setattr(held, "HELD_BYTES", budget)
    job = synthetic_job(9, searches=24)
    for seed, cut in ((1, 70), (2, 150), (3, None)):  # two restarts part-way
        with open_sink(tmp_path, job) as sink:
            messages = list(feed(job, sink.progress(), seed))[:cut]
            drive(sink, messages, max_pages=3)
    assert read_records(tmp_path) == expected_records(job)
