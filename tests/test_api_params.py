"""Property tests of params.build_query: what the API page allows passes, the rest is named."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester.api.params import (
    FILTERS,
    LEGAL_STATUS,
    LIMIT_MAX,
    LIMIT_MIN,
    OFFSET_MAX,
    SIMPLE_LEGAL_STATUS,
    ParamError,
    build_query,
)

search_ids = st.text(min_size=1, max_size=40).filter(lambda s: s.strip())
limits = st.integers(LIMIT_MIN, LIMIT_MAX)
offsets = st.integers(0, OFFSET_MAX)
days = st.dates(date(1900, 1, 1), date(2099, 12, 31))
loc_codes = st.from_regex(r"\d{2}-\d{2}", fullmatch=True)


def _loc_expressions() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        joined = st.tuples(inner, st.sampled_from(["AND", "OR", "NOT"]), inner)
        return st.one_of(
            joined.map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
            inner.map(lambda e: f"({e})"),
        )

    return st.recursive(loc_codes, extend, max_leaves=6)


def _code_lists(codes: frozenset[str]) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(sorted(codes)), min_size=1, max_size=5).map(",".join)


valid_filters = st.fixed_dictionaries(
    {},
    optional={
        "loc": _loc_expressions(),
        "assignees": st.text(min_size=1, max_size=20).filter(lambda s: s.strip()),
        "legal_status": _code_lists(LEGAL_STATUS),
        "simple_legal_status": _code_lists(SIMPLE_LEGAL_STATUS),
        "country": st.lists(
            st.from_regex(r"[A-Z]{2,4}", fullmatch=True), min_size=1, max_size=4
        ).map(",".join),
        "main_field": st.text(min_size=1, max_size=20).filter(lambda s: s.strip()),
        "apply_start_time": days.map(lambda d: d.strftime("%Y%m%d")),
        "public_end_time": days.map(lambda d: d.strftime("%Y%m%d")),
        "field": st.sampled_from(["APD", "PBD", "ISD"]),
        "order": st.sampled_from(["asc", "desc"]),
    },
)


@given(search_ids, offsets, limits, valid_filters)
def test_values_the_api_page_allows_are_accepted(
    search_id: str, offset: int, limit: int, filters: dict[str, str]
) -> None:
    query = build_query(search_id, offset=offset, limit=limit, filters=filters)
    assert query["search_id"] == search_id
    assert (query["offset"], query["limit"]) == (str(offset), str(limit))
    assert set(query) == {"search_id", "offset", "limit", *filters}
    assert all(isinstance(value, str) for value in query.values())


@given(st.one_of(st.integers(max_value=LIMIT_MIN - 1), st.integers(min_value=LIMIT_MAX + 1)))
def test_limit_out_of_range_is_refused_naming_limit(limit: int) -> None:
    with pytest.raises(ParamError) as caught:
        build_query("S", offset=0, limit=limit, filters={})
    assert caught.value.field == "limit" and "limit" in str(caught.value)


@given(st.one_of(st.integers(max_value=-1), st.integers(min_value=OFFSET_MAX + 1)))
def test_offset_out_of_range_is_refused_naming_offset(offset: int) -> None:
    with pytest.raises(ParamError) as caught:
        build_query("S", offset=offset, limit=10, filters={})
    assert caught.value.field == "offset" and "offset" in str(caught.value)


@pytest.mark.parametrize("value", [True, 1.0, "10", None])
@pytest.mark.parametrize("field", ["limit", "offset"])
def test_non_integers_are_refused_for_limit_and_offset(field: str, value: object) -> None:
    numbers: dict[str, object] = {"limit": 10, "offset": 0, field: value}
    with pytest.raises(ParamError) as caught:
        build_query("S", filters={}, **numbers)  # type: ignore[arg-type]
    assert caught.value.field == field


@given(st.text(alphabet=" \t\n", max_size=5))
def test_blank_search_id_is_refused(search_id: str) -> None:
    with pytest.raises(ParamError) as caught:
        build_query(search_id, offset=0, limit=10, filters={})
    assert caught.value.field == "search_id"


@given(
    st.sampled_from(["apply_start_time", "apply_end_time", "public_start_time", "public_end_time"]),
    st.one_of(
        st.from_regex(r"\d{1,7}|\d{9,12}", fullmatch=True),
        st.sampled_from(["20200230", "20201301", "2020-01-01", "yesterday", ""]),
    ),
)
def test_malformed_dates_are_refused_naming_the_field(field: str, value: str) -> None:
    with pytest.raises(ParamError) as caught:
        build_query("S", offset=0, limit=10, filters={field: value})
    assert caught.value.field == field and field in str(caught.value)


@given(days, days)
def test_reversed_date_ranges_are_refused_naming_the_start(first: date, second: date) -> None:
    start, end = max(first, second), min(first, second)
    filters = {"apply_start_time": f"{start:%Y%m%d}", "apply_end_time": f"{end:%Y%m%d}"}
    if start == end:
        build_query("S", offset=0, limit=10, filters=filters)
        return
    with pytest.raises(ParamError) as caught:
        build_query("S", offset=0, limit=10, filters=filters)
    assert caught.value.field == "apply_start_time"


@given(st.text(min_size=1, max_size=12).filter(lambda name: name not in FILTERS))
def test_unknown_filters_are_refused_by_name(name: str) -> None:
    with pytest.raises(ParamError) as caught:
        build_query("S", offset=0, limit=10, filters={name: "x"})
    assert caught.value.field == name


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("field", "XYZ"),
        ("order", "DESC"),
        ("legal_status", "3,99"),
        ("simple_legal_status", "1,,2"),
        ("country", "cn"),
        ("loc", "(01-01 OR"),
        ("loc", "01-01 01-02"),
        ("assignees", "   "),
    ],
)
def test_values_outside_the_api_page_are_refused_naming_the_field(field: str, value: str) -> None:
    with pytest.raises(ParamError) as caught:
        build_query("S", offset=0, limit=10, filters={field: value})
    assert caught.value.field == field and caught.value.expected
