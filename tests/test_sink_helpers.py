"""Shared pieces for the sink tests: a synthetic job, an engine stand-in, output readers.

Also a child process entry point (`python -m tests.test_sink_helpers OUT SEED ...`) that
the crash tests SIGKILL at chosen moments. No tests live here.
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import signal
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import orjson

from harvester.sink import FinishResult, PageFetched, SearchEnded, SearchProgress, Sink
from harvester.sink.messages import Message

PAGE = 100
CAP = 1100


class FakeHit(NamedTuple):
    """A hit as the API would give it (the sink only needs HitLike)."""

    patent_id: str
    patent_pn: str | None
    title: str | None
    score: float | None
    url: str | None


@dataclass(slots=True)
class FakeSearch:
    """One search of the synthetic job: its pages, and how it ends."""

    search_id: str
    total: int
    status: str
    offsets: list[int]  #: pages the engine will fetch
    seed: int
    pool: int  #: patent ids are drawn from a pool this size (repeats => duplicates)
    job_pool: int = 0  #: >0: ids drawn from a job-wide pool (cross-search duplicates)
    ended: dict[str, Any] = field(default_factory=dict)

    def hits(self, offset: int) -> list[FakeHit]:
        """The page at `offset`, the same every time it is asked for."""
        rng = random.Random(f"{self.seed}:{self.search_id}:{offset}")
        count = max(0, min(PAGE, min(self.total, CAP) - offset))
        hits = []
        for index in range(count):
            if self.job_pool:
                pid = f"J{rng.randrange(self.job_pool):06d}"
            else:
                pid = f"{self.search_id}-P{rng.randrange(self.pool):05d}"
            title = None if rng.random() < 0.05 else f"Title {pid} “{rng.random():.6f}”"
            hits.append(
                FakeHit(
                    pid,
                    f"CN{rng.randrange(10**9)}S",
                    title,
                    round(1 - (offset + index) / 2000, 6),
                    f"https://img/{pid}.png",
                )
            )
        return hits


def synthetic_job(seed: int, searches: int = 60, job_pool: int = 0) -> list[FakeSearch]:
    """A deterministic job: complete, empty, truncated and expired searches."""
    rng = random.Random(seed)
    job = []
    for i in range(searches):
        total = rng.choice([0, 7, 150, 420, 999, 1100, 2500])
        reachable = min(total, CAP)
        offsets = list(range(0, reachable, PAGE))
        status = "empty" if total == 0 else "truncated" if total > CAP else "complete"
        if offsets and rng.random() < 0.15:
            status = "expired"
            offsets = offsets[: rng.randrange(len(offsets))]
        pool = max(1, reachable * 3)
        job.append(FakeSearch(f"S{i:04d}-{seed}", total, status, offsets, seed, pool, job_pool))
    return job


def fingerprint(job: list[FakeSearch]) -> dict[str, Any]:
    """The fingerprint a job file would give."""
    return {"validity_minutes": 20, "searches": {s.search_id: {"loc": "01-01"} for s in job}}


def open_sink(
    out: Path,
    job: list[FakeSearch],
    *,
    shards: int = 4,
    dedupe: str = "search",
    fresh: bool = False,
) -> Sink:
    """Open a sink for the synthetic job."""
    return Sink.open(
        out,
        job_name="synthetic",
        job_sha256="0" * 64,
        fingerprint=fingerprint(job),
        shards=shards,
        dedupe=dedupe,
        fresh=fresh,
    )


def feed(
    job: list[FakeSearch], progress: Mapping[str, SearchProgress], seed: int, window: int = 6
) -> Iterator[Message]:
    """What an engine would send after a resume: the pages not done, interleaved across a
    window of open searches in random order, each search closed by SearchEnded."""
    rng = random.Random(seed)
    todo: list[tuple[FakeSearch, list[int]]] = []
    for search in job:
        state = progress[search.search_id]
        if state.status is not None:
            continue
        left = [o for o in search.offsets if o not in state.done_offsets]
        rng.shuffle(left)
        todo.append((search, left))
    active: list[tuple[FakeSearch, list[int]]] = []
    while todo or active:
        while todo and len(active) < window:
            active.append(todo.pop(0))
        search, left = active[rng.randrange(len(active))]
        if left:
            offset = left.pop()
            yield PageFetched(
                search.search_id,
                offset,
                PAGE,
                search.total,
                search.hits(offset),
                f"2026-11-24T20:{offset // 100:02d}:00.000Z",
                calls=1,
                retries=0,
            )
        else:
            active.remove((search, left))
            yield SearchEnded(
                search.search_id,
                search.status,
                search.total,
                min(search.total, CAP),
                None,
                None,
                "2026-11-24T20:20:00Z",
                calls=1 if search.status == "expired" else 0,
            )


def expected_records(job: list[FakeSearch]) -> list[dict[str, Any]]:
    """The records an uninterrupted search-scope run must write, sorted."""
    out = []
    for search in job:
        seen: set[str] = set()
        for offset in sorted(search.offsets):
            for index, hit in enumerate(search.hits(offset)):
                if hit.patent_id in seen:
                    continue
                seen.add(hit.patent_id)
                out.append(
                    {
                        "search_id": search.search_id,
                        "patent_id": hit.patent_id,
                        "patent_pn": hit.patent_pn,
                        "title": hit.title,
                        "score": hit.score,
                        "url": hit.url,
                        "rank": offset + index + 1,
                        "harvested_at": f"2026-11-24T20:{offset // 100:02d}:00.000Z",
                    }
                )
    return sorted(out, key=record_key)


def record_key(record: Mapping[str, Any]) -> tuple[str, int]:
    return (record["search_id"], record["rank"])


def read_records(out: Path) -> list[dict[str, Any]]:
    """Every record in the shard files, each checked to sit in its stable shard."""
    records = []
    for part in sorted(out.glob("part-*.jsonl.gz")):
        with gzip.open(part) as file:
            for line in file:
                records.append(orjson.loads(line))
    return sorted(records, key=record_key)


def read_searches(out: Path) -> dict[str, dict[str, Any]]:
    """searches.jsonl keyed by search id."""
    lines = (out / "searches.jsonl").read_bytes().splitlines()
    return {row["search_id"]: row for row in map(orjson.loads, lines)}


async def pump(
    sink: Sink,
    messages: Iterable[Message],
    *,
    max_pages: int = 8,
    buffer: int = 16,
    **run_args: Any,
) -> None:
    """Send `messages` through a memory stream into sink.run, like an engine would."""
    send, receive = anyio.create_memory_object_stream[Message](buffer)
    async with anyio.create_task_group() as tg:
        await tg.start(
            lambda task_status: sink.run(
                receive, task_status=task_status, max_pages=max_pages, **run_args
            )
        )
        async with send:
            for message in messages:
                await send.send(message)


def drive(sink: Sink, messages: Iterable[Message], **kwargs: Any) -> None:
    """`pump` from synchronous code."""
    anyio.run(partial(pump, sink, iter(messages), **kwargs), backend="asyncio")


def run_once(
    out: Path, job: list[FakeSearch], seed: int, dedupe: str = "search", **kwargs: Any
) -> FinishResult:
    """Open, feed what is left, finish: one run of the synthetic job."""
    with open_sink(out, job, dedupe=dedupe) as sink:
        drive(sink, feed(job, sink.progress(), seed), **kwargs)
        return sink.finish(run_info={"rate": 10})


# -- the child process of the crash tests --------------------------------------------------


def _kill_on_call(
    target: object, name: str, nth: int, before: Callable[..., object] | None = None
) -> None:
    """Patch target.name to SIGKILL this process on its nth call (after `before`)."""
    original = getattr(target, name)
    calls = [0]

    def patched(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == nth:
            if before is not None:
                before(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)

    setattr(target, name, patched)


def _half_write(fd: int, data: bytes) -> None:
    os.write(fd, bytes(data)[: max(1, len(data) // 2)])


def child_main(argv: list[str]) -> int:
    """Run the synthetic job once, optionally SIGKILLing itself at a chosen point."""
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("seed", type=int)
    parser.add_argument("--dedupe", default="search")
    parser.add_argument("--job-pool", type=int, default=0)
    parser.add_argument("--feed-seed", type=int, default=0)
    parser.add_argument("--crash", default="", help="after-append:N | mid-write:N | mid-stage:N")
    args = parser.parse_args(argv)
    from harvester.sink import shards, writer

    if args.crash:
        where, nth = args.crash.split(":")
        if where == "after-append":  # shards written and fsynced, commit not yet made
            _kill_on_call(shards.ShardSet, "append", int(nth), before=shards.ShardSet.append)
        if where == "mid-write":  # half a gzip member on disk
            _kill_on_call(shards, "_write_all", int(nth), before=_half_write)
        if where == "mid-stage":  # inside the transaction, pages staged, nothing written
            _kill_on_call(writer.Writer, "_assemble", int(nth))
    job = synthetic_job(args.seed, job_pool=args.job_pool)
    run_once(args.out, job, args.feed_seed, dedupe=args.dedupe)
    return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
