"""Pacing: with the sandbox's rate limit equal to the harvester's rate the platform never
refuses a call for speed, and the run still uses at least 95% of the rate; the throttle's
schedule on a fake clock; precise wake-ups on the real one.

The sandbox's bucket holds 2 tokens here (the harvester sends at burst 1): on a shared
2-vCPU machine the sandbox stamps an arrival 2-6 ms late now and then (an idle process
waking up), and a 1-token bucket then refuses the next, punctual call, which no pacing
at 97% of the rate can prevent (the margin is 0.77 ms at 40/s). That the harvester never
sends two calls closer than 1/rate is proven on the fake clock below.
"""

from __future__ import annotations

import itertools
import statistics
import time
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
    measure_rate,
    run_cli,
    sandbox_config,
    write_job,
)

RATE = 40.0
SECONDS = 8.0  # the 60-second figure is `make bench`'s (measure_rate with seconds=60)


#: A referee stall longer than this (its loop did not run for that long) bunches arrival
#: stamps by more than the throttle's margin at RATE (0.77 ms a call): what it refuses
#: then says more about the shared machine than about the harvester's pacing.
REFEREE_SLACK_S = 0.02


async def test_rate_equal_to_the_limit_gets_no_67200001_and_at_least_95_percent(
    tmp_path: Path,
) -> None:
    # The referee is a Python server on the same two cores as the harvester and pytest.
    # A measurement during which the referee itself stalled is taken again (at most
    # three times); the assertions hold for a measurement the referee could make.
    for attempt in range(3):
        (tmp_path / f"try{attempt}").mkdir()
        figure = await measure_rate(
            tmp_path / f"try{attempt}", rate=RATE, seconds=SECONDS, seed=SEED
        )
        if figure.referee_stall_s <= REFEREE_SLACK_S:
            break
    else:
        pytest.skip(f"the sandbox referee stalled in every measurement: {figure}")
    assert figure.calls >= RATE * SECONDS * 0.95
    assert figure.rate_limited == 0, figure
    assert figure.ratio >= 0.95, figure


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


async def test_precise_sleep_wakes_within_a_fraction_of_a_millisecond() -> None:
    overshoots = []
    for _ in range(15):
        start = time.monotonic()
        await precise_sleep(0.004)
        overshoots.append(time.monotonic() - start - 0.004)
    assert min(overshoots) >= 0
    assert statistics.median(overshoots) < 0.0003


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
