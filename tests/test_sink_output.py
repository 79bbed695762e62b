"""The writer's output: records, rank order, dedupe, shards, closing files."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import duckdb
import orjson
import pytest

from harvester.sink import (
    CommitStats,
    PageFetched,
    SearchEnded,
    Sink,
    UnknownSearch,
    shard_name,
    shard_of,
)
from harvester.sink.messages import Message
from tests.test_harvest_support import read_records as read_records_in_file_order
from tests.test_sink_helpers import (
    FakeHit,
    expected_records,
    feed,
    open_sink,
    pump,
    read_records,
    read_searches,
    synthetic_job,
)

AT = "2026-11-24T20:00:00.000Z"


def hit(pid: str, title: str | None = "t") -> FakeHit:
    return FakeHit(pid, f"PN-{pid}", title, 0.5, f"https://img/{pid}")


def page(search_id: str, offset: int, pids: list[str], total: int = 1000) -> PageFetched:
    return PageFetched(search_id, offset, 100, total, [hit(p) for p in pids], AT, 1, 0)


def end(search_id: str, status: str = "complete", total: int | None = 1000) -> SearchEnded:
    return SearchEnded(search_id, status, total, 1000, None, None, "2026-11-24T20:20:00Z")


def small_sink(out: Path, ids: list[str], dedupe: str = "search", shards: int = 3) -> Sink:
    return Sink.open(
        out,
        job_name="t",
        job_sha256="a" * 64,
        fingerprint={"searches": ids},
        shards=shards,
        dedupe=dedupe,
    )


async def test_records_equal_what_was_fed_in_rank_order_per_search(tmp_path: Path) -> None:
    job = synthetic_job(7, searches=25)
    with open_sink(tmp_path, job) as sink:
        await pump(sink, feed(job, sink.progress(), seed=3))
        sink.finish(run_info={})
    assert read_records(tmp_path) == expected_records(job)
    for part in tmp_path.glob("part-*.jsonl.gz"):
        last_rank: dict[str, int] = {}
        with gzip.open(part) as file:
            for line in file:
                record = orjson.loads(line)
                assert record["rank"] > last_rank.get(record["search_id"], 0)
                last_rank[record["search_id"]] = record["rank"]


async def test_record_has_the_contract_fields_in_order(tmp_path: Path) -> None:
    with small_sink(tmp_path, ["S1"], shards=1) as sink:
        await pump(sink, [page("S1", 200, ["p1"]), end("S1")])
    line = gzip.decompress((tmp_path / shard_name(0)).read_bytes())
    assert line == (
        b'{"search_id":"S1","patent_id":"p1","patent_pn":"PN-p1","title":"t","score":0.5,'
        b'"url":"https://img/p1","rank":201,"harvested_at":"2026-11-24T20:00:00.000Z"}\n'
    )


async def test_search_dedupe_keeps_best_rank_even_when_pages_arrive_out_of_order(
    tmp_path: Path,
) -> None:
    messages: list[Message] = [
        page("S1", 100, ["a", "x", "b"]),
        page("S1", 0, ["x", "c", "a"]),
        end("S1"),
    ]
    with small_sink(tmp_path, ["S1"]) as sink:
        await pump(sink, messages)
        progress = sink.progress()["S1"]
    ranks = {r["patent_id"]: r["rank"] for r in read_records_in_file_order(tmp_path)}
    assert ranks == {"x": 1, "c": 2, "a": 3, "b": 103}
    assert (progress.records, progress.duplicates, progress.status) == (4, 2, "complete")


async def test_paging_overlap_at_the_offset_cap_is_not_counted_as_duplicates(
    tmp_path: Path,
) -> None:
    # limit 30: the page at offset 990 (ranks 991..1020) and the widened last page at
    # offset 1000 (ranks 1001..1100) share ranks 1001..1020: the same hits, seen twice.
    tail = [f"p{rank}" for rank in range(991, 1021)]
    last = [f"p{rank}" for rank in range(1001, 1101)]
    messages: list[Message] = [
        PageFetched("S1", 990, 30, 1100, [hit(p) for p in tail], AT, 1, 0),
        PageFetched("S1", 1000, 100, 1100, [hit(p) for p in [*last[:-1], "p991"]], AT, 1, 0),
        end("S1", total=1100),
    ]
    with small_sink(tmp_path, ["S1"]) as sink:
        await pump(sink, messages)
        progress = sink.progress()["S1"]
    # p991..p1099 are 109 patents; p991 again at rank 1100 is the one real duplicate
    assert (progress.records, progress.duplicates) == (109, 1)


async def test_search_scope_keeps_a_patent_once_per_search(tmp_path: Path) -> None:
    messages: list[Message] = [
        page("S1", 0, ["a", "b"]),
        page("S2", 0, ["b", "a"]),
        end("S1"),
        end("S2"),
    ]
    with small_sink(tmp_path, ["S1", "S2"]) as sink:
        await pump(sink, messages)
    pairs = sorted((r["search_id"], r["patent_id"]) for r in read_records_in_file_order(tmp_path))
    assert pairs == [("S1", "a"), ("S1", "b"), ("S2", "a"), ("S2", "b")]


async def test_job_scope_keeps_a_patent_once_across_searches(tmp_path: Path) -> None:
    messages: list[Message] = [
        page("S1", 0, ["a", "b", "a"]),
        end("S1"),
        page("S2", 0, ["c", "b", "a"]),
        end("S2"),
    ]
    with small_sink(tmp_path, ["S1", "S2"], dedupe="job") as sink:
        await pump(sink, messages)
        progress = sink.progress()
    pairs = sorted((r["search_id"], r["patent_id"]) for r in read_records_in_file_order(tmp_path))
    assert pairs == [("S1", "a"), ("S1", "b"), ("S2", "c")]
    assert (progress["S1"].records, progress["S1"].duplicates) == (2, 1)
    assert (progress["S2"].records, progress["S2"].duplicates) == (1, 2)


async def test_job_scope_dedupe_holds_across_a_resume(tmp_path: Path) -> None:
    with small_sink(tmp_path, ["S1", "S2"], dedupe="job") as sink:
        await pump(sink, [page("S1", 0, ["a", "b"]), end("S1")])
    with small_sink(tmp_path, ["S1", "S2"], dedupe="job") as sink:
        await pump(sink, [page("S2", 0, ["b", "c"]), end("S2")])
    assert sorted(r["patent_id"] for r in read_records_in_file_order(tmp_path)) == ["a", "b", "c"]


async def test_every_record_sits_in_its_stable_shard(tmp_path: Path) -> None:
    job = synthetic_job(11, searches=10)
    with open_sink(tmp_path, job, shards=5) as sink:
        await pump(sink, feed(job, sink.progress(), seed=1))
    for shard in range(5):
        with gzip.open(tmp_path / shard_name(shard)) as file:
            for line in file:
                assert shard_of(orjson.loads(line)["patent_id"], 5) == shard


async def test_every_part_file_is_valid_gzip_after_every_commit_and_duckdb_reads_all(
    tmp_path: Path,
) -> None:
    job = synthetic_job(5, searches=20)
    commits: list[CommitStats] = []

    def check(stats: CommitStats) -> None:
        commits.append(stats)
        for part in tmp_path.glob("part-*.jsonl.gz"):
            data = gzip.decompress(part.read_bytes())  # raises on a partial member
            assert data == b"" or data.endswith(b"\n")

    with open_sink(tmp_path, job) as sink:
        await pump(sink, feed(job, sink.progress(), seed=2), max_pages=4, on_commit=check)
        result = sink.finish(run_info={})
    assert len(commits) > 10
    glob = str(tmp_path / "part-*.jsonl.gz")
    relation = duckdb.sql(f"select count(*) from read_json_auto('{glob}')")
    assert relation is not None
    [(count,)] = relation.fetchall()
    assert count == result.totals["records"] == len(expected_records(job))


async def test_repeated_page_and_page_after_end_count_nothing_twice(tmp_path: Path) -> None:
    messages: list[Message] = [
        page("S1", 0, ["a", "b"]),
        page("S1", 0, ["a", "b"]),
        end("S1"),
        page("S1", 100, ["c"]),
        end("S1"),
    ]
    with small_sink(tmp_path, ["S1"]) as sink:
        sink.commit(messages[:2])
        stats = sink.commit(messages[2:])
        progress = sink.progress()["S1"]
    assert [r["patent_id"] for r in read_records_in_file_order(tmp_path)] == ["a", "b"]
    assert (progress.records, progress.done_offsets, stats.ignored) == (2, frozenset({0}), 2)
    assert progress.calls == 3  # a repeated page was still a paid call


async def test_pages_without_an_end_stay_staged_for_the_next_run(tmp_path: Path) -> None:
    with small_sink(tmp_path, ["S1"]) as sink:
        await pump(sink, [page("S1", 0, ["a"]), page("S1", 100, ["b"])])
        assert read_records_in_file_order(tmp_path) == []
    with small_sink(tmp_path, ["S1"]) as sink:
        progress = sink.progress()["S1"]
        assert (progress.done_offsets, progress.status) == (frozenset({0, 100}), None)
        await pump(sink, [end("S1")])
    assert [r["patent_id"] for r in read_records_in_file_order(tmp_path)] == ["a", "b"]


async def test_unknown_search_is_an_error_after_the_good_pages_commit(tmp_path: Path) -> None:
    with small_sink(tmp_path, ["S1"]) as sink:
        with pytest.raises(UnknownSearch, match="NOPE"):
            sink.commit([page("S1", 0, ["a"]), page("NOPE", 0, ["b"]), end("S1")])
        assert sink.progress()["S1"].records == 1


async def test_searches_jsonl_sums_calls_and_manifest_totals_match(tmp_path: Path) -> None:
    expired = SearchEnded("S2", "expired", 300, 300, 68300010, "search expired", "D", 1, 2)
    messages: list[Message] = [page("S1", 0, ["a"]), end("S1"), page("S2", 0, ["b", "c"]), expired]
    with small_sink(tmp_path, ["S1", "S2", "S3"]) as sink:
        await pump(sink, messages)
        result = sink.finish(run_info={"rate": 10, "client_secret": "hush", "token": "t0k"})
    searches = read_searches(tmp_path)
    assert searches["S2"] == {
        "search_id": "S2",
        "status": "expired",
        "total": 300,
        "reachable": 300,
        "pages": 1,
        "records": 2,
        "duplicates": 0,
        "calls": 2,
        "retries": 2,
        "error_code": 68300010,
        "error_msg": "search expired",
        "deadline": "D",
    }
    assert searches["S3"]["status"] == "pending"
    assert not result.success and not (tmp_path / "_SUCCESS").exists()
    manifest = orjson.loads(result.manifest_path.read_bytes())
    assert manifest["totals"]["records"] == 3 == sum(s["records"] for s in manifest["shards"])
    assert manifest["totals"]["by_status"] == {"complete": 1, "expired": 1}
    assert (manifest["totals"]["final"], manifest["totals"]["pending"]) == (2, 1)
    assert result.totals == manifest["totals"]
    assert manifest["settings"]["rate"] == 10
    assert b"hush" not in result.manifest_path.read_bytes()
    assert b"t0k" not in result.manifest_path.read_bytes()


async def test_success_is_written_last_only_when_every_search_is_final(tmp_path: Path) -> None:
    with small_sink(tmp_path, ["S1", "S2"]) as sink:
        await pump(sink, [page("S1", 0, ["a"]), end("S1")])
        assert not sink.finish(run_info={}).success
        assert not sink.is_complete()
        await pump(sink, [end("S2", "empty", 0)])
        result = sink.finish(run_info={})
        assert result.success and sink.is_complete()
    success = tmp_path / "_SUCCESS"
    assert success.stat().st_mtime_ns >= result.manifest_path.stat().st_mtime_ns
    manifest = orjson.loads(result.manifest_path.read_bytes())
    for shard in manifest["shards"]:
        assert (tmp_path / shard["path"]).stat().st_size == shard["bytes"]


def test_many_records_go_through_the_writer_quickly(tmp_path: Path) -> None:
    ids = [f"S{i}" for i in range(200)]
    messages: list[Message] = []
    for sid in ids:
        for offset in range(0, 1000, 100):
            pids = [f"{sid}-{offset + i}" for i in range(100)]
            messages.append(page(sid, offset, pids))
        messages.append(end(sid))
    started = time.perf_counter()
    with small_sink(tmp_path, ids, shards=4) as sink:
        for start in range(0, len(messages), 128):
            sink.commit(messages[start : start + 128])
        totals = sink.finish(run_info={}).totals
    elapsed = time.perf_counter() - started
    assert totals["records"] == 200_000
    assert elapsed < 20, f"200,000 records took {elapsed:.1f} s"
