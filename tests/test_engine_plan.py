"""`plan_job` on paper: the job's rate, capped by what the pool carries at a measured latency."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from harvester.engine.plan import plan_job
from harvester.jobs import Job, JobSettings, Search

START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def job(n: int) -> Job:
    searches = tuple(Search(f"s{i}", None, 100, (), f"t:{i}") for i in range(n))
    return Job(Path("t.toml"), "0" * 64, JobSettings(name="t"), searches)


def known(n: int, total: int) -> dict[str, tuple[int | None, frozenset[int], bool]]:
    return {f"s{i}": (total, frozenset({0}), False) for i in range(n)}


def test_without_a_latency_the_plan_runs_at_the_rate_less_its_margin() -> None:
    plan = plan_job(job(10), known(10, 1100), rate=40, start=START, validity_s=1200)
    assert plan.rate == pytest.approx(40 * 0.97) and plan.pool_rate is None
    assert plan.calls_min == plan.calls_max == 100 and not plan.missed


def test_a_pool_too_small_for_the_latency_sets_the_pace_and_misses_windows() -> None:
    # 8 in flight, 0.5 s a call: 16 calls/s of the 38.8 paid for; 1,000 calls need 62.5 s
    plan = plan_job(
        job(100), known(100, 1100), rate=40, start=START, validity_s=60,
        latency_s=0.5, in_flight=8,
    )  # fmt: skip
    assert plan.pool_rate == 16.0 and plan.rate == 16.0
    assert plan.missed and plan.searches[-1].finish_at == pytest.approx(START + 1000 / 16)
    roomy = plan_job(
        job(100), known(100, 1100), rate=40, start=START, validity_s=60,
        latency_s=0.5, in_flight=64,
    )  # fmt: skip
    assert roomy.rate == pytest.approx(40 * 0.97) and not roomy.missed
