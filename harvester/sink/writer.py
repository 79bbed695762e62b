"""The writer's batch step: stage pages, write ended searches, commit — all or nothing.

Pages of one search arrive out of order, so a search's records are written only when it
ends: then its pages are put in rank order and deduplicated (the best rank wins), and
appended to the shards. One transaction then records the new shard sizes, marks the
search final and drops its staged pages; a crash before it leaves shard tails that
recovery cuts off, and the staged pages are still there. Hence exactly-once.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from operator import itemgetter

from harvester.sink.checkpoint import Checkpoint
from harvester.sink.errors import OutputError, UnknownSearch
from harvester.sink.images import ImageUploaded, SearchCreated, record
from harvester.sink.messages import Message, PageFetched, SearchEnded
from harvester.sink.records import EncodedPage, encode_page, gzip_member, pack, shard_of, unpack
from harvester.sink.shards import ShardSet

__all__ = ["CommitStats", "Writer"]


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
class _Ending:
    """A search that ends in this batch: its end message and the pages held in memory."""

    sid: int
    end: SearchEnded | None = None
    pages: list[EncodedPage] = field(default_factory=list)


class Writer:
    """Applies batches of messages to the checkpoint and the shards, one commit each."""

    __slots__ = ("_checkpoint", "_gzip_pool", "_job_scope", "_shards")

    def __init__(self, checkpoint: Checkpoint, shards: ShardSet) -> None:
        self._checkpoint = checkpoint
        self._shards = shards
        self._job_scope = checkpoint.identity.dedupe == "job"
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
        with self._checkpoint.transaction():
            endings = self._stage(messages, ending_ids, stats)
            members, added = self._assemble(endings, stats)
            sizes = self._shards.append(members)
            self._checkpoint.set_shards(sizes, added)
        self._shards.committed(sizes)
        return stats

    def _stage(
        self, messages: Sequence[Message], ending_ids: set[str], stats: CommitStats
    ) -> list[tuple[_Ending, SearchEnded]]:
        """Record pages (staging those whose search goes on); collect the searches that end."""
        checkpoint = self._checkpoint
        endings: dict[str, _Ending] = {}
        for message in messages:
            if isinstance(message, ImageUploaded | SearchCreated):
                record(checkpoint.connection, message)
                continue
            found = checkpoint.search(message.search_id)
            if found is None:
                stats.unknown.append(message.search_id)
                continue
            sid, status = found
            ending = endings.get(message.search_id)
            final = status is not None or (ending is not None and ending.end is not None)
            if isinstance(message, SearchEnded):
                checkpoint.add_cost(sid, message.calls, message.retries)
                if final or message.search_id not in ending_ids:
                    stats.ignored += 1
                    continue
                endings.setdefault(message.search_id, _Ending(sid)).end = message
                continue
            # a page that costs calls is still paid for when it is a repeat: count the
            # calls, never its records
            checkpoint.add_cost(
                sid, message.calls, message.retries, None if final else message.total
            )
            if final or not self._record_page(sid, message):
                stats.ignored += 1
                continue
            stats.pages += 1
            page = encode_page(
                message.created_id or message.search_id,
                message.offset,
                message.harvested_at,
                message.hits,
                message.image,
            )
            if message.search_id in ending_ids:
                endings.setdefault(message.search_id, _Ending(sid)).pages.append(page)
            else:
                checkpoint.stage(sid, message.offset, pack(page))
        ended: list[tuple[_Ending, SearchEnded]] = []
        for ending in endings.values():
            if ending.end is not None:
                ended.append((ending, ending.end))
            else:  # cannot happen (pages are held only for ending searches); keep them anyway
                for page in ending.pages:
                    checkpoint.stage(ending.sid, page.offset, pack(page))
        return ended

    def _record_page(self, sid: int, page: PageFetched) -> bool:
        return self._checkpoint.add_page(
            sid, page.offset, page.limit, page.total, len(page.hits), page.harvested_at
        )

    def _assemble(
        self, endings: list[tuple[_Ending, SearchEnded]], stats: CommitStats
    ) -> tuple[dict[int, bytes], dict[int, int]]:
        """Records of the ending searches, deduplicated, as one gzip member per shard."""
        nshards = len(self._shards.paths)
        lines: dict[int, list[bytes]] = {}
        for ending, end in endings:
            pages = [unpack(offset, data) for offset, data in self._checkpoint.staged(ending.sid)]
            pages += ending.pages
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
        data = [b"\n".join(lines.pop(shard)) + b"\n" for shard in shards]
        packed = (
            self._gzip_pool.map(gzip_member, data) if self._gzip_pool else map(gzip_member, data)
        )
        members = dict(zip(shards, packed, strict=True))
        return members, added

    def _dedupe(
        self, pages: list[EncodedPage], nshards: int, out: dict[int, list[bytes]]
    ) -> tuple[int, int]:
        """Append one search's records in rank order to `out`, best rank per patent kept."""
        ranked = sorted(
            (
                (page.offset + index, patent_id, line)
                for page in pages
                for index, (patent_id, line) in enumerate(zip(page.ids, page.lines, strict=True))
            ),
            key=itemgetter(0),
        )
        seen: set[str] = set()
        best = []
        for entry in ranked:
            if entry[1] not in seen:
                seen.add(entry[1])
                best.append(entry)
        if self._job_scope:
            new = self._checkpoint.claim_keys([patent_id for _, patent_id, _ in best])
            best = [entry for entry in best if entry[1] in new]
        for _rank, patent_id, line in best:
            out.setdefault(shard_of(patent_id, nshards), []).append(line)
        # A hit seen twice at the same rank is paging overlap (with limit < 100 the last
        # page, at offset 1000, overlaps the one before it), not a duplicate in the data.
        positions = len({(rank, patent_id) for rank, patent_id, _ in ranked})
        return len(best), positions - len(best)
