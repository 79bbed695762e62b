"""What a failed call leads to (engine/failures.py): the error table against the window,
as values in and a value out; no event loop, the clock is a number."""

from __future__ import annotations

import math
import random

import pytest

from harvester.api.errors import (
    PatSnapError,
    ProtocolError,
    QuotaAmbiguous,
    Reauthenticate,
    SearchFailed,
    ServerError,
    SlowDown,
    StopRun,
    TransportError,
    UnknownCodeError,
)
from harvester.engine.failures import (
    AlreadyDecided,
    Failure,
    Final,
    Park,
    PushBack,
    Requeue,
    StopTheRun,
    decide,
)
from harvester.engine.images import WindowClosed
from harvester.engine.retry import RetryPolicy

NOW = 1_000_000.0
DEADLINE = NOW + 600.0  #: ten minutes of the window left
POLICY = RetryPolicy(initial=1.0, cap=8.0, quota_attempts=3, quota_min_span=10.0)


def failure(error: PatSnapError, **changes: object) -> Failure:
    fields: dict[str, object] = {
        "attempt": 1,
        "refused": 0,
        "now": NOW,
        "deadline": DEADLINE,
        "window_end": DEADLINE + 30.0,
        "ended": False,
        "stopping": False,
    }
    fields.update(changes)
    return Failure(error, **fields)  # type: ignore[arg-type]


def decided(error: PatSnapError, **changes: object) -> object:
    return decide(failure(error, **changes), POLICY, random.Random(1))


TRANSIENT = [
    TransportError("connection refused"),
    ProtocolError("truncated body"),
    ServerError("busy", http_status=503),
    ServerError("Service error", code=68300008),
]


@pytest.mark.parametrize("error", TRANSIENT)
def test_a_transient_failure_is_parked_for_a_backoff_inside_the_window(error: PatSnapError) -> None:
    action = decided(error, attempt=3)
    assert isinstance(action, Park)
    assert NOW <= action.retry_at <= NOW + 4.0  # full jitter under initial x 2**(3-1)
    assert action.delay == action.retry_at - NOW


@pytest.mark.parametrize("attempt", [1, 10, 1000])
def test_a_transient_failure_is_never_final_while_the_window_is_open(attempt: int) -> None:
    assert isinstance(decided(TransportError("reset"), attempt=attempt), Park)


def test_the_last_try_leaves_as_the_window_closes_not_a_backoff_before_it() -> None:
    end = NOW + 0.5
    action = decided(TransportError("reset"), attempt=20, window_end=end)
    assert action == Park(end, 0.5)


def test_a_transient_failure_as_the_window_closes_ends_the_search_expired() -> None:
    error = TransportError("reset")
    assert decided(error, now=DEADLINE + 30.0) == Final("expired", error)


def test_a_retry_after_is_a_floor_under_the_backoff() -> None:
    action = decided(ServerError("busy", http_status=503, retry_after=5.0))
    assert isinstance(action, Park) and action.delay == 5.0


@pytest.mark.parametrize("error", TRANSIENT)
def test_a_stopping_run_keeps_a_page_without_an_answer_for_the_resume(
    error: PatSnapError,
) -> None:
    assert decided(error, stopping=True) == Requeue()


def test_a_stopping_run_still_ends_a_search_the_api_refused() -> None:
    error = SearchFailed("Invalid parameter!", code=68300004)
    assert decided(error, stopping=True) == Final("failed", error)


@pytest.mark.parametrize(
    "error", [*TRANSIENT, SearchFailed("bad", code=68300004), SlowDown("fast", code=67200001)]
)
def test_a_search_decided_while_the_call_was_out_only_drops_the_page(error: PatSnapError) -> None:
    assert decided(error, ended=True) == AlreadyDecided()


def test_a_business_error_fails_the_search_at_once() -> None:
    error = SearchFailed("Invalid parameter!", code=68300004)
    assert decided(error) == Final("failed", error)


def test_a_refusal_past_the_deadline_is_an_expiry() -> None:
    error = SearchFailed("Invalid parameter search_id", code=68300004)
    assert decided(error, now=DEADLINE + 1) == Final("expired", error)


def test_an_image_search_closed_once_too_often_expires() -> None:
    error = WindowClosed("closed again", code=68300004)
    assert decided(error, window_end=math.inf, deadline=math.inf) == Final("expired", error)


@pytest.mark.parametrize("ended", [False, True])
def test_stop_run_stops_the_run_even_for_an_ended_search(ended: bool) -> None:
    error = StopRun("Insufficient balance", code=67200005)
    action = decided(error, ended=ended)
    assert isinstance(action, StopTheRun) and action.error is error
    assert action.reason == f"PatSnap stopped the run: {error}" and action.push_back is None


def test_a_reauthentication_the_client_gave_up_on_stops_the_run() -> None:
    action = decided(Reauthenticate("token expired", code=67200003, http_status=401))
    assert isinstance(action, StopTheRun)
    assert (action.error.code, action.error.http_status) == (67200003, 401)


def test_unknown_codes_get_a_few_tries_then_fail_the_search() -> None:
    error = UnknownCodeError("odd", code=12345)
    assert isinstance(decided(error, attempt=POLICY.unknown_code_attempts - 1), Park)
    assert decided(error, attempt=POLICY.unknown_code_attempts) == Final("failed", error)


def test_a_push_back_slows_the_pool_and_requeues_without_using_a_try() -> None:
    action = decided(SlowDown("too fast", code=67200001, retry_after=2.0), attempt=40)
    assert action == Requeue(PushBack(2.0))


def test_a_push_back_after_the_window_closed_still_slows_the_pool_and_expires_the_search() -> None:
    error = SlowDown("too fast", code=67200001)
    late = NOW + 100
    action = decided(error, attempt=5, refused=3, now=late, window_end=NOW, deadline=NOW)
    assert action == Final("expired", error, PushBack(None))


def test_the_ambiguous_quota_code_spaces_its_tries_over_the_span() -> None:
    action = decided(QuotaAmbiguous("Quota exceeds the limit!", code=67200002))
    gap = POLICY.quota_min_span / (POLICY.quota_attempts - 1)
    assert action == Requeue(PushBack(gap, quota_streak=(NOW,)))


def test_the_ambiguous_quota_code_stops_the_run_only_after_enough_answers_over_the_span() -> None:
    error = QuotaAmbiguous("Quota exceeds the limit!", code=67200002)
    short = decided(error, quota_streak=(NOW - 4, NOW - 2))  # three, but over 4 s
    assert isinstance(short, Requeue)
    assert short.push_back is not None and short.push_back.quota_streak == (NOW - 4, NOW - 2, NOW)
    persisted = decided(error, quota_streak=(NOW - 10, NOW - 5))
    assert isinstance(persisted, StopTheRun)
    assert persisted.error.code == 67200002 and persisted.reason.endswith("(persisted)")
    assert persisted.push_back == PushBack(5.0, (NOW - 10, NOW - 5, NOW))
