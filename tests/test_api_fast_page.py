"""The fast path of parse_page (api/fast_page.py) gives what the lenient path gives, or
steps aside: checked on generated answers, with every field of every type."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.api.errors import PatSnapError
from harvester.api.fast_page import fast_page
from harvester.api.parse import lenient_page, parse_page
from tests.test_api_fakes import SUCCESS_EXAMPLE

_ANY_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["", "  ", "0", "0.5", "1e3", "-1", "abc", " x "]),
)
_SCORE = st.one_of(_ANY_SCALAR, st.floats(min_value=0, max_value=1))
_ID = st.one_of(_ANY_SCALAR, st.text(min_size=1, max_size=12), st.uuids().map(str))


@st.composite
def _hit(draw: st.DrawFn) -> object:
    if draw(st.integers(0, 30)) == 0:
        return draw(st.one_of(_ANY_SCALAR, st.lists(st.integers(), max_size=2)))
    fields = {
        "patent_id": _ID,
        "patent_pn": st.one_of(_ANY_SCALAR, st.text(max_size=12)),
        "title": st.one_of(_ANY_SCALAR, st.text(max_size=12)),
        "score": _SCORE,
        "url": st.one_of(_ANY_SCALAR, st.just("https://img.example/a.jpg?w=1&h=2")),
        "extra": _ANY_SCALAR,
    }
    hit: dict[str, Any] = {}
    for name, values in fields.items():
        if draw(st.integers(0, 6)) > 0:  # now and then a field is absent
            hit[name] = draw(values)
    return hit


@st.composite
def _answer(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if draw(st.integers(0, 8)) > 0:
        data["patent_messages"] = draw(
            st.one_of(st.lists(_hit(), max_size=6), _ANY_SCALAR)
            if draw(st.integers(0, 10)) == 0
            else st.lists(_hit(), max_size=6)
        )
    if draw(st.integers(0, 8)) > 0:
        data["total_search_result_count"] = draw(st.one_of(st.integers(-5, 5000), _ANY_SCALAR))
    answer: dict[str, Any] = {
        "error_code": draw(
            st.one_of(st.just(0), st.sampled_from([0.0, "0", 67200005]), _ANY_SCALAR)
        ),
        "status": draw(st.one_of(st.just(True), _ANY_SCALAR)),
        "data": data if draw(st.integers(0, 10)) > 0 else draw(_ANY_SCALAR),
    }
    for name in list(answer):
        if draw(st.integers(0, 20)) == 0:
            del answer[name]
    return answer


def _lenient(body: bytes) -> str:
    """The lenient path's answer as a repr (1 and 1.0 differ there, as in the output)."""
    try:
        return repr(lenient_page(body))
    except PatSnapError as exc:
        return f"{type(exc).__name__}: {exc}"


@settings(max_examples=400, deadline=None)
@given(_answer())
def test_the_fast_path_gives_the_lenient_answer_or_steps_aside(answer: dict[str, Any]) -> None:
    body = orjson.dumps(answer)
    fast = fast_page(body)
    if fast is not None:
        assert repr(fast) == _lenient(body)
    # either way parse_page answers as the lenient path does
    try:
        through = repr(parse_page(body))
    except PatSnapError as exc:
        through = f"{type(exc).__name__}: {exc}"
    assert through == _lenient(body)


@settings(max_examples=200, deadline=None)
@given(_answer(), st.data())
def test_a_cut_or_mangled_body_goes_to_the_lenient_path(
    answer: dict[str, Any], data: st.DataObject
) -> None:
    body = orjson.dumps(answer)
    cut = data.draw(st.integers(0, len(body)))
    mangled = body[:cut] + data.draw(st.sampled_from([b"", b"x", b"\xff", b"}", b'\\ud800"']))
    fast = fast_page(mangled)
    if fast is not None:
        assert repr(fast) == _lenient(mangled)


def test_the_api_pages_example_takes_the_fast_path() -> None:
    page = fast_page(SUCCESS_EXAMPLE)
    assert page is not None and repr(page) == repr(lenient_page(SUCCESS_EXAMPLE))


@pytest.mark.parametrize(
    "hit",
    [
        {"patent_id": "  "},  # blank: a ProtocolError, said by the lenient path
        {"patent_id": "a", "score": "0.5"},  # a numeric string: 0.5 there
        {"patent_id": "a", "score": True},  # a boolean is no score: None there
        {"patent_id": "a", "title": 5},  # a wrong optional type: None there
        {"patent_pn": "x"},  # no patent_id
    ],
)
def test_a_hit_off_the_api_pages_types_steps_aside(hit: dict[str, Any]) -> None:
    body = orjson.dumps(
        {
            "error_code": 0,
            "status": True,
            "data": {"patent_messages": [hit], "total_search_result_count": 1},
        }
    )
    assert fast_page(body) is None


@pytest.mark.parametrize(
    "head",
    [
        {"error_code": 0.0, "status": True},  # not the integer 0
        {"error_code": "0", "status": True},
        {"error_code": 0, "status": 1},
        {"error_code": 0, "status": False},
        {"error_code": 67200005, "status": False},
        {"status": True},
    ],
)
def test_an_answer_that_is_not_a_plain_success_steps_aside(head: dict[str, Any]) -> None:
    body = orjson.dumps({**head, "data": {"patent_messages": [], "total_search_result_count": 0}})
    assert fast_page(body) is None


def test_a_body_nested_too_deep_for_the_fast_path_is_left_to_the_lenient_one() -> None:
    depth = 3000  # past msgspec's depth (a RecursionError) and orjson's (1,024)
    body = (
        b'{"error_code":0,"status":true,"x":'
        + b"[" * depth
        + b"]" * depth
        + b',"data":{"patent_messages":[{"patent_id":"a"}],"total_search_result_count":1}}'
    )
    assert fast_page(body) is None
    with pytest.raises(PatSnapError):
        parse_page(body)  # a protocol error a search handles, not an error that ends the run
