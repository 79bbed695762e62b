"""How the writer task gathers a batch: group commit, and a drain on the way out.

By default a batch is what is queued when the writer gets to it; it waits to fill only
while senders are blocked (the writer is the bottleneck, and bigger batches let it catch
up). With a `Gather` it also waits a moment for company when nothing presses: fewer,
larger commits (each costs a transaction, fsyncs and a thread hand-off). Either wait
ends at once at `Gather.flush()`: the senders can send nothing more until a commit. When the writer
is cancelled it drains what was already sent: pages paid for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import anyio.abc

from harvester.sink.messages import Message, SearchEnded

__all__ = ["GATHER_S", "Gather", "drain", "fill", "senders_blocked", "take_queued"]

#: How long the engine lets a batch wait for more pages while the pool has room: at 20 r/s
#: about 5 pages a commit instead of 1. A kill re-bills no more for it: the commit window
#: bounds paid, uncommitted pages whatever the writer does.
GATHER_S = 0.25

#: How long a batch may wait to fill while the writer is the bottleneck (senders blocked).
_BUSY_FILL_S = 0.25


class Gather:
    """Let a batch wait up to `seconds` for company when nothing presses; `flush()` ends
    the wait at once (the pool calls it when it can send nothing more until a commit).

    A paid page waiting for company is a page paid again if the process dies then, but
    the pool's commit window bounds those pages whatever the writer does; the wait only
    makes commits fewer and larger.
    """

    __slots__ = ("_flushed", "_scope", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._scope: anyio.CancelScope | None = None
        self._flushed = False  # asked while no wait was on: the next wait is skipped

    def flush(self) -> None:
        """Commit what is gathered now (or skip the next wait, if none is on)."""
        if self._scope is not None:
            self._scope.cancel()
        else:
            self._flushed = True

    def committed(self) -> None:
        """A commit went through: the pool may send again, a past flush is spent."""
        self._flushed = False

    def may_wait(self) -> bool:
        """False while a flush asked for before the wait is pending."""
        return not self._flushed

    @contextmanager
    def waiting(self, seconds: float | None = None) -> Iterator[None]:
        """A wait of up to `seconds` (default: the gather's own) that `flush()` ends at once."""
        with anyio.move_on_after(self.seconds if seconds is None else seconds) as scope:
            self._scope = scope
            try:
                yield
            finally:
                self._scope = None


async def fill(
    receive: anyio.abc.ObjectReceiveStream[Message],
    batch: list[Message],
    interval: float | None,
    max_pages: int,
    max_ends: int,
    gather: Gather | None = None,
) -> bool:
    """Add messages to `batch` until the interval passes or it is full; True if the stream
    ended. Interval None: take what is queued, and wait to fill only under backpressure,
    or for `gather.seconds` (unless flushed) with a `gather`."""
    if interval is None:
        # When the writer keeps up, commit at once (or after a gather's short wait). When
        # senders are blocked the pages wait in the stream anyway, and bigger batches are
        # what lets the writer catch up.
        backlog = senders_blocked(receive)
        queue = take_queued(receive, batch, max_pages, max_ends)
        if queue == "ended":
            return True
        if queue == "full":
            return False
        if gather is not None and not gather.may_wait():
            return False  # flushed: the senders can send nothing more until a commit
        if queue == "empty" and not backlog:
            if gather is None:
                return False
            with gather.waiting():
                return await _receive_more(receive, batch, max_pages, max_ends)
            return False  # the wait ran out or was flushed
        if gather is not None:  # a flush ends this wait too
            with gather.waiting(_BUSY_FILL_S):
                return await _receive_more(receive, batch, max_pages, max_ends)
            return False
        interval = _BUSY_FILL_S
    with anyio.move_on_after(interval):
        return await _receive_more(receive, batch, max_pages, max_ends)
    return False  # the interval ran out


async def _receive_more(
    receive: anyio.abc.ObjectReceiveStream[Message],
    batch: list[Message],
    max_pages: int,
    max_ends: int,
) -> bool:
    """Receive into `batch` until it is full (False) or the stream ends (True). A receive
    cut short by a deadline loses nothing: anyio cancels a waiting receiver only before an
    item has been handed to it."""
    ends = sum(isinstance(m, SearchEnded) for m in batch)
    while len(batch) - ends < max_pages and ends < max_ends:
        try:
            message = await receive.receive()
        except anyio.EndOfStream:
            return True
        batch.append(message)
        ends += isinstance(message, SearchEnded)
    return False


def senders_blocked(receive: anyio.abc.ObjectReceiveStream[Message]) -> bool:
    """True if the stream is full or a sender waits for room (the writer is the bottleneck)."""
    statistics = getattr(receive, "statistics", None)
    if statistics is None:
        return False
    now = statistics()
    return bool(now.tasks_waiting_send > 0 or now.current_buffer_used >= now.max_buffer_size)


def take_queued(
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


def drain(receive: anyio.abc.ObjectReceiveStream[Message]) -> list[Message]:
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
