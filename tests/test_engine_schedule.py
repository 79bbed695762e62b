"""The scheduler as a pure object: every page exactly once, earliest deadline first."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.engine.schedule import Scheduler, SearchTask
from harvester.paging import PageSpec, plan_pages

searches = st.lists(
    st.tuples(
        st.integers(0, 2500), st.sampled_from([0.0, 60.0, 120.0]), st.sampled_from([50, 100])
    ),
    min_size=1,
    max_size=12,
)


def make(rows: list[tuple[int, float, int]]) -> tuple[Scheduler, dict[str, int]]:
    sched = Scheduler()
    totals = {}
    tasks = []
    for i, (total, deadline, limit) in enumerate(rows):
        sid = f"s{i}"
        totals[sid] = total
        tasks.append(SearchTask(sid, i, deadline, limit, pending=[PageSpec(0, limit)]))
    sched.load(tasks)
    return sched, totals


@settings(max_examples=150, deadline=None)
@given(rows=searches, seed=st.integers(0, 10_000))
def test_every_page_is_dispatched_once_in_deadline_order(
    rows: list[tuple[int, float, int]], seed: int
) -> None:
    rng = random.Random(seed)
    sched, totals = make(rows)
    in_flight: list[tuple[SearchTask, PageSpec]] = []
    seen: dict[str, list[PageSpec]] = {sid: [] for sid in totals}
    while True:
        item = sched.next_page(now=0.0)
        if item is not None:
            task, spec = item
            ready = [t.deadline for t in sched.tasks.values() if t.pending and not t.ended]
            assert all(task.deadline <= d for d in ready)  # nothing earlier was waiting
            seen[task.search_id].append(spec)
            in_flight.append(item)
            if rng.random() < 0.5:
                continue  # let several pages be in flight at once
        if not in_flight:
            break
        task, spec = in_flight.pop(rng.randrange(len(in_flight)))
        sched.landed(task, spec, totals[task.search_id])
    for sid, total in totals.items():
        limit = sched.tasks[sid].limit
        assert sorted(seen[sid], key=lambda p: p.offset) == list(plan_pages(total, limit))


def test_a_parked_page_comes_back_when_its_backoff_is_over() -> None:
    sched, _ = make([(300, 0.0, 100)])
    task, spec = sched.next_page(now=0.0) or (None, None)
    assert task is not None and spec is not None
    sched.park(task, spec, ready_at=5.0)
    assert sched.next_page(now=4.9) is None
    assert sched.next_wake() == 5.0
    assert sched.next_page(now=5.0) == (task, spec)


def test_an_ended_search_hands_out_nothing_more_even_from_its_parked_pages() -> None:
    sched, _ = make([(300, 0.0, 100)])
    task, spec = sched.next_page(now=0.0) or (None, None)
    assert task is not None and spec is not None
    sched.landed(task, spec, 300)
    task, spec = sched.next_page(now=0.0) or (None, None)
    assert task is not None and spec is not None
    sched.park(task, spec, ready_at=1.0)
    sched.end(task)
    assert sched.next_page(now=2.0) is None
    assert task.idle


def test_among_equal_deadlines_the_search_nearest_to_done_goes_first() -> None:
    sched, _ = make([(900, 0.0, 100), (250, 0.0, 100)])
    first = [sched.next_page(now=0.0) for _ in range(2)]
    for item in first:
        assert item is not None
        sched.landed(item[0], item[1], {"s0": 900, "s1": 250}[item[0].search_id])
    item = sched.next_page(now=0.0)
    assert item is not None and item[0].search_id == "s1"
