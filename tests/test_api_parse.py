"""Response parsing: lenient on extras and types, strict on what paging needs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from harvester.api import errors
from harvester.api.errors import (
    ACTIONS,
    Action,
    ProtocolError,
    QuotaAmbiguous,
    Reauthenticate,
    SearchFailed,
    ServerError,
    SlowDown,
    StopRun,
    UnknownCodeError,
)
from harvester.api.models import Hit, Page
from harvester.api.parse import parse_page, parse_retry_after, parse_token
from tests.test_api_fakes import SUCCESS_EXAMPLE, failure, success

EXPECTED_CLASS = {
    Action.RETRY: ServerError,
    Action.SLOW_DOWN: SlowDown,
    Action.SLOW_DOWN_THEN_STOP: QuotaAmbiguous,
    Action.REAUTHENTICATE: Reauthenticate,
    Action.STOP_RUN: StopRun,
    Action.FAIL_SEARCH: SearchFailed,
    Action.RETRY_THEN_FAIL: UnknownCodeError,
}
API_PAGE_CODES = [68300004, 68300005, 68300006, 68300007, 68300008, 68300010]
API_PAGE_CODES += [67200001, 67200002, 67200003, 67200004, 67200005, 67200006]


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def test_success_example_of_the_api_page_parses_exactly() -> None:
    assert parse_page(SUCCESS_EXAMPLE) == Page(
        hits=(
            Hit(
                patent_id="002853ca-7b58-4b11-8142-7525a466491e",
                patent_pn="HK04110995S",
                title="智能手表",
                score=0.99,
                url="https://img2.baidu.com/it/u=3901385603,500927275&fm=253&fmt=auto&app=138&f=JPEG?w=680&h=434",
            ),
        ),
        total=100,
    )


def test_every_code_of_the_api_page_is_in_the_action_table() -> None:
    assert set(API_PAGE_CODES) | {67200007, 67200008, 67200009} <= set(ACTIONS)


@pytest.mark.parametrize("code", sorted(ACTIONS))
@pytest.mark.parametrize("as_string", [False, True], ids=["int", "string"])
def test_each_error_code_raises_the_class_of_its_action(code: int, as_string: bool) -> None:
    body = dumps(failure(str(code) if as_string else code, "PatSnap says no"))
    with pytest.raises(errors.PatSnapError) as caught:
        parse_page(body, retry_after=4.0)
    assert type(caught.value) is EXPECTED_CLASS[ACTIONS[code].action]
    assert caught.value.code == code
    assert caught.value.message == "PatSnap says no"
    assert caught.value.retry_after == 4.0


@pytest.mark.parametrize("code", sorted(ACTIONS))
def test_error_without_message_uses_the_api_pages_description(code: int) -> None:
    with pytest.raises(errors.PatSnapError) as caught:
        parse_page(dumps({"status": False, "error_code": code}))
    assert caught.value.message == ACTIONS[code].description


def test_unknown_code_keeps_code_and_message() -> None:
    with pytest.raises(UnknownCodeError) as caught:
        parse_page(dumps(failure(12345678, "something new")))
    assert (caught.value.code, caught.value.message) == (12345678, "something new")


def test_nonzero_code_decides_even_when_status_is_true_or_missing() -> None:
    with pytest.raises(StopRun):
        parse_page(dumps({"status": True, "error_code": 67200005}))
    with pytest.raises(SlowDown):
        parse_page(dumps({"error_code": 67200001}))


def test_status_false_with_code_zero_is_an_unknown_error() -> None:
    with pytest.raises(UnknownCodeError) as caught:
        parse_page(dumps({"status": False, "error_code": 0, "error_msg": "odd"}))
    assert caught.value.code == 0


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b"<html>502 Bad Gateway</html>", "not valid JSON"),
        (SUCCESS_EXAMPLE[: len(SUCCESS_EXAMPLE) // 2], "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (dumps({"error_code": 0, "data": {}}), "`status`"),
        (dumps({"status": "true", "error_code": 0}), "`status`"),
        (dumps({"status": True, "data": {}}), "`error_code`"),
        (dumps({"status": True, "error_code": True}), "`error_code`"),
        (dumps({"status": True, "error_code": "zero"}), "`error_code`"),
        (dumps({"status": True, "error_code": "0", "data": {}}), "`error_code`"),
        (dumps({"status": True, "error_code": 0.0, "data": {}}), "`error_code`"),
        (dumps({"status": True, "error_code": 0}), "`data`"),
        (dumps({"status": True, "error_code": 0, "data": None}), "`data`"),
        (dumps({"status": True, "error_code": 0, "data": {"patent_messages": {}}}), "list"),
        (dumps(success("a") | {"data": {"patent_messages": [{"title": "x"}]}}), "patent_id"),
        (dumps(success("a") | {"data": {"patent_messages": [{"patent_id": 7}]}}), "patent_id"),
        (dumps(success("a") | {"data": {"patent_messages": [{"patent_id": " "}]}}), "patent_id"),
        (dumps(success("a") | {"data": {"patent_messages": ["a"]}}), "not an object"),
        (dumps(success("a") | {"data": {"patent_messages": [{"patent_id": "a"}]}}), "total"),
    ],
)
def test_malformed_answers_are_protocol_errors(body: bytes, words: str) -> None:
    with pytest.raises(ProtocolError, match=words):
        parse_page(body)


def test_unknown_fields_are_ignored() -> None:
    body = orjson.loads(SUCCESS_EXAMPLE)
    body["trace_id"] = "abc"
    body["data"]["next"] = {"cursor": 1}
    body["data"]["patent_messages"][0]["extra"] = [1, 2]
    assert parse_page(dumps(body)) == parse_page(SUCCESS_EXAMPLE)


def test_optional_numbers_as_strings_are_accepted() -> None:
    body = dumps(
        {
            "status": True,
            "error_code": 0,
            "data": {
                "patent_messages": [{"patent_id": "a", "score": "0.75"}],
                "total_search_result_count": "42",
            },
        }
    )
    page = parse_page(body)
    assert page.total == 42
    assert page.hits[0].score == 0.75


def test_mistyped_optional_hit_fields_become_none() -> None:
    hit = {"patent_id": "a", "patent_pn": 5, "title": ["x"], "score": "high", "url": {}}
    page = parse_page(
        dumps(success() | {"data": {"patent_messages": [hit], "total_search_result_count": 1}})
    )
    assert page.hits == (Hit("a", None, None, None, None),)


@pytest.mark.parametrize(
    "data",
    [
        {"patent_messages": [], "total_search_result_count": 0},
        {"patent_messages": []},
        {"patent_messages": None, "total_search_result_count": 0},
        {"total_search_result_count": "0"},
    ],
)
def test_success_that_says_nothing_was_found_is_an_empty_page(data: dict[str, Any]) -> None:
    assert parse_page(dumps({"status": True, "error_code": 0, "data": data})) == Page((), 0)


def test_missing_hits_with_a_positive_total_is_a_protocol_error() -> None:
    body = {"status": True, "error_code": 0, "data": {"total_search_result_count": 5}}
    with pytest.raises(ProtocolError):
        parse_page(dumps(body))


@pytest.mark.parametrize(
    ("status", "expected"),
    [(429, SlowDown), (500, ServerError), (503, ServerError), (401, Reauthenticate)],
)
def test_http_status_without_code_in_body_classifies_by_status(
    status: int, expected: type[errors.PatSnapError]
) -> None:
    with pytest.raises(expected) as caught:
        parse_page(b"<html>nope</html>", http_status=status, retry_after=2.0)
    assert caught.value.http_status == status


def test_http_status_with_code_in_body_classifies_by_code() -> None:
    with pytest.raises(StopRun) as caught:
        parse_page(dumps(failure(67200005, "no money")), http_status=402)
    assert (caught.value.code, caught.value.http_status) == (67200005, 402)


def test_redirect_status_stops_the_run_with_a_hint() -> None:
    with pytest.raises(StopRun, match="base-url"):
        parse_page(b"", http_status=302)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("Wed, 21 Oct 2026 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2026 07:27:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_accepts_seconds_and_http_dates(
    header: str | None, seconds: float | None
) -> None:
    now = datetime(2026, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == seconds


@pytest.mark.parametrize(
    ("body", "token", "expires_in"),
    [
        (
            {
                "token": "t1",
                "token_type": "BearerToken",
                "expires_in": 1799,
                "status": "approved",
                "issued_at": "1692347672874",
            },
            "t1",
            1799.0,
        ),
        ({"access_token": "t2", "expires_in": "600"}, "t2", 600.0),
        ({"data": {"token": "t3", "expires_in": 60}, "status": True, "error_code": 0}, "t3", 60.0),
        ({"token": "t4"}, "t4", 1800.0),
        ({"token": "t5", "expires_in": "soon"}, "t5", 1800.0),
        ({"token": "t6", "expires_in": -1}, "t6", 1800.0),
    ],
)
def test_token_responses_are_read_leniently(
    body: dict[str, Any], token: str, expires_in: float
) -> None:
    grant = parse_token(dumps(body))
    assert (grant.token, grant.expires_in) == (token, expires_in)
    assert token not in repr(grant)


def test_token_response_without_token_stops_the_run_without_echoing_the_body() -> None:
    with pytest.raises(StopRun) as caught:
        parse_token(dumps({"tokne": "secret-looking-value", "status": "approved"}))
    assert "token" in caught.value.message
    assert "secret-looking-value" not in str(caught.value)


@pytest.mark.parametrize("status", [400, 401, 403])
def test_token_endpoint_refusal_stops_the_run(status: int) -> None:
    with pytest.raises(StopRun, match="PATSNAP_CLIENT_SECRET") as caught:
        parse_token(b'{"error": "invalid_client"}', http_status=status)
    assert caught.value.code == 67200003


def test_token_endpoint_auth_code_is_final_not_a_reauthenticate() -> None:
    with pytest.raises(StopRun) as caught:
        parse_token(dumps(failure(67200003, "bad secret")))
    assert caught.value.code == 67200003


@pytest.mark.parametrize("status", [500, 502, 503])
def test_token_endpoint_server_errors_are_retryable(status: int) -> None:
    with pytest.raises(ServerError):
        parse_token(b"oops", http_status=status)


@pytest.mark.parametrize("body", [b"", b"{not json", b"[]"])
def test_token_endpoint_garbage_is_a_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_token(body)


def test_http_408_is_a_retryable_timeout_not_an_unknown_status() -> None:
    from harvester.api.errors import TransportError, error_for_http_status

    assert isinstance(error_for_http_status(408), TransportError)
    assert isinstance(error_for_http_status(418), UnknownCodeError)
