"""Writer throughput and memory: N records through Sink.run, as the engine would send them.

    python bench/writer_bench.py [--records 1000000] [--shards 4] [--dedupe search|job]

Pages of 100 hits arrive for a window of 8 open searches at a time in random order (a
worker pool's pattern), each search closed by SearchEnded, through a bounded memory
stream. Prints records/s and the peak RSS (targets: >= 300,000 records/s, <= 150 MB).
The hits come from one template search, renamed per search, and are made a chunk at a
time while the sink is idle: the sink's own rate is timed apart from making them.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import NamedTuple

import anyio

from harvester.sink import CommitStats, Message, PageFetched, SearchEnded, Sink
from harvester.sink.batching import GATHER_S, Gather

PAGE = 100
PAGES_PER_SEARCH = 11
WINDOW = 8
WORDS = [
    "chair",
    "lamp",
    "bottle",
    "handle",
    "wheel",
    "vase",
    "cup",
    "shoe",
    "knob",
    "frame",
    "panel",
    "hinge",
]


class Hit(NamedTuple):
    """A hit like the API's."""

    patent_id: str
    patent_pn: str | None
    title: str | None
    score: float | None
    url: str | None


_new_hit = tuple.__new__  # Hit(...) without its Python-level __new__


def template_pages(rng: random.Random, titles: list[str]) -> dict[int, list[Hit]]:
    """One search's pages (offset -> hits), with ~5% repeats so dedupe has work to do.
    Every search of the bench reuses them under its own patent ids (`search_page`)."""
    pages: dict[int, list[Hit]] = {}
    for offset in range(0, PAGE * PAGES_PER_SEARCH, PAGE):
        hits = []
        for index in range(PAGE):
            number = rng.randrange(PAGE * PAGES_PER_SEARCH * 10)
            hits.append(
                Hit(
                    f"{number:016X}",
                    f"CN{number % 10**9:09d}S",
                    titles[number % len(titles)],
                    round(1 - (offset + index) / 1200, 4),
                    f"https://image.patsnap.com/design/{number:016x}/{offset + index}.png",
                )
            )
        pages[offset] = hits
    return pages


def search_page(template: list[Hit], search: int) -> list[Hit]:
    """A template page as search `search` sees it: its own patent ids (so job-scope dedupe
    sees new patents per search), the other fields shared. Cheap (one string and one tuple
    a hit), so the producer takes little of the process's time from the writer."""
    prefix = f"{search:08X}"
    return [
        _new_hit(Hit, (prefix + pid, pn, title, score, url))
        for pid, pn, title, score, url in template
    ]


def messages(searches: int, seed: int) -> Iterator[Message]:
    """Pages of `searches` searches, interleaved as a pool of workers would deliver them."""
    rng = random.Random(seed)
    titles = [" ".join(rng.choices(WORDS, k=5)).title() for _ in range(4096)]
    template = template_pages(rng, titles)
    pending = list(range(searches))
    active: list[tuple[int, list[int]]] = []
    while pending or active:
        while pending and len(active) < WINDOW:
            offsets = [i * PAGE for i in range(PAGES_PER_SEARCH)]
            rng.shuffle(offsets)
            active.append((pending.pop(0), offsets))
        slot = rng.randrange(len(active))
        search, offsets = active[slot]
        sid = f"{search:032X}-1-D"
        if offsets:
            offset = offsets.pop()
            hits = search_page(template[offset], search)
            yield PageFetched(sid, offset, PAGE, 5000, hits, "2026-11-24T20:00:00.000Z", 1, 0)
        else:
            active.pop(slot)
            yield SearchEnded(sid, "truncated", 5000, 1100, None, None, "2026-11-24T20:20:00Z")


#: Messages made before each timed stretch (~100,000 hits).
CHUNK = 1000


async def feed(sink: Sink, searches: int, commits: list[CommitStats]) -> float:
    """Send every message to the writer task; returns the seconds the sink was working.

    The hits are made a chunk at a time while the writer is idle, then the chunk is sent
    and the clock runs until the writer has committed all of it: the sink's own rate,
    with no producer competing for the interpreter meanwhile."""
    send, receive = anyio.create_memory_object_stream[Message](64)
    done = [0]  # messages committed so far
    drained = anyio.Event()
    target = [0]
    sent = [0]
    # As the engine does: the writer may wait for its batch to fill, and is flushed when
    # the sender has nothing more to send until a commit (here: the chunk is all sent).
    # Without it the chunk's last batch would wait out the fill, time no sink spends.
    gather = Gather(GATHER_S)

    def committed(stats: CommitStats) -> None:
        commits.append(stats)
        done[0] += stats.fetched + stats.searches + stats.ignored
        if done[0] >= target[0]:
            drained.set()
        elif sent[0] >= target[0]:
            gather.flush()

    busy = 0.0
    source = messages(searches, seed=1)
    async with anyio.create_task_group() as tg:
        await tg.start(
            lambda task_status: sink.run(
                receive, task_status=task_status, on_commit=committed, gather=gather
            )
        )
        async with send:
            while chunk := list(islice(source, CHUNK)):
                target[0] += len(chunk)
                drained = anyio.Event()
                started = time.perf_counter()
                for message in chunk:
                    await send.send(message)
                    sent[0] += 1
                gather.flush()
                await drained.wait()
                busy += time.perf_counter() - started
    return busy


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--dedupe", default="search", choices=("search", "job"))
    parser.add_argument("--out", type=Path, help="keep the output here (default: a temp dir)")
    args = parser.parse_args(argv)
    searches = max(1, args.records // (PAGE * PAGES_PER_SEARCH))
    out = args.out or Path(tempfile.mkdtemp(prefix="writer-bench-"))
    ids = [f"{i:032X}-1-D" for i in range(searches)]
    commits: list[CommitStats] = []
    started = time.perf_counter()
    with Sink.open(
        out,
        job_name="bench",
        job_sha256="0" * 64,
        fingerprint={"searches": ids},
        shards=args.shards,
        dedupe=args.dedupe,
        fresh=True,
    ) as sink:
        busy = anyio.run(feed, sink, searches, commits, backend="asyncio")
        result = sink.finish(run_info={"bench": True})
    elapsed = time.perf_counter() - started
    fetched = searches * PAGE * PAGES_PER_SEARCH
    written, size = result.totals["records"], result.totals["bytes"]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"hits fed          {fetched:,} in {searches:,} searches ({args.dedupe} dedupe)")
    print(f"records written   {written:,} ({result.totals['duplicates']:,} duplicates dropped)")
    print(f"wall time         {elapsed:.2f} s  ({len(commits)} commits)")
    print(f"throughput        {fetched / elapsed:,.0f} records/s (hits in, all included)")
    print(
        f"  sink alone      {fetched / max(busy, 1e-9):,.0f} records/s "
        f"(the {busy:.2f} s the sink worked, the hits made between its stretches)"
    )
    print(f"output            {size / 1e6:.1f} MB gzip, {size / max(written, 1):.0f} B/record")
    print(f"peak RSS          {peak_mb:.0f} MB")
    if args.out is None:
        shutil.rmtree(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
