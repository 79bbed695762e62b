"""Figure 4i, images: 60 images whose searches live 20 s, at 20 calls/s; all need ~34 s.

50 image URLs and 10 local PNGs, each with more than 1,100 hits (11 pages): 660 pages and
10 uploads, about 34 s of calls at 20/s. Searches live 20 s, so creating every search up
front would leave about half of them to expire; the harvester creates each one when the
pool can finish it. The rate is refereed by nginx's limit_req in front of the sandbox when
installed, else by the sandbox itself.

The ratio: images whose records are exactly their ranking's reachable hits ÷ images.
Beside it: creations (60 is one each), uploads (10), results calls against the minimal
600 (no call at offset 0: the creation is page 0), and what up-front creation would keep.
"""

from __future__ import annotations

import gzip
import struct
import time
import zlib
from pathlib import Path

import orjson

from bench.nginx import refereed_sandbox
from bench.procs import harvester_cmd, run_measured
from bench.table import Context, Row
from harvester.paging import plan_pages
from harvester.sandbox.dataset import Dataset
from harvester.sandbox.images import ranking_key, ranking_of
from harvester.sandbox.query import parse_query

__all__ = ["run", "up_front_survivors"]

URLS = 50
FILES = 10
RATE = 20
WINDOW_S = 20.0
CONCURRENCY = 8


def _png(path: Path, seed: int) -> Path:
    rows = b"".join(b"\x00" + bytes((seed * 29 + x + y) % 256 for x in range(12)) for y in range(4))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )  # fmt: skip
    return path


def up_front_survivors(pages: list[int], rate: float, window_s: float) -> int:
    """Images finished if every search were created at once and fetched in order at `rate`."""
    sent = done = 0
    for count in pages:
        sent += count
        done += sent / rate <= window_s
    return done


def _expected(dataset: Dataset, key: str) -> dict[str, int]:
    """patent_id -> best rank over the ranking's reachable pages."""
    total = dataset.page(parse_query([("search_id", key), ("limit", "100")]))[1]
    best: dict[str, int] = {}
    for spec in plan_pages(total, 100):
        query = parse_query(
            [("search_id", key), ("offset", str(spec.offset)), ("limit", str(spec.limit))]
        )
        for index, hit in enumerate(dataset.page(query)[0]):
            best.setdefault(hit.patent.patent_id, spec.offset + index + 1)
    return best


def run(ctx: Context) -> list[Row]:
    """Measure figure 4i."""
    work = ctx.workdir.resolve() / "images"
    work.mkdir(parents=True, exist_ok=True)
    urls = [f"https://img.example.com/designs/SBX-{1150 + 13 * i}-d{i}.jpg" for i in range(URLS)]
    files = [_png(work / f"SBX-{1200 + 17 * i}-f{i}.png", seed=i) for i in range(FILES)]
    lines = ["[job]", 'name = "images"', f"validity_minutes = {WINDOW_S / 60}", f"rate = {RATE}"]
    lines += [f"concurrency = {CONCURRENCY}", "shards = 4", ""]
    for url in urls:
        lines += ["[[search]]", f'image_url = "{url}"']
    for file in files:
        lines += ["[[search]]", f'image = "{file.name}"']
    job = work / "images.toml"
    job.write_text("\n".join(lines) + "\n")
    flags = ["--validity", str(WINDOW_S)]
    with refereed_sandbox(ctx.nginx, work, flags, rate=RATE) as (sandbox, proxy):
        started = time.perf_counter()
        env = sandbox.env(proxy.url if proxy is not None else None)
        result = run_measured(harvester_cmd(job, work / "out", "--fresh"), env=env,
                              log=work / "h.log", cwd=work)  # fmt: skip
        wall = time.perf_counter() - started
        stats = sandbox.stats()
    rankings = {url: ranking_key(url) for url in urls}
    searches = [orjson.loads(line) for line in (work / "out" / "searches.jsonl").open("rb")]
    for line in searches:  # an upload's URL names the sandbox as the client reached it
        if line.get("image") in {file.name for file in files} and line["search_ids"]:
            rankings[line["image"]] = ranking_of(line["search_ids"][0])
    got: dict[str, dict[str, int]] = {image: {} for image in rankings}
    duplicates = 0
    for shard in sorted((work / "out").glob("part-*.jsonl.gz")):
        with gzip.open(shard, "rb") as records:
            for line in records:
                record = orjson.loads(line)
                kept = got.setdefault(record.get("image"), {})
                duplicates += record["patent_id"] in kept
                kept[record["patent_id"]] = record["rank"]
    dataset = Dataset(0)
    exact = sum(got.get(image) == _expected(dataset, key) for image, key in rankings.items())
    pages = [len(plan_pages(int(key.split("-")[1]), 100)) for key in rankings.values()]
    minimal = sum(pages) - len(pages)
    survivors = up_front_survivors(pages, RATE * 0.97, WINDOW_S)
    ratio = exact / len(rankings)
    referee = "nginx limit_req" if proxy is not None else "the sandbox"
    return [
        Row(
            "4i Images",
            "images harvested exactly ÷ images",
            f"{ratio:.2f}",
            "= 1.00",
            ratio == 1.0 and result.code == 0,
            f"{exact} of {len(rankings)} images exact in {wall:.1f} s (exit {result.code}); "
            f"{stats['creations']} creations, {stats['uploads']} uploads, {stats['calls']} "
            f"results calls (minimal {minimal}; {stats['rate_limited']} refused by the rate "
            "limit), "
            f"{stats['created_results_at_0']} at offset 0, "
            f"{stats['expired']} answered expired, {stats['pages_billed_twice']} pages paid "
            f"twice, {duplicates} duplicate records; searches live {WINDOW_S:.0f} s at "
            f"{RATE}/s ({referee}): created up front, {survivors} of {len(rankings)} would "
            "finish",
            "" if ratio == 1.0 else "see out/bench/images/h.log",
        )
    ]
