"""Pure helpers: a page's hits as record lines, staging blobs, shard choice, gzip members.

A page is rendered once, when it arrives (its rank is known then), into the NDJSON block
that ends up in the shard files; staging, dedupe and sharding only move those bytes and
never parse JSON again. The patent ids travel beside the block, so nothing has to be
read back out of it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter

import msgspec
import orjson
from isal import isal_zlib

from harvester.sink.messages import HitLike

__all__ = [
    "GZIP_LEVEL",
    "RenderedPage",
    "first_by_shard",
    "from_stage",
    "gzip_member",
    "render_page",
    "shard_of",
    "shards_of",
    "to_stage",
]

#: ISA-L's gzip level for the shard files. Measured on 1,100 of the sandbox's records
#: (312 KB): ISA-L level 1 takes 0.40 ms and gives 46.7 bytes a record; zlib level 1
#: 2.44 ms and 52.1 bytes; zlib level 6 5.48 ms and 46.0 bytes. gzip was the writer's
#: largest CPU cost, so ISA-L (the `isal` package) packs the members: 6x less CPU than
#: zlib at level 1, files about as small as zlib's default. The stream is plain gzip
#: (RFC 1952): every reader (gzip, zcat, DuckDB, Spark, Athena) reads it as before.
GZIP_LEVEL = 1


@dataclass(slots=True, frozen=True)
class RenderedPage:
    """One page as its record lines (one NDJSON block) and their patent ids, in rank order."""

    offset: int
    ids: list[str]
    block: bytes  #: the record lines joined by b"\n", no trailing newline (b"" if no hits)

    @property
    def lines(self) -> list[bytes]:
        """The record lines, each without its newline (split from one block, so each is a
        right-sized object, where one encoder call a record costs more CPU)."""
        return self.block.split(b"\n") if self.ids else []


# Records are msgspec structs, encoded by msgspec in one call a page. Measured on a page
# of 100 of the bench's hits: 62 us, against 124 us for building a dict a record and
# orjson's dumps (the dicts were half of it); the writer bench's CPU while the sink works
# fell 15%. The lines are orjson's byte for byte but for floats of 1e16 and up ("1e16",
# where orjson writes "1e+16"): the same JSON value, and no score is that large.
class _Record(msgspec.Struct, gc=False):
    """A record's fields in the contract's order (DESIGN.md: the output files); `image`
    only for a search made from an image (UNSET fields are not written). The defaults
    are never used: every record is made with all nine values, in this order."""

    search_id: str
    image: str | msgspec.UnsetType = msgspec.UNSET
    patent_id: str = ""
    patent_pn: str | None = None
    title: str | None = None
    score: float | None = None
    url: str | None = None
    rank: int = 0
    harvested_at: str = ""


_encode_lines = msgspec.json.Encoder().encode_lines


def render_page(
    search_id: str,
    offset: int,
    harvested_at: str,
    hits: Sequence[HitLike],
    image: str | None = None,
) -> RenderedPage:
    """Render a page's hits as record lines; rank = offset + index + 1. A search made
    from an image adds `image` (the job's value) after `search_id`."""
    if not hits:
        return RenderedPage(offset, [], b"")
    shown: str | msgspec.UnsetType = msgspec.UNSET if image is None else image
    records = [
        _Record(search_id, shown, patent_id, patent_pn, title, score, url, rank, harvested_at)
        for rank, (patent_id, patent_pn, title, score, url) in enumerate(hits, offset + 1)
    ]
    # one call for the page: each record on its own line, the last newline cut
    return RenderedPage(offset, list(map(itemgetter(0), hits)), _encode_lines(records)[:-1])


def to_stage(page: RenderedPage) -> bytes:
    """A page as one blob for the checkpoint's staging table: ids as a JSON list, a newline,
    the block, as one zlib stream packed by ISA-L. Packing 28 KB costs ~0.04 ms and saves
    SQLite more: on 2,200 pages the commits' own CPU fell from 0.53 s to 0.23 s."""
    return isal_zlib.compress(orjson.dumps(page.ids) + b"\n" + page.block, 1)


def from_stage(offset: int, blob: bytes) -> RenderedPage:
    """The inverse of `to_stage` (also reads the plain blobs staged by earlier versions)."""
    if not blob.startswith(b"["):  # zlib streams start with 0x78, a plain blob with "["
        blob = isal_zlib.decompress(blob)
    head, _, block = blob.partition(b"\n")
    ids: list[str] = orjson.loads(head)
    return RenderedPage(offset, ids, block)


def shard_of(patent_id: str, shards: int) -> int:
    """The shard of a patent: crc32 of its UTF-8 id, stable across runs and machines."""
    return zlib.crc32(patent_id.encode()) % shards


def shards_of(patent_ids: Sequence[str], shards: int) -> list[int]:
    """`shard_of` for many ids at once (the writer's hot loop)."""
    return [crc % shards for crc in map(zlib.crc32, map(str.encode, patent_ids))]


def first_by_shard(
    pages: Iterable[RenderedPage], shards: int
) -> tuple[list[list[bytes]], int, int]:
    """The lines of `pages` (given in rank order) by shard, each patent's first line only;
    the lines kept and the lines seen. One pass, the writer's hot loop (`shard_of` inline)."""
    buckets: list[list[bytes]] = [[] for _ in range(shards)]
    put = [bucket.append for bucket in buckets]
    seen: set[str] = set()
    keep = seen.add
    crc32 = zlib.crc32
    lines_seen = 0
    for page in pages:
        lines = page.lines
        lines_seen += len(lines)
        for patent_id, line in zip(page.ids, lines, strict=True):
            if patent_id not in seen:
                keep(patent_id)
                put[crc32(patent_id.encode()) % shards](line)
    return buckets, len(seen), lines_seen


def gzip_member(*parts: bytes, level: int = GZIP_LEVEL) -> bytes:
    """`parts`, one after the other, as one complete gzip member (mtime 0, so equal input
    gives equal bytes). Parts, not one buffer: no copy is made to join them."""
    # Concatenated members form one valid gzip stream (RFC 1952), so every commit
    # leaves each shard readable by gzip, zcat and duckdb.
    # ISA-L releases the GIL while it compresses, so the writer's gzip threads run in parallel.
    packer = isal_zlib.compressobj(level, isal_zlib.DEFLATED, 31)
    return b"".join([*map(packer.compress, parts), packer.flush()])
