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

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import anyio
import anyio.abc

from harvester.sink import fingerprint as fp
from harvester.sink.batching import Gather, drain, fill
from harvester.sink.checkpoint import (
    Checkpoint,
    JobIdentity,
    SearchProgress,
    epoch_of,
)
from harvester.sink.errors import output_errors
from harvester.sink.images import ImageProgress, image_progress, register_images
from harvester.sink.lock import DirLock
from harvester.sink.manifest import (
    SUCCESS_NAME,
    FinishResult,
    RunInfo,
    success_matches,
    write_closing_files,
)
from harvester.sink.messages import Message
from harvester.sink.opening import ChangeDescriber, delete_run_files, open_checkpoint
from harvester.sink.shards import ShardSet
from harvester.sink.vocabulary import DEDUPE_SCOPES
from harvester.sink.writer import CommitStats, Writer

__all__ = ["DEDUPE_SCOPES", "Sink"]


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
                delete_run_files(out_dir)
            checkpoint = open_checkpoint(
                out_dir,
                identity,
                fp.search_ids(fingerprint),
                describe_changes,
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

    @property
    def run_id(self) -> str:
        """This run's id, as in the manifest's `runs` (the timeline names its segment by it)."""
        return self._run_id

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
        gather: Gather | None = None,
    ) -> None:
        """The writer task: commit what arrives, in batches of at most `max_pages` pages or
        `max_ends` ended searches, until the stream closes. By default a batch is what is
        queued when the writer gets to it (group commit), and waits up to 0.25 s to fill
        only while senders are blocked on a full stream, or for `gather.seconds` unless
        flushed (batching.Gather); a `commit_interval` (s) always waits that long. When
        cancelled, it drains what was already sent and commits it, shielded, before
        re-raising."""
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
                    closed = await fill(
                        receive, batch, commit_interval, max_pages, max_ends, gather
                    )
                    pending, batch = batch, []
                    await self._commit_in_thread(pending, on_commit, gather)
                    if closed:
                        return
            except anyio.get_cancelled_exc_class():
                with anyio.CancelScope(shield=True):
                    batch += drain(receive)
                    if batch:
                        await self._commit_in_thread(batch, on_commit, gather)
                raise

    async def _commit_in_thread(
        self,
        batch: list[Message],
        on_commit: Callable[[CommitStats], None] | None,
        gather: Gather | None,
    ) -> None:
        # sqlite3 and ISA-L release the GIL: the event loop keeps serving the workers.
        stats = await anyio.to_thread.run_sync(self._writer.commit, batch)
        if gather is not None:
            gather.committed()
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
