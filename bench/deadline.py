"""Figure 4, deadline: a job twice as big as its window allows; how many searches still finish.

120 searches mixed like PatSnap's (10% empty, 30% one page, 40% 2..11 pages, 20% more
than 1,100 hits), all created when the run starts, with a window long enough for half of
the job's calls at the rate (20/s, enforced by nginx's limit_req in front of the sandbox,
or by the sandbox when nginx is missing). The sandbox refuses a search past its window,
as PatSnap does.

The denominator is the most any order could complete: an oracle that knows every size
and spends the calls the window allows (rate × time from spawn to the deadline) on the
smallest searches first. Beside it, a naive breadth-first order (page 0 of every search,
then page 1 of every search that has one, ...) simulated on the same sizes and budget.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from bench.jobs import CONCURRENCY, LIMIT, SearchSpec, ids_for, mixed_totals, write_job
from bench.nginx import refereed_sandbox, run_refereed
from bench.table import Context, Row
from harvester.paging import min_calls

__all__ = ["breadth_first", "most_possible", "run"]

SEARCHES = 120
RATE = 20
TARGET = 0.9
DONE = ("complete", "empty", "truncated")


def most_possible(calls: Sequence[int], budget: int) -> int:
    """Searches an oracle completes with `budget` calls: smallest first (optimal for a count)."""
    done = spent = 0
    for cost in sorted(calls):
        if spent + cost > budget:
            break
        spent += cost
        done += 1
    return done


def breadth_first(calls: Sequence[int], budget: int) -> int:
    """Searches completed by round-robin: page k of every search, then page k + 1."""
    done = spent = 0
    for page in range(max(calls, default=0)):
        for cost in calls:
            if cost <= page:
                continue
            if spent == budget:
                return done
            spent += 1
            if page == cost - 1:
                done += 1
    return done


def run(ctx: Context) -> list[Row]:
    """Measure figure 4."""
    work = ctx.workdir / "deadline"
    searches: list[SearchSpec] = ids_for(mixed_totals(SEARCHES, seed=4), "dl")
    calls = [min_calls(s.total, LIMIT) for s in searches]
    window_s = sum(calls) / (2 * RATE)
    flags = ["--validity", f"{window_s:.3f}"]
    with refereed_sandbox(ctx.nginx, work, flags, rate=RATE) as (sandbox, proxy):
        created = datetime.now(UTC)
        job = write_job(
            work,
            "deadline",
            searches,
            rate=RATE,
            concurrency=CONCURRENCY,
            validity_minutes=window_s / 60,
            created_at=created,
        )
        stamp = created.isoformat()
        run = run_refereed(
            sandbox, proxy, job, work, [{"id": s.search_id, "created_at": stamp} for s in searches]
        )
    result, stats, spawned, refused, referee = (
        run.result, run.stats, run.spawned, run.refused, run.referee
    )  # fmt: skip
    budget = int(RATE * (created.timestamp() + window_s - spawned))
    lines = (work / "out" / "searches.jsonl").read_text().splitlines()
    statuses = [json.loads(line)["status"] for line in lines]
    completed = sum(1 for status in statuses if status in DONE)
    best = most_possible(calls, budget)
    naive = breadth_first(calls, budget)
    ratio = completed / best
    limits = ""
    if ratio < TARGET:
        limits = (
            "page 0 of every search is paid before sizes are known (the oracle pays none "
            "for searches it skips), and the throttle runs at 0.97 × the rate"
        )
    return [
        Row(
            "4 Deadline",
            "completed searches ÷ most any order could complete",
            f"{ratio:.2f}",
            f"≥ {TARGET}",
            ratio >= TARGET,
            f"{completed} of {SEARCHES} searches vs the oracle's {best} with {budget} calls "
            f"in a {window_s:.1f} s window (job needs {sum(calls)} calls at {RATE}/s); "
            f"naive breadth-first: {naive} ({naive / best:.2f}); harvester exit {result.code}, "
            f"{refused} refused by {referee} at {RATE} r/s; {stats['expired']} calls "
            "answered 'expired' after the window closed",
            limits,
        )
    ]
