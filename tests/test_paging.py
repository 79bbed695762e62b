"""Paging math: covers every reachable rank, respects the API caps, uses the fewest calls."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester.paging import (
    LIMIT_CAP,
    OFFSET_CAP,
    PageSpec,
    is_truncated,
    min_calls,
    plan_pages,
    reachable,
    remaining_pages,
)

totals = st.integers(min_value=0, max_value=5000)
limits = st.integers(min_value=1, max_value=LIMIT_CAP)


@pytest.mark.parametrize(
    ("total", "calls"),
    [
        (0, 1),
        (1, 1),
        (57, 1),
        (100, 1),
        (101, 2),
        (250, 3),
        (1000, 10),
        (1001, 11),
        (1100, 11),
        (1101, 11),
        (2400, 11),
        (5000, 11),
    ],
)
def test_min_calls_with_limit_100(total: int, calls: int) -> None:
    assert min_calls(total, 100) == calls


def test_empty_search_still_costs_the_first_call() -> None:
    assert plan_pages(0, 100) == (PageSpec(0, 100),)
    assert reachable(0, 100) == 0
    assert not is_truncated(0, 100)


def test_search_beyond_the_cap_is_truncated_at_1100() -> None:
    assert reachable(5000, 100) == 1100
    assert is_truncated(5000, 100)
    assert not is_truncated(1100, 100)
    assert plan_pages(5000, 100)[-1] == PageSpec(1000, 100)


def test_small_limit_widens_the_page_at_offset_1000() -> None:
    pages = plan_pages(1100, 10)
    assert len(pages) == 101
    assert pages[-2] == PageSpec(990, 10)
    assert pages[-1] == PageSpec(1000, 100)


def test_small_limit_appends_a_tail_page_at_offset_1000() -> None:
    pages = plan_pages(1050, 30)
    assert pages[-2] == PageSpec(990, 30)  # covers up to rank 1020
    assert pages[-1] == PageSpec(1000, 100)
    assert len(pages) == 35


def test_small_limit_needs_no_tail_when_steps_reach_the_total() -> None:
    assert plan_pages(1015, 30)[-1] == PageSpec(990, 30)


@pytest.mark.parametrize(("total", "limit"), [(-1, 100), (10, 0), (10, 101)])
def test_out_of_range_arguments_raise(total: int, limit: int) -> None:
    with pytest.raises(ValueError):
        plan_pages(total, limit)


@given(totals, limits)
def test_pages_cover_every_reachable_rank_within_the_caps(total: int, limit: int) -> None:
    pages = plan_pages(total, limit)
    covered: set[int] = set()
    for page in pages:
        assert 0 <= page.offset <= OFFSET_CAP
        assert 1 <= page.limit <= LIMIT_CAP
        covered.update(range(page.offset + 1, page.end + 1))
    assert covered >= set(range(1, reachable(total, limit) + 1))
    assert pages[0].offset == 0
    assert reachable(total, limit) == min(total, OFFSET_CAP + LIMIT_CAP)
    assert is_truncated(total, limit) == (total > OFFSET_CAP + LIMIT_CAP)


@given(totals, limits)
def test_offsets_step_by_the_limit_and_only_the_last_page_is_wider(total: int, limit: int) -> None:
    pages = plan_pages(total, limit)
    offsets = [page.offset for page in pages]
    assert offsets == sorted(set(offsets))
    for before, after in itertools.pairwise(pages):
        assert after.offset - before.offset <= limit  # no gap between pages
        if after is not pages[-1]:
            assert after.offset - before.offset == limit
    assert all(page.limit == limit for page in pages[:-1])
    assert pages[-1].limit in (limit, LIMIT_CAP)
    if pages[-1].limit != limit:
        assert pages[-1].offset == OFFSET_CAP


def _fewest_calls(wanted: int, limit: int, offset_cap: int, limit_cap: int) -> int:
    """Brute force: breadth-first over 'ranks 1..c covered', trying every legal page."""
    if wanted == 0:
        return 1
    frontier, calls, seen = {0}, 0, {0}
    while frontier:
        calls += 1
        following: set[int] = set()
        for covered in frontier:
            for offset in range(min(covered, offset_cap) + 1):
                widest = limit_cap if offset == offset_cap else limit
                end = offset + widest
                if end >= wanted:
                    return calls
                if end > covered and end not in seen:
                    seen.add(end)
                    following.add(end)
        frontier = following
    raise AssertionError("unreachable")


@given(
    st.integers(min_value=0, max_value=12),
    st.integers(min_value=1, max_value=6),
    st.data(),
)
def test_call_count_is_minimal_against_brute_force_with_small_caps(
    offset_cap: int, limit_cap: int, data: st.DataObject
) -> None:
    # The model: pages ask for the search's limit; only at the offset cap may a page ask
    # for the API's limit cap, which is what makes ranks past offset_cap + limit reachable.
    limit = data.draw(st.integers(min_value=1, max_value=limit_cap))
    total = data.draw(st.integers(min_value=0, max_value=offset_cap + limit_cap + 3))
    caps = {"offset_cap": offset_cap, "limit_cap": limit_cap}
    wanted = reachable(total, limit, **caps)
    assert min_calls(total, limit, **caps) == _fewest_calls(wanted, limit, offset_cap, limit_cap)


@given(totals, limits, st.sets(st.integers(min_value=0, max_value=1200)))
def test_remaining_pages_are_the_plan_minus_done_offsets(
    total: int, limit: int, done: set[int]
) -> None:
    plan = plan_pages(total, limit)
    left = remaining_pages(total, limit, done)
    assert left == tuple(page for page in plan if page.offset not in done)
    assert {p.offset for p in left} | (done & {p.offset for p in plan}) == {p.offset for p in plan}
    assert remaining_pages(total, limit, ()) == plan
    assert remaining_pages(total, limit, [p.offset for p in plan]) == ()
