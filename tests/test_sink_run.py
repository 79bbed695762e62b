"""The writer task: batching, the end of the stream, cancellation."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from harvester.sink import CommitStats, Message, PageFetched, Sink, batching
from harvester.sink.batching import Gather
from tests.test_sink_helpers import FakeSearch, feed, open_sink, synthetic_job


async def test_cancelled_writer_commits_what_was_sent_before_it_stops(tmp_path: Path) -> None:
    job = synthetic_job(6, searches=10)
    send, receive = anyio.create_memory_object_stream[Message](1000)
    with open_sink(tmp_path, job) as sink:
        messages = list(feed(job, sink.progress(), seed=2))[:50]
        async with anyio.create_task_group() as tg:
            # a long interval: nothing would commit before the cancel
            await tg.start(
                lambda task_status: sink.run(
                    receive, task_status=task_status, commit_interval=60, max_pages=10_000
                )
            )
            for message in messages:
                await send.send(message)
            await anyio.wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
        progress = sink.progress()
    sent = {(m.search_id, m.offset) for m in messages if isinstance(m, PageFetched)}
    done = {(sid, o) for sid, p in progress.items() for o in p.done_offsets}
    assert done == sent
    send.close()


async def test_a_quiet_stream_still_commits_every_interval(tmp_path: Path) -> None:
    job = synthetic_job(6, searches=10)
    send, receive = anyio.create_memory_object_stream[Message](10)
    committed = anyio.Event()
    pages: list[int] = []

    def on_commit(stats: CommitStats) -> None:
        pages.append(stats.pages)
        committed.set()

    with open_sink(tmp_path, job) as sink:
        first = next(m for m in feed(job, sink.progress(), seed=2) if isinstance(m, PageFetched))
        async with anyio.create_task_group() as tg:
            await tg.start(
                lambda task_status: sink.run(
                    receive, task_status=task_status, commit_interval=0.05, on_commit=on_commit
                )
            )
            async with send:
                await send.send(first)
                with anyio.fail_after(5):
                    await committed.wait()  # committed although the stream stays open
                assert first.offset in sink.progress()[first.search_id].done_offsets
    assert pages == [1]


async def test_a_full_batch_commits_without_waiting_for_the_interval(tmp_path: Path) -> None:
    job = synthetic_job(6, searches=10)
    batches: list[int] = []
    send, receive = anyio.create_memory_object_stream[Message](100)
    with open_sink(tmp_path, job) as sink:
        pages = fed_pages(job, sink)
        async with anyio.create_task_group() as tg:
            await tg.start(
                lambda task_status: sink.run(
                    receive,
                    task_status=task_status,
                    commit_interval=60,
                    max_pages=5,
                    on_commit=lambda stats: batches.append(stats.pages),
                )
            )
            async with send:
                for page in pages[:20]:
                    await send.send(page)
    assert batches == [5, 5, 5, 5]


def fed_pages(job: list[FakeSearch], sink: Sink) -> list[PageFetched]:
    """The pages an engine would send this sink for the job, without the ends."""
    return [m for m in feed(job, sink.progress(), seed=2) if isinstance(m, PageFetched)]


class Commits:
    """The writer's on_commit: each commit's page count, and a wait for the next commit."""

    def __init__(self) -> None:
        self.pages: list[int] = []
        self._next = anyio.Event()

    def __call__(self, stats: CommitStats) -> None:
        self.pages.append(stats.pages)
        self._next.set()

    async def next(self) -> None:
        with anyio.fail_after(5):
            await self._next.wait()
        self._next = anyio.Event()


async def test_a_gathering_batch_waits_for_company_until_it_is_flushed(tmp_path: Path) -> None:
    job = synthetic_job(6, searches=10)
    commits = Commits()
    gather = Gather(60)  # a wait no test would sit out: only flush() can end it
    send, receive = anyio.create_memory_object_stream[Message](100)
    with open_sink(tmp_path, job) as sink:
        pages = fed_pages(job, sink)
        async with anyio.create_task_group() as tg:
            await tg.start(
                lambda task_status: sink.run(
                    receive, task_status=task_status, on_commit=commits, gather=gather
                )
            )
            async with send:
                for page in pages[:3]:
                    await send.send(page)
                    await anyio.wait_all_tasks_blocked()  # one at a time, as a pool lands them
                assert commits.pages == []  # gathered, not committed
                gather.flush()  # the pool's window is full: commit now
                await commits.next()
                assert commits.pages == [3]
                gather.flush()  # asked while nothing waits: the next batch does not wait
                await send.send(pages[3])
                await commits.next()
                assert commits.pages == [3, 1]


async def test_a_flush_also_ends_the_wait_of_a_writer_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Senders blocked on a full stream make a batch wait to fill (the writer is behind);
    # when they then have nothing more to send until a commit, flush() must end that wait
    # as it ends a gathering one.
    monkeypatch.setattr(batching, "_BUSY_FILL_S", 60)  # only flush() can end it
    job = synthetic_job(6, searches=10)
    commits = Commits()
    gather = Gather(60)
    send, receive = anyio.create_memory_object_stream[Message](2)
    with open_sink(tmp_path, job) as sink:
        pages = fed_pages(job, sink)

        async def sender() -> None:
            for page in pages[:5]:
                await send.send(page)

        async with anyio.create_task_group() as tg, send:
            tg.start_soon(sender)
            await anyio.wait_all_tasks_blocked()  # the stream is full, a sender waits
            await tg.start(
                lambda task_status: sink.run(
                    receive, task_status=task_status, on_commit=commits, gather=gather
                )
            )
            await anyio.wait_all_tasks_blocked()
            assert commits.pages == []  # the writer waits for its batch to fill
            gather.flush()  # the senders can send nothing more until a commit
            await commits.next()
            assert commits.pages == [5]
