"""The Sink: one run's output directory — lock, checkpoint, shards, writer task, finish.

with Sink.open(out_dir, job_name=..., job_sha256=..., fingerprint=..., shards=4,
               dedupe="search") as sink:
    todo = sink.progress()                   # what the engine still has to fetch
    async with anyio.create_task_group() as tg:
        await tg.start(sink.run, receive)    # the single writer task
        ...                                  # workers send PageFetched / SearchEnded
    result = sink.finish(run_info=settings)
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import anyio.abc
import orjson

from harvester.sink import fingerprint as fp
from harvester.sink.checkpoint import (
    CHECKPOINT_NAME,
    Checkpoint,
    JobIdentity,
    SearchProgress,
    epoch_of,
    fingerprint_of,
)
from harvester.sink.errors import CheckpointMismatch, output_errors
from harvester.sink.images import ImageProgress, image_progress, register_images
from harvester.sink.lock import DirLock
from harvester.sink.manifest import (
    MANIFEST_NAME,
    SEARCHES_NAME,
    SUCCESS_NAME,
    FinishResult,
    RunInfo,
    success_matches,
    write_closing_files,
)
from harvester.sink.messages import Message, SearchEnded
from harvester.sink.shards import EMPTY_MEMBER, ShardSet, fsync_dir
from harvester.sink.writer import CommitStats, Writer

__all__ = ["DEDUPE_SCOPES", "Sink"]

DEDUPE_SCOPES = ("search", "job")
ChangeDescriber = Callable[[Mapping[str, Any], Mapping[str, Any]], list[str]]

_PART = re.compile(r"part-\d{5}\.jsonl\.gz")
#: How long a batch may wait to fill while the writer is the bottleneck (senders blocked).
_BUSY_FILL_S = 0.25


def utc_now() -> str:
    """Now as ISO-8601 UTC with a Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Sink:
    """One run's output directory, held (locked) from `open` until `close`."""

    __slots__ = (
        "_checkpoint",
        "_closed",
        "_identity",
        "_lock",
        "_run_id",
        "_run_recorded",
        "_shards",
        "_started_at",
        "_writer",
        "out_dir",
    )

    def __init__(
        self,
        out_dir: Path,
        lock: DirLock,
        checkpoint: Checkpoint,
        shards: ShardSet,
        identity: JobIdentity,
    ) -> None:
        self.out_dir = out_dir
        self._lock = lock
        self._checkpoint = checkpoint
        self._shards = shards
        self._identity = identity  #: this run's job (the checkpoint's may differ in job_sha256)
        self._writer = Writer(checkpoint, shards)
        self._started_at = utc_now()
        self._run_id = f"{self._started_at[:19].replace(':', '')}-{uuid.uuid4().hex[:8]}"
        self._run_recorded = False
        self._closed = False

    @classmethod
    def open(
        cls,
        out_dir: Path,
        *,
        job_name: str,
        job_sha256: str,
        fingerprint: Mapping[str, object],
        shards: int,
        dedupe: str,
        fresh: bool = False,
        describe_changes: ChangeDescriber | None = None,
        images: Mapping[str, str] | None = None,
    ) -> Sink:
        """Lock `out_dir`, open or create its checkpoint and recover the shards.

        Raises OutputLocked, CheckpointMismatch (unless `fresh`: then the previous run's
        files are deleted), CheckpointCorrupt, OutputError. `images` names the searches
        made from images (key -> the job's value), for searches.jsonl.
        """
        if shards < 1:
            raise ValueError(f"shards must be at least 1, not {shards}")
        if dedupe not in DEDUPE_SCOPES:
            raise ValueError(f"dedupe must be one of {DEDUPE_SCOPES}, not {dedupe!r}")
        canonical = fp.canonical(fingerprint)
        identity = JobIdentity(
            job_name, job_sha256, canonical, fp.digest(fingerprint), shards, dedupe
        )
        with output_errors(out_dir):
            out_dir.mkdir(parents=True, exist_ok=True)
        lock = DirLock(out_dir)
        try:
            if fresh:
                _delete_run_files(out_dir)
            checkpoint = _open_checkpoint(
                out_dir,
                identity,
                fp.search_ids(fingerprint),
                describe_changes or fp.describe_changes,
            )
            try:
                with output_errors(out_dir):
                    register_images(checkpoint.connection, images or {})
                sizes = [size for _, size, _ in checkpoint.shard_rows()]
                shard_set = ShardSet(out_dir, sizes)
                sink = cls(out_dir, lock, checkpoint, shard_set, identity)
                # a complete directory is only looked at (the caller says "nothing to do"):
                # record the run when it writes something, so looking changes nothing
                if not success_matches(out_dir, identity.fingerprint_sha256):
                    sink._record_run()
                if not all(p.status for p in checkpoint.progress().values()):
                    with output_errors(out_dir):  # shards are about to grow
                        (out_dir / SUCCESS_NAME).unlink(missing_ok=True)
                return sink
            except BaseException:
                checkpoint.close()
                raise
        except BaseException:
            lock.release()
            raise

    # -- state -------------------------------------------------------------------------

    def progress(self) -> dict[str, SearchProgress]:
        """Every search's resume state, keyed by id (pages in done_offsets are never refetched).
        Call it before run() or after it returns: the writer owns the connection meanwhile."""
        self._check_open()
        with output_errors(self._checkpoint.path):
            return self._checkpoint.progress()

    def image_progress(self) -> dict[str, ImageProgress]:
        """Each image's upload and created searches (call it when progress() may be called)."""
        self._check_open()
        with output_errors(self._checkpoint.path):
            return image_progress(self._checkpoint.connection)

    def is_complete(self) -> bool:
        """True if _SUCCESS is there and vouches for this job and the current manifest."""
        self._check_open()
        return success_matches(self.out_dir, self._identity.fingerprint_sha256)

    def run_start(self, *, default: float) -> float:
        """Epoch seconds when the first run into this directory started (`default` if this
        run is the first): searches without created_at keep their windows across resumes."""
        self._check_open()
        first = self._checkpoint.first_run_start()
        return default if first is None or first == self._started_at else epoch_of(first)

    def commit(self, messages: list[Message]) -> CommitStats:
        """The writer's step, synchronously: apply `messages` in one commit (run() uses it)."""
        self._check_open()
        return self._writer.commit(messages)

    # -- the writer task ---------------------------------------------------------------

    async def run(
        self,
        receive: anyio.abc.ObjectReceiveStream[Message],
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
        commit_interval: float | None = None,
        max_pages: int = 256,
        max_ends: int = 32,
        on_commit: Callable[[CommitStats], None] | None = None,
    ) -> None:
        """The writer task: commit what arrives, in batches of at most `max_pages` pages or
        `max_ends` ended searches, until the stream closes. By default a batch is what is
        queued when the writer gets to it (group commit), and waits up to 0.25 s to fill
        only while senders are blocked on a full stream; a `commit_interval` (s) always
        waits that long. When cancelled, it drains what was already sent and commits it,
        shielded, before re-raising."""
        self._check_open()
        task_status.started()
        batch: list[Message] = []
        async with receive:
            try:
                while True:
                    try:
                        batch.append(await receive.receive())
                    except anyio.EndOfStream:
                        return
                    closed = await _fill(receive, batch, commit_interval, max_pages, max_ends)
                    pending, batch = batch, []
                    await self._commit_in_thread(pending, on_commit)
                    if closed:
                        return
            except anyio.get_cancelled_exc_class():
                with anyio.CancelScope(shield=True):
                    batch += _drain(receive)
                    if batch:
                        await self._commit_in_thread(batch, on_commit)
                raise

    async def _commit_in_thread(
        self, batch: list[Message], on_commit: Callable[[CommitStats], None] | None
    ) -> None:
        # sqlite3 and zlib release the GIL: the event loop keeps serving the workers.
        stats = await anyio.to_thread.run_sync(self._writer.commit, batch)
        if on_commit is not None:
            on_commit(stats)

    # -- closing -----------------------------------------------------------------------

    def finish(self, *, run_info: Mapping[str, object]) -> FinishResult:
        """Write searches.jsonl and manifest.json, then _SUCCESS iff every search is final.
        `run_info` becomes the manifest's settings, minus anything credential-like."""
        self._check_open()
        if not self._run_recorded:
            self._record_run()
        ended_at = utc_now()
        runs = self._checkpoint.end_run(self._run_id, ended_at)
        run = RunInfo(self._run_id, self._started_at, ended_at)
        return write_closing_files(
            self._checkpoint, self._identity, self.out_dir, run, runs, run_info
        )

    def _record_run(self) -> None:
        self._checkpoint.add_run(self._run_id, self._started_at)
        self._run_recorded = True

    def close(self) -> None:
        """Close files and the checkpoint and release the lock (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._writer.close()
            self._shards.close()
            self._checkpoint.close()
        finally:
            self._lock.release()

    def __enter__(self) -> Sink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"the sink for {self.out_dir} is closed")


async def _fill(
    receive: anyio.abc.ObjectReceiveStream[Message],
    batch: list[Message],
    interval: float | None,
    max_pages: int,
    max_ends: int,
) -> bool:
    """Add messages to `batch` until the interval passes or it is full; True if the stream
    ended. Interval None: take what is queued, and wait to fill only under backpressure."""
    if interval is None:
        # A paid page waiting for company is a page paid again if the process dies now:
        # when the writer keeps up, commit at once. When senders are blocked the pages
        # wait in the stream anyway, and bigger batches are what lets the writer catch up.
        backlog = _senders_blocked(receive)
        queue = _take_queued(receive, batch, max_pages, max_ends)
        if queue == "ended":
            return True
        if queue == "full" or (queue == "empty" and not backlog):
            return False
        interval = _BUSY_FILL_S
    ends = sum(isinstance(m, SearchEnded) for m in batch)
    # A receive cut short by the deadline loses nothing: anyio cancels a waiting receiver
    # only before an item has been handed to it.
    with anyio.move_on_after(interval):
        while len(batch) - ends < max_pages and ends < max_ends:
            try:
                message = await receive.receive()
            except anyio.EndOfStream:
                return True
            batch.append(message)
            ends += isinstance(message, SearchEnded)
    return False


def _senders_blocked(receive: anyio.abc.ObjectReceiveStream[Message]) -> bool:
    """True if the stream is full or a sender waits for room (the writer is the bottleneck)."""
    statistics = getattr(receive, "statistics", None)
    if statistics is None:
        return False
    now = statistics()
    return bool(now.tasks_waiting_send > 0 or now.current_buffer_used >= now.max_buffer_size)


def _take_queued(
    receive: anyio.abc.ObjectReceiveStream[Message],
    batch: list[Message],
    max_pages: int,
    max_ends: int,
) -> str:
    """Move what is queued now into `batch`: "full" if the caps stopped it, "empty" if the
    queue ran dry, "ended" if the stream did, "unknown" if it cannot be read without waiting."""
    receive_nowait = getattr(receive, "receive_nowait", None)
    if receive_nowait is None:
        return "unknown"
    ends = sum(isinstance(m, SearchEnded) for m in batch)
    while len(batch) - ends < max_pages and ends < max_ends:
        try:
            message = receive_nowait()
        except anyio.WouldBlock:
            return "empty"
        except anyio.EndOfStream:
            return "ended"
        batch.append(message)
        ends += isinstance(message, SearchEnded)
    return "full"


def _drain(receive: anyio.abc.ObjectReceiveStream[Message]) -> list[Message]:
    """What was already sent but not received: pages paid for, to commit on the way out."""
    drained: list[Message] = []
    receive_nowait = getattr(receive, "receive_nowait", None)
    if receive_nowait is None:
        return drained
    while True:
        try:
            drained.append(receive_nowait())
        except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
            return drained


def _open_checkpoint(
    out_dir: Path, identity: JobIdentity, search_ids: list[str], describe: ChangeDescriber
) -> Checkpoint:
    path = out_dir / CHECKPOINT_NAME
    if not path.exists():
        leftovers = sorted(p.name for p in out_dir.iterdir() if _is_output(p.name))
        if leftovers:
            raise CheckpointMismatch(
                out_dir,
                [
                    f"output files without a checkpoint ({', '.join(leftovers[:3])}"
                    f"{', ...' if len(leftovers) > 3 else ''}): another tool's or a damaged run's"
                ],
            )
        return Checkpoint.create(path, identity, search_ids, len(EMPTY_MEMBER))
    checkpoint = Checkpoint.open(path)
    old = checkpoint.identity
    changes = identity.changes_from(old)
    if old.fingerprint != identity.fingerprint:
        new_fp = orjson.loads(identity.fingerprint)
        described = describe(fingerprint_of(old), new_fp) or ["the job's fingerprint changed"]
        # the describer may say the layout change again (shards: 4 -> 3): once is enough
        changes += [c for c in described if c not in changes]
    if changes:
        checkpoint.close()
        raise CheckpointMismatch(out_dir, changes)
    return checkpoint


def _is_output(name: str) -> bool:
    return bool(_PART.fullmatch(name)) or name in (SEARCHES_NAME, MANIFEST_NAME, SUCCESS_NAME)


def _delete_run_files(out_dir: Path) -> None:
    """--fresh: delete the previous run's files — ours only, _SUCCESS first so no reader
    trusts a directory half gone. Unknown files are left alone."""
    names = [SUCCESS_NAME, MANIFEST_NAME, SEARCHES_NAME]
    checkpoint_files = [CHECKPOINT_NAME + suffix for suffix in ("", "-wal", "-shm")]
    checkpoint_files += [f"{CHECKPOINT_NAME}.new{suffix}" for suffix in ("", "-wal", "-shm")]
    with output_errors(out_dir):
        parts = sorted(p.name for p in out_dir.iterdir() if _PART.fullmatch(p.name))
        for name in [*names, *parts, *checkpoint_files]:
            (out_dir / name).unlink(missing_ok=True)
            (out_dir / f".{name}.tmp").unlink(missing_ok=True)
        fsync_dir(out_dir)
