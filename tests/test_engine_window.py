"""The commit window and the pool's one wake-up (engine/window.py), alone."""

from __future__ import annotations

import anyio
import anyio.lowlevel

from harvester.engine.concurrency import PoolSize
from harvester.engine.window import MIN_COMMIT_WINDOW, CommitWindow, Wakeup, commit_window_for


def test_the_window_counts_pages_paid_for_until_they_fail_go_unsent_or_are_committed() -> None:
    window = CommitWindow(3, PoolSize(4, 4), Wakeup())
    for _ in range(3):
        assert not window.full()
        window.reserved()
    assert window.full() and window.uncommitted == 3
    window.not_sent()  # the run stopped while that call waited for its slot
    assert not window.full()
    window.reserved()
    window.failed()  # came back without a page
    window.committed(2)
    assert window.uncommitted == 0
    window.committed(5)  # a commit of pages fetched before a resume never goes below zero
    assert window.uncommitted == 0


def test_pool_follows_the_live_limit_and_none_is_no_bound() -> None:
    pool = PoolSize(None, 64)
    window = CommitWindow("pool", pool, Wakeup())
    assert window.limit == MIN_COMMIT_WINDOW  # a small pool still gets the smallest window
    pool.limit = 20
    assert window.limit == commit_window_for(20) == 20
    unbounded = CommitWindow(None, pool, Wakeup())
    for _ in range(1000):
        unbounded.reserved()
    assert unbounded.limit is None and not unbounded.full()


async def test_a_commit_wakes_every_waiter() -> None:
    wakeup = Wakeup()
    window = CommitWindow(1, PoolSize(1, 1), wakeup)
    window.reserved()
    woken: list[int] = []

    async def waiter(n: int) -> None:
        await wakeup.wait()
        woken.append(n)

    async with anyio.create_task_group() as tg:
        for n in range(3):
            tg.start_soon(waiter, n)
        await anyio.lowlevel.checkpoint()
        assert woken == []
        window.committed(1)
    assert sorted(woken) == [0, 1, 2] and not window.full()
