"""The writer's batch step: stage pages, write ended searches, commit — all or nothing.

Pages of one search arrive out of order, so a search's records are written only when it
ends: then its pages are put in rank order and deduplicated (the best rank wins), and
appended to the shards. One transaction then records the new shard sizes, marks the
search final and drops its staged pages; a crash before it leaves shard tails that
recovery cuts off, and the staged pages are still there. Hence exactly-once.

A page is rendered into its record lines once, on arrival. A page whose search ends in
the same batch stays in memory; any other is staged as those very bytes (one INSERT per
batch) and kept in memory as well (held.HeldPages): its search's end reads it back from
the checkpoint only after a restart or when memory ran short. No JSON is parsed twice.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from itertools import chain, pairwise
from operator import attrgetter, itemgetter

from harvester.sink.checkpoint import Checkpoint
from harvester.sink.errors import OutputError, UnknownSearch
from harvester.sink.held import HeldPages
from harvester.sink.images import ImageUploaded, SearchCreated, record
from harvester.sink.messages import Message, PageFetched, SearchEnded
from harvester.sink.records import (
    RenderedPage,
    first_by_shard,
    from_stage,
    gzip_member,
    render_page,
    shards_of,
    to_stage,
)
from harvester.sink.shards import ShardSet
from harvester.sink.vocabulary import DedupeScope

__all__ = ["CommitStats", "Writer"]


#: Below this many bytes of records a commit compresses its shards in its own thread.
_PARALLEL_GZIP_BYTES = 1 << 20


@dataclass(slots=True)
class CommitStats:
    """What one commit did (for progress reports and tests)."""

    pages: int = 0  #: pages newly recorded
    ignored: int = 0  #: pages or ends for final searches, or offsets already recorded
    searches: int = 0  #: searches made final
    records: int = 0  #: records appended to shards
    duplicates: int = 0  #: records dropped by dedupe
    unknown: list[str] = field(default_factory=list)  #: search ids not in the job
    fetched: int = 0  #: PageFetched messages in the batch, recorded or ignored


@dataclass(slots=True)
class _Cost:
    """What a batch adds to one search's counters."""

    calls: int = 0
    retries: int = 0
    total: int | None = None  #: the last total reported by a page of a search not final


@dataclass(slots=True)
class _Staged:
    """What a commit staged, for the pages held in memory once it has gone through."""

    pages: list[tuple[int, RenderedPage]] = field(default_factory=list)  #: (sid, page)
    fresh: set[int] = field(default_factory=set)  #: sids with no page recorded before


@dataclass(slots=True)
class _Ending:
    """A search that ends in this batch: its end message and the pages held in memory."""

    sid: int
    end: SearchEnded | None = None
    pages: list[RenderedPage] = field(default_factory=list)


class Writer:
    """Applies batches of messages to the checkpoint and the shards, one commit each."""

    __slots__ = ("_checkpoint", "_gzip_pool", "_held", "_job_scope", "_shards")

    def __init__(self, checkpoint: Checkpoint, shards: ShardSet) -> None:
        self._checkpoint = checkpoint
        self._shards = shards
        self._job_scope = checkpoint.identity.dedupe == DedupeScope.JOB
        self._held = HeldPages()
        # gzip is most of a commit's cost and zlib releases the GIL: shards compress in
        # parallel on machines with the cores for it
        workers = min(len(shards.paths), os.cpu_count() or 1)
        self._gzip_pool = ThreadPoolExecutor(workers, "gzip") if workers > 1 else None

    def close(self) -> None:
        """Stop the compression threads."""
        if self._gzip_pool is not None:
            self._gzip_pool.shutdown()

    def commit(self, messages: Sequence[Message]) -> CommitStats:
        """Apply `messages` in one commit. On OutputError nothing of the batch's output is
        kept; its pages are still staged if the checkpoint can take them."""
        try:
            stats = self._commit(messages, finalize=True)
        except OutputError:
            self._shards.rollback()
            with suppress(OutputError):  # the pages were paid for: keep them if we can
                self._commit(messages, finalize=False)
            raise
        except BaseException:
            self._shards.rollback()
            raise
        if stats.unknown:
            raise UnknownSearch(stats.unknown)
        stats.fetched = sum(isinstance(m, PageFetched) for m in messages)
        return stats

    def _commit(self, messages: Sequence[Message], *, finalize: bool) -> CommitStats:
        stats = CommitStats()
        ending_ids = (
            {m.search_id for m in messages if isinstance(m, SearchEnded)} if finalize else set()
        )
        staged = _Staged()
        with self._checkpoint.transaction():
            endings = self._stage(messages, ending_ids, stats, staged)
            members, added = self._assemble(endings, stats)
            sizes = self._shards.append(members)
            self._checkpoint.set_shards(sizes, added)
        self._shards.committed(sizes)
        self._held.committed(staged.pages, staged.fresh, (ending.sid for ending, _ in endings))
        return stats

    def _stage(
        self,
        messages: Sequence[Message],
        ending_ids: set[str],
        stats: CommitStats,
        held: _Staged,
    ) -> list[tuple[_Ending, SearchEnded]]:
        """Record pages (staging those whose search goes on); collect the searches that end.
        A handful of statements per batch, whatever its size: lookups first, writes last."""
        checkpoint = self._checkpoint
        found = checkpoint.searches_named({m.search_id for m in messages})
        recorded = checkpoint.recorded_offsets(
            [sid for sid, status in found.values() if status is None]
        )
        costs: dict[int, _Cost] = {}
        pages: list[tuple[int, PageFetched]] = []
        staged: list[tuple[int, int, bytes]] = []
        endings: dict[str, _Ending] = {}
        for message in messages:
            if isinstance(message, ImageUploaded | SearchCreated):
                record(checkpoint.connection, message)
                continue
            if message.search_id not in found:
                stats.unknown.append(message.search_id)
                continue
            sid, status = found[message.search_id]
            ending = endings.get(message.search_id)
            final = status is not None or (ending is not None and ending.end is not None)
            cost = costs.setdefault(sid, _Cost())
            cost.calls += message.calls
            cost.retries += message.retries
            if isinstance(message, SearchEnded):
                if final or message.search_id not in ending_ids:
                    stats.ignored += 1
                    continue
                endings.setdefault(message.search_id, _Ending(sid)).end = message
                continue
            # a page that costs calls is still paid for when it is a repeat: count the
            # calls, never its records
            if final:
                stats.ignored += 1
                continue
            cost.total = message.total
            done = recorded.get(sid)
            if done is None:  # no page of it recorded before this batch
                done = recorded[sid] = set()
                held.fresh.add(sid)
            if message.offset in done:
                stats.ignored += 1
                continue
            done.add(message.offset)
            pages.append((sid, message))
            stats.pages += 1
            page = render_page(
                message.created_id or message.search_id,
                message.offset,
                message.harvested_at,
                message.hits,
                message.image,
            )
            if message.search_id in ending_ids:
                endings.setdefault(message.search_id, _Ending(sid)).pages.append(page)
            else:
                staged.append((sid, message.offset, to_stage(page)))
                held.pages.append((sid, page))
        ended: list[tuple[_Ending, SearchEnded]] = []
        for ending in endings.values():
            if ending.end is not None:
                ended.append((ending, ending.end))
            else:  # cannot happen (pages are held only for ending searches); keep them anyway
                staged += [(ending.sid, page.offset, to_stage(page)) for page in ending.pages]
                held.pages += [(ending.sid, page) for page in ending.pages]
        checkpoint.add_costs([(c.calls, c.retries, c.total, sid) for sid, c in costs.items()])
        checkpoint.add_pages(
            [(sid, m.offset, m.limit, m.total, len(m.hits), m.harvested_at) for sid, m in pages]
        )
        checkpoint.stage(staged)
        return ended

    def _assemble(
        self, endings: list[tuple[_Ending, SearchEnded]], stats: CommitStats
    ) -> tuple[dict[int, bytes], dict[int, int]]:
        """Records of the ending searches, deduplicated, as one gzip member per shard."""
        nshards = len(self._shards.paths)
        lines: dict[int, list[bytes]] = {}
        for ending, end in endings:
            pages = self._staged_pages(ending.sid) + ending.pages
            records, duplicates = self._dedupe(pages, nshards, lines)
            self._checkpoint.finalize(
                ending.sid,
                end.status,
                end.total,
                end.reachable,
                end.error_code,
                end.error_msg,
                end.deadline,
                records,
                duplicates,
            )
            stats.searches += 1
            stats.records += records
            stats.duplicates += duplicates
        added = {shard: len(chunk) for shard, chunk in lines.items()}
        shards = list(lines)
        data = [b"\n".join(lines.pop(shard)) for shard in shards]
        # a thread hand-off costs more than level-1 gzip of a small batch saves
        pool = self._gzip_pool if sum(map(len, data)) >= _PARALLEL_GZIP_BYTES else None
        packed = pool.map(_pack_lines, data) if pool else map(_pack_lines, data)
        members = dict(zip(shards, packed, strict=True))
        return members, added

    def _staged_pages(self, sid: int) -> list[RenderedPage]:
        """A search's staged pages: from memory if held whole, else from the checkpoint."""
        held = self._held.pages(sid)
        if held is not None:
            return list(held)
        return [from_stage(offset, data) for offset, data in self._checkpoint.staged(sid)]

    def _dedupe(
        self, pages: list[RenderedPage], nshards: int, out: dict[int, list[bytes]]
    ) -> tuple[int, int]:
        """Append one search's records in rank order to `out`, best rank per patent kept."""
        ordered = sorted(pages, key=attrgetter("offset"))
        if not self._job_scope and not _overlapping(ordered):  # the usual case: one pass
            by_shard, records, seen = first_by_shard(ordered, nshards)
            for shard, bucket in enumerate(by_shard):
                if bucket:
                    out.setdefault(shard, []).extend(bucket)
            return records, seen - records
        ids, lines, positions = _in_rank_order(ordered)
        # patent id -> index of its first (best-ranked) record: built back to front, so
        # the first occurrence is the one that stays
        first = dict(zip(reversed(ids), range(len(ids) - 1, -1, -1), strict=True))
        if len(first) < len(ids):
            kept = sorted(first.values())
            ids = [ids[index] for index in kept]
            lines = [lines[index] for index in kept]
        if self._job_scope:
            new = self._checkpoint.claim_keys(ids)
            if len(new) < len(ids):
                lines = [line for pid, line in zip(ids, lines, strict=True) if pid in new]
                ids = [pid for pid in ids if pid in new]
        buckets: list[list[bytes]] = [[] for _ in range(nshards)]
        put = [bucket.append for bucket in buckets]
        for shard, line in zip(shards_of(ids, nshards), lines, strict=True):
            put[shard](line)  # a third of the C-level compress passes' cost, one pass in all
        for shard, bucket in enumerate(buckets):
            if bucket:
                out.setdefault(shard, []).extend(bucket)
        return len(ids), positions - len(ids)


def _pack_lines(block: bytes) -> bytes:
    """Record lines joined by newlines, and the last one's newline, as one gzip member."""
    return gzip_member(block, b"\n")


def _overlapping(ordered: list[RenderedPage]) -> bool:
    """True if pages in offset order share ranks (paging overlap at the offset cap)."""
    return any(a.offset + len(a.ids) > b.offset for a, b in pairwise(ordered))


def _in_rank_order(ordered: list[RenderedPage]) -> tuple[list[str], list[bytes], int]:
    """A search's (patent ids, lines) in rank order from its pages in offset order, and
    how many distinct (rank, patent) positions they hold.

    A hit seen twice at the same rank is paging overlap (with limit < 100 the last page,
    at offset 1000, overlaps the one before it), not a duplicate in the data: it counts
    as one position. Pages that do not overlap (the usual case) are simply put in offset
    order; overlapping ones are sorted record by record, equal ranks in page order.
    """
    if not _overlapping(ordered):
        ids = list(chain.from_iterable(page.ids for page in ordered))
        lines = list(chain.from_iterable(page.lines for page in ordered))
        return ids, lines, len(ids)
    ranked = sorted(
        (
            (page.offset + index, patent_id, line)
            for page in ordered
            for index, (patent_id, line) in enumerate(zip(page.ids, page.lines, strict=True))
        ),
        key=itemgetter(0),
    )
    positions = len({(rank, patent_id) for rank, patent_id, _ in ranked})
    return [entry[1] for entry in ranked], [entry[2] for entry in ranked], positions
