"""Pacing on a fake clock: the throttle's schedule, bursts, push-back, and the precise
wake-up's split between one timer and loop yields.

Measured on real clocks, over real sockets, the rate belongs to `make bench`: figure 2
(nginx's limit_req as referee) and 2b (the sandbox's own 67200001 limiter, 60 s at
20/s). An 8-second version of 2b lived here; on a loaded machine it measured the
machine, retried three times, and then skipped.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import anyio
import pytest

from harvester.engine.rate import PacingStopped, Throttle, precise_sleep
from harvester.sandbox import running_sandbox
from harvester.sandbox.dataset import Dataset
from tests.test_harvest_support import (
    SEED,
    calls_needed,
    cli_env,
    run_cli,
    sandbox_config,
    write_job,
)


class LateTime:
    """A fake clock whose sleeps number `late` overshoot, like timers on a busy loop."""

    def __init__(self, overshoot: float, late: set[int]) -> None:
        self.now = 1000.0
        self.overshoot = overshoot
        self.late = late
        self.sleeps = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds + (self.overshoot if self.sleeps in self.late else 0.0)


async def test_a_late_call_pushes_the_next_back_rather_than_let_it_catch_up() -> None:
    t = LateTime(overshoot=0.02, late={5, 15, 25})  # 20 ms late thrice; 10/s sent at 9.7/s
    throttle = Throttle(10, clock=t.clock, sleep=t.sleep)
    left = []
    for _ in range(56):
        await throttle.acquire()
        left.append(t.now)
    gaps = [b - a for a, b in itertools.pairwise(left)]
    assert min(gaps) >= 1 / 9.7 - 1e-9  # never closer than the paced interval
    assert sorted(gaps)[-3] > 1 / 9.7 + 0.019  # the three late ones were late
    assert abs((left[-1] - left[0]) - (55 / 9.7 + 3 * 0.02)) < 1e-6


async def test_burst_calls_share_a_moment_then_follow_the_rate() -> None:
    t = LateTime(overshoot=0.0, late=set())
    throttle = Throttle(10, burst=3, margin=1.0, clock=t.clock, sleep=t.sleep)
    left = []
    for _ in range(6):
        await throttle.acquire()
        left.append(round(t.now - 1000, 9))
    assert left == [0, 0, 0, 0.1, 0.2, 0.3]


class LoopTime:
    """A fake loop clock: a timer wakes `timer_late` s late, a yield costs `step` s."""

    def __init__(self, timer_late: float, step: float) -> None:
        self.now = 50.0
        self.timer_late = timer_late
        self.step = step
        self.timers: list[float] = []
        self.yields = 0
        self.blocked: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds == 0:
            self.yields += 1
            self.now += self.step
        else:
            self.timers.append(seconds)
            self.now += seconds + self.timer_late

    def block(self, seconds: float) -> None:
        self.blocked.append(seconds)
        self.now += seconds


@pytest.mark.parametrize("timer_late", [0.0, 0.0004, 0.0012])
async def test_precise_sleep_leaves_the_last_moment_to_yields_never_waking_early(
    timer_late: float,
) -> None:
    t = LoopTime(timer_late, step=0.00005)  # a loop pass of 50 us
    start = t.now
    await precise_sleep(0.004, clock=t.clock, sleep=t.sleep)
    assert t.timers == [pytest.approx(0.0025)]  # one timer for all but the last 1.5 ms
    assert t.now >= start + 0.004  # never early
    assert t.now < start + 0.004 + t.step + 1e-12  # late by less than one loop pass
    assert t.yields == round((0.0015 - timer_late) / t.step)


@pytest.mark.parametrize("timer_late", [0.0, 0.0004, 0.0012])
async def test_after_a_long_wait_the_thread_sleeps_the_last_stretch_instead_of_yielding(
    timer_late: float,
) -> None:
    t = LoopTime(timer_late, step=0.00005)
    start = t.now
    await precise_sleep(0.05, clock=t.clock, sleep=t.sleep, block=t.block)  # 20 r/s
    assert t.timers == [pytest.approx(0.0485)] and t.yields == 0
    assert t.blocked == [pytest.approx(0.0015 - timer_late)]
    assert t.now == pytest.approx(start + 0.05)  # on the moment, never early


async def test_a_timer_later_than_the_moment_leaves_nothing_to_sleep() -> None:
    t = LoopTime(timer_late=0.003, step=0.00005)
    await precise_sleep(0.05, clock=t.clock, sleep=t.sleep, block=t.block)
    assert t.blocked == [] and t.yields == 0


async def test_precise_sleep_after_a_timer_later_than_the_margin_returns_at_once() -> None:
    t = LoopTime(timer_late=0.003, step=0.00005)  # a busy loop: the timer fired 3 ms late
    await precise_sleep(0.004, clock=t.clock, sleep=t.sleep)
    assert t.yields == 0 and len(t.timers) == 1


async def test_closing_the_throttle_releases_waiting_calls_and_refuses_new_ones() -> None:
    waiting = anyio.Event()

    async def sleep(seconds: float) -> None:
        waiting.set()
        await anyio.sleep_forever()  # a long pause (Retry-After) or a slow rate

    throttle = Throttle(1, sleep=sleep)
    await throttle.acquire()  # the first call leaves at once
    outcome: list[str] = []

    async def second_call() -> None:
        try:
            await throttle.acquire()
        except PacingStopped:
            outcome.append("gave up")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(second_call)
            await waiting.wait()
            throttle.close()
    assert outcome == ["gave up"]
    with pytest.raises(PacingStopped):
        await throttle.acquire()


async def test_a_rate_above_the_accounts_limit_slows_down_and_pays_every_page_once(
    tmp_path: Path, dataset: Dataset
) -> None:
    ids = ["SBX-1100-fast0", "SBX-1100-fast1"]
    job = write_job(tmp_path, ids, rate=60, concurrency=8)  # the account allows 20/s
    async with running_sandbox(sandbox_config(SEED, rate=20, burst=1)) as sandbox:
        args = ["run", str(job), "--out", str(tmp_path / "out"), "--log-format", "json"]
        code, cli = await run_cli(args, cli_env(sandbox.url), tmp_path)
        stats = sandbox.stats
    assert code == 0, cli
    assert stats.rate_limited >= 1 and '"event":"slow_down"' in cli.stderr
    assert stats.billed == calls_needed(dataset, ids) and stats.pages_billed_twice == 0
