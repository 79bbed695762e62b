"""Figure 4E, overload with equal sizes: 60 searches of more than 1,100 hits, created
together, a 15 s window counted from their created_at (process start included), 20 r/s
(nginx limit_req, burst 2, as referee; the sandbox when nginx is missing).

Each search costs 11 calls, so 20 r/s x 15 s holds 27 whole searches: the best possible.
Issue 10 measured 22 (0.81): the pool paid page 0 of all 60 first. Admission starts a
search only when its window still holds its worst case, so the calls go to searches that
finish. Figure 4 (mixed sizes, against an oracle) stays beside it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bench.jobs import ids_for
from bench.nginx import refereed_sandbox, run_refereed
from bench.table import Context, Row
from harvester.paging import min_calls

__all__ = ["run"]

SEARCHES = 60
TOTAL = 5000  #: hits per search: past the cap, 11 calls each at limit 100
RATE = 20
WINDOW_S = 15.0
TARGET = 0.9


def run(ctx: Context) -> list[Row]:
    """Measure figure 4E."""
    work = ctx.workdir / "overload"
    work.mkdir(parents=True, exist_ok=True)
    searches = ids_for([TOTAL] * SEARCHES, "ov")
    cost = min_calls(TOTAL, 100)
    best = int(RATE * WINDOW_S // cost)
    flags = ["--validity", str(WINDOW_S)]
    with refereed_sandbox(ctx.nginx, work, flags, rate=RATE) as (sandbox, proxy):
        ids = work / "overload-ids.txt"
        created = datetime.now(UTC)
        stamp = created.isoformat().replace("+00:00", "Z")
        ids.write_text("".join(f'{{"id": "{s.search_id}", "created_at": "{stamp}"}}\n'
                               for s in searches))  # fmt: skip
        job = work / "overload.toml"
        job.write_text(
            f'[job]\nname = "overload"\nrate = {RATE}\nvalidity_minutes = {WINDOW_S / 60}\n\n'
            f'[[search]]\nids_file = "{ids.name}"\n'
        )
        run = run_refereed(
            sandbox, proxy, job, work, [{"id": s.search_id, "created_at": stamp} for s in searches]
        )
    result, stats, spawned, refused, first, referee = (
        run.result, run.stats, run.spawned, run.refused, run.first, run.referee
    )  # fmt: skip
    rows = [json.loads(line) for line in (work / "out" / "searches.jsonl").read_text().splitlines()]
    whole = [r for r in rows if r["status"] == "truncated"]
    wasted = sum(r["calls"] for r in rows if r["status"] != "truncated")
    ratio = len(whole) / best
    met = ratio >= TARGET and refused == 0
    limits = ""
    if not met:
        limits = (
            f"{wasted} calls on searches that did not finish; the process started "
            f"{first - created.timestamp():.2f} s into the window; {refused} refused"
        )
    return [
        Row(
            "4E Overload, equal sizes",
            "whole searches ÷ the most the window holds",
            f"{ratio:.2f}",
            f"≥ {TARGET}",
            met,
            f"{len(whole)} of {SEARCHES} searches of {cost} calls whole vs {best} that "
            f"{RATE} r/s × {WINDOW_S:.0f} s holds; {wasted} calls spent on searches that did "
            f"not finish ({sum(1 for r in rows if r['calls'] == 0)} never started); first "
            f"call {first - created.timestamp():.2f} s after created_at (spawned at "
            f"{spawned - created.timestamp():.2f} s); harvester exit {result.code}; "
            f"{refused} refused by {referee}; sandbox billed {stats['billed']}",
            limits,
        )
    ]
