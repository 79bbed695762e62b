"""What a failed call leads to: a pure decision, carried out by the pool.

    action = decide(Failure(error, attempt=2, refused=0, now=t, deadline=d, window_end=w,
                            ended=False, stopping=False), policy, rng)
    match action:                  # Requeue | Park | StopTheRun | Final | AlreadyDecided
        ...

The order of the questions is the error table's (api/errors.py) read against the search's
window: a run that is stopping keeps a page without an answer for the resume; a search
whose fate was decided while the call was out has nothing to retry; StopRun (and a
re-authentication the client gave up on) stops the run; a push-back slows the pool and
retries while the window is open, and a 67200002 that persists stops the run; a transient
failure is retried with backoff until the window (plus grace) closes, never final before;
anything else ends the search. Every input is a value (the clock's `now` among them), so
the table is tested without an event loop.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from harvester.api.errors import (
    PatSnapError,
    QuotaAmbiguous,
    Reauthenticate,
    Retryable,
    SlowDown,
    StopRun,
    UnknownCodeError,
)
from harvester.engine.images import WindowClosed
from harvester.engine.retry import RetryPolicy, is_transient
from harvester.sink.vocabulary import SearchStatus

__all__ = [
    "AlreadyDecided",
    "Failure",
    "FailureAction",
    "Final",
    "Park",
    "PushBack",
    "Requeue",
    "StopTheRun",
    "decide",
]


@dataclass(slots=True, frozen=True)
class Failure:
    """One call of one page that came back with `error`, and where its search stands."""

    error: PatSnapError
    attempt: int  #: calls of this page so far, this one included
    refused: int  #: push-backs (67200001) among them before this one
    now: float  #: epoch seconds
    deadline: float  #: when the search's window closes
    window_end: float  #: the window plus grace (inf: an image's search is created again)
    ended: bool  #: the search's fate was decided while this call was out
    stopping: bool  #: the run is stopping (after this failure's breaker verdict)
    quota_streak: tuple[float, ...] = ()  #: when the 67200002 answers in a row came


@dataclass(slots=True, frozen=True)
class PushBack:
    """PatSnap said too fast: slow the whole pool, pausing it `pause` s (None: the throttle's
    own interval). The call counts as refused, not as one of the page's tries."""

    pause: float | None
    quota_streak: tuple[float, ...] | None = None  #: a 67200002: the streak to keep now


@dataclass(slots=True, frozen=True)
class Requeue:
    """Give the page back undone: it goes out again when its turn comes."""

    push_back: PushBack | None = None


@dataclass(slots=True, frozen=True)
class Park:
    """Try the page again at `retry_at` (its backoff, never past the window's end)."""

    retry_at: float
    delay: float  #: retry_at - now, for the event
    push_back: ClassVar[None] = None  #: a push-back is requeued, never parked


@dataclass(slots=True, frozen=True)
class StopTheRun:
    """The account cannot go on: keep the page for the resume and stop dispatching."""

    error: StopRun
    reason: str  #: for the log line and the summary
    push_back: PushBack | None = None


@dataclass(slots=True, frozen=True)
class Final:
    """The search ends with `status` (failed or expired) and this error."""

    status: SearchStatus
    error: PatSnapError
    push_back: PushBack | None = None


@dataclass(slots=True, frozen=True)
class AlreadyDecided:
    """The search ended while the call was out: the page is simply dropped."""

    push_back: ClassVar[None] = None


FailureAction = Requeue | Park | StopTheRun | Final | AlreadyDecided


def decide(failure: Failure, policy: RetryPolicy, rng: random.Random) -> FailureAction:
    """What happens next to the page and its search (and to the run) after `failure`."""
    exc, now = failure.error, failure.now
    if is_transient(exc) and failure.stopping and not failure.ended:
        # The run is stopping (breaker, signal, platform): a page without an answer stays
        # pending for the resume; it says nothing about the search.
        return Requeue()
    if failure.ended and not isinstance(exc, StopRun | Reauthenticate):
        return AlreadyDecided()
    if isinstance(exc, WindowClosed):  # an image's search closed once too often
        return Final(SearchStatus.EXPIRED, exc)
    if isinstance(exc, Reauthenticate):  # the client refreshes; reaching here means it gave up
        stop = StopRun(exc.message, code=exc.code, http_status=exc.http_status)
        return StopTheRun(stop, f"PatSnap stopped the run: {stop}")
    if isinstance(exc, StopRun):
        return StopTheRun(exc, f"PatSnap stopped the run: {exc}")
    push_back: PushBack | None = None
    refused = failure.refused
    if isinstance(exc, SlowDown):
        pause = exc.retry_after
        streak: tuple[float, ...] | None = None
        if isinstance(exc, QuotaAmbiguous):
            # Space the few tries at the ambiguous quota code over the whole span, with the
            # pool paused in between, instead of retrying at the slowed rate and paying
            # for dozens of refused calls before deciding.
            gap = policy.quota_min_span / max(1, policy.quota_attempts - 1)
            pause = max(pause or 0.0, gap)
            streak = (*failure.quota_streak, now)
        push_back = PushBack(pause, streak)
        if streak is not None and _persists(streak, policy):
            stop = StopRun(exc.message, code=exc.code)
            return StopTheRun(stop, f"PatSnap stopped the run: {exc} (persisted)", push_back)
        refused += 1
        if now <= failure.window_end:
            return Requeue(push_back)
    status = SearchStatus.EXPIRED if now > failure.deadline else SearchStatus.FAILED
    if isinstance(exc, Retryable):
        unknown = isinstance(exc, UnknownCodeError)
        # a push-back (67200001) is not the page's fault: it does not use up its tries
        tries = failure.attempt - refused
        if policy.allows(tries, unknown_code=unknown):
            if now >= failure.window_end:
                status = SearchStatus.EXPIRED  # tried for as long as the window was open
            else:
                # The last try leaves as the window (plus grace) closes, not a backoff
                # before it: a transient failure is never final while the window is open.
                delay = policy.delay(tries, rng, exc.retry_after)
                retry_at = min(now + delay, failure.window_end)
                return Park(retry_at, retry_at - now)
    return Final(status, exc, push_back)


def _persists(streak: tuple[float, ...], policy: RetryPolicy) -> bool:
    """67200002 is ambiguous: stop only after several in a row spanning a while."""
    return len(streak) >= policy.quota_attempts and streak[-1] - streak[0] >= policy.quota_min_span
