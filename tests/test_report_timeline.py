"""The run timeline and the report drawn from it, without a browser: what is recorded per
bucket, that a long run stays small, that a cut line is survived, that the page is
deterministic and escapes what the API sent."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from harvester.api.models import Page
from harvester.engine.events import HarvestStats, NullObserver
from harvester.runreport import Story, read_timeline, render
from harvester.runreport.timeline import LINES_PER_WIDTH, Timeline
from harvester.sink import TIMELINE_NAME


class FakeClock:
    """Wall time that moves only when told."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Recording(io.BytesIO):
    """A file whose bytes stay readable after the timeline closes it."""

    def close(self) -> None:
        """Keep the buffer."""


def _timeline(file: io.BytesIO, clock: FakeClock, ids: list[str]) -> Timeline:
    return Timeline(
        file, start=clock(), search_index={s: i for i, s in enumerate(ids)}, clock=clock
    )


def _lines(file: io.BytesIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in file.getvalue().splitlines()]


def test_bucket_holds_deltas_errors_rate_and_ended_searches() -> None:
    clock, file = FakeClock(), Recording()
    timeline = _timeline(file, clock, ["a", "b"])
    observer = timeline.observing(NullObserver())
    stats = HarvestStats(searches=2, current_rate=9.7)
    stats.calls, stats.answered, stats.pages, stats.hits = 5, 4, 3, 300
    stats.errors.update({"500": 1})
    observer.event("search_done", search_id="b", status="complete")
    clock.now += 1
    timeline.sample(stats)
    stats.answered, stats.pages, stats.retries = 6, 5, 1
    clock.now += 1
    timeline.sample(stats)
    clock.now += 1
    timeline.sample(stats)  # nothing happened and the rate did not change: no line
    first, second = _lines(file)
    assert first == {"t": 0, "w": 1, "a": 4, "p": 3, "h": 300, "e": {"500": 1}, "x": [1], "q": 9.7}
    assert second == {"t": 1, "w": 1, "a": 2, "p": 2, "r": 1}


def test_bucket_width_doubles_so_a_long_run_stays_small(tmp_path: Path) -> None:
    """A 10,000-search run at 10 calls/s for 3 hours: well within a few hundred KB."""
    clock, file = FakeClock(), Recording()
    ids = [f"S{i}" for i in range(10_000)]
    timeline = _timeline(file, clock, ids)
    observer = timeline.observing(NullObserver())
    stats = HarvestStats(searches=len(ids), current_rate=10.0)
    ended = 0
    for second in range(3 * 3600):
        stats.calls += 10
        stats.answered += 10
        stats.pages += 9
        stats.hits += 900
        stats.errors["68300008"] += 1
        stats.retries += 1
        while ended < len(ids) * (second + 1) // (3 * 3600):
            observer.event("search_done", search_id=ids[ended])
            ended += 1
        clock.now += 1
        if clock.now >= timeline.next_due:
            timeline.sample(stats)
    timeline.end(exit_code=0, reason="done", stats=stats)
    size = len(file.getvalue())
    assert size < 300_000, size
    lines = _lines(file)
    assert sum(line.get("a", 0) for line in lines) == stats.answered
    assert sorted(i for line in lines for i in line.get("x", [])) == list(range(len(ids)))
    assert max(line.get("w", 1) for line in lines) > 1  # it did widen
    assert len(lines) < 6 * LINES_PER_WIDTH


def test_a_line_cut_by_a_kill_is_skipped_and_the_next_segment_starts_clean(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    first = Timeline.open(
        tmp_path, run_id="r1", settings={"rate": 5}, search_ids=["a"], clock=clock
    )
    stats = HarvestStats(searches=1)
    stats.answered = 3
    clock.now += 1
    first.sample(stats)
    first._file.write(b'{"t": 1, "w": 1, "a"')  # what a kill -9 mid-write leaves
    first._file.close()
    second = Timeline.open(
        tmp_path, run_id="r2", settings={"rate": 5}, search_ids=["a"], clock=clock
    )
    stats = HarvestStats(searches=1)
    stats.answered = 2
    second.end(exit_code=0, reason="done", stats=stats)
    segments = read_timeline(tmp_path)
    assert [s.run_id for s in segments] == ["r1", "r2"]
    assert segments[0].end is None and [b["a"] for b in segments[0].buckets] == [3]
    assert segments[1].end is not None and segments[1].end["exit"] == 0
    assert segments[1].buckets[0]["a"] == 2
    raw = (tmp_path / TIMELINE_NAME).read_bytes().splitlines()
    assert raw[2] == b'{"t": 1, "w": 1, "a"' and raw[3].startswith(b'{"run":"r2"')


def _story(tmp_path: Path, searches: int, error_msg: str = "Service error") -> Story:
    statuses = ["complete", "empty", "truncated", "expired", "failed"]
    rows = [
        {
            "search_id": f"S{i:05d}",
            "status": statuses[i % 5],
            "total": 100,
            "reachable": 100,
            "pages": 1,
            "records": 90,
            "duplicates": 1,
            "calls": 2,
            "retries": 1,
            "error_code": 68300008 if i % 5 == 4 else None,
            "error_msg": error_msg if i % 5 == 4 else None,
            "deadline": "2027-01-15T08:20:00.000Z",
        }
        for i in range(searches)
    ]
    clock = FakeClock(1_800_000_000.0)  # 2027-01-15T08:00:00Z
    timeline = Timeline.open(
        tmp_path,
        run_id="r1",
        settings={"rate": 10},
        search_ids=[str(r["search_id"]) for r in rows],
        clock=clock,
    )
    observer = timeline.observing(NullObserver())
    stats = HarvestStats(searches=searches, current_rate=10)
    for row in rows:
        stats.answered += 2
        stats.pages += 1
        stats.errors["68300008"] += 1
        observer.event("search_done", search_id=row["search_id"])
        clock.now += 0.1
        if clock.now >= timeline.next_due:
            timeline.sample(stats)
    timeline.end(exit_code=1, reason="finished; some failed", stats=stats)
    by_status = Counter(str(r["status"]) for r in rows)
    return Story(
        out_dir=tmp_path,
        job_name="big",
        state="complete",
        running_pid=None,
        runs=[
            {
                "run_id": "r1",
                "started_at": "2027-01-15T08:00:00Z",
                "ended_at": "2027-01-15T08:17:00Z",
            }
        ],
        settings={"rate": 10, "shards": 4},
        totals={
            "searches": searches,
            "final": searches,
            "pending": 0,
            "by_status": dict(by_status),
            "records": 90 * searches,
            "pages": searches,
            "calls": 2 * searches,
            "retries": searches,
            "duplicates": searches,
            "bytes": 10**6,
        },
        shards=[
            {"path": f"part-{i:05d}.jsonl.gz", "records": 100 + i, "bytes": 9000 + i}
            for i in range(4)
        ],
        searches=rows,
        segments=read_timeline(tmp_path),
    )


def test_a_10000_search_report_is_well_under_2_mb(tmp_path: Path) -> None:
    page = render(_story(tmp_path, 10_000))
    assert len(page) < 1_000_000, len(page)
    assert page.count(b"<svg") == 5
    assert b"and 3,500 more in searches.jsonl" in page  # 4,000 bad ones, 500 listed


def test_the_page_is_deterministic_and_escapes_what_the_api_sent(tmp_path: Path) -> None:
    story = _story(tmp_path, 20, error_msg="<script>alert(1)</script> & more")
    page = render(story)
    assert page == render(story)
    assert b"<script" not in page
    assert b"&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert b"http://" not in page.replace(b"http://www.w3.org/2000/svg", b"")
    assert b"https://" not in page


class PacedFetcher:
    """A fetcher that, like the API client, awaits its pace hook right before it sends,
    then takes `latency` of the fake monotonic clock (or fails) before answering."""

    def __init__(self, clock: FakeClock, latency: float, fail: bool = False) -> None:
        self.clock = clock
        self.latency = latency
        self.fail = fail
        self.pace: Callable[[], Awaitable[None]] | None = None

    async def fetch_page(
        self, search_id: str, *, offset: int, limit: int, filters: Mapping[str, str]
    ) -> Page:
        assert self.pace is not None
        await self.pace()
        self.clock.now += self.latency
        if self.fail:
            raise RuntimeError("HTTP 500")
        return Page(hits=(), total=0)


async def test_latency_runs_from_the_paced_send_to_the_answer_and_in_flight_balances() -> None:
    wall, mono, file = FakeClock(), FakeClock(100.0), Recording()
    timeline = Timeline(file, start=wall(), search_index={}, clock=wall, mono=mono)
    stopped = False

    async def pace() -> None:
        mono.now += 5.0  # waiting for the slot is not latency
        if stopped:
            raise anyio.ClosedResourceError  # the run stopped while the call waited

    fast, failing = PacedFetcher(mono, 0.25), PacedFetcher(mono, 0.75, fail=True)
    for fetcher in (fast, failing):
        fetcher.pace = timeline.paced(pace)
    await timeline.timed(fast).fetch_page("a", offset=0, limit=100, filters={})
    with pytest.raises(RuntimeError):
        await timeline.timed(failing).fetch_page("a", offset=100, limit=100, filters={})
    stopped = True
    with pytest.raises(anyio.ClosedResourceError):
        await timeline.timed(fast).fetch_page("a", offset=200, limit=100, filters={})
    await timeline.paced(_no_wait)()  # a paid call that is not a page fetch: sent, no more
    wall.now += 1
    stats = HarvestStats(answered=2)
    timeline.sample(stats)
    (line,) = _lines(file)
    assert line["s"] == 3 and line["f"] == 1
    assert line["l"] == [750, 750]  # p50, p90 of [250, 750] ms by nearest rank
    assert timeline._in_flight == 0


async def _no_wait() -> None:
    return None
