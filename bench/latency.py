"""Figure 2L, rate at latency: the harvester with default settings and only `rate = 40`,
behind nginx's limit_req 40 r/s burst 2, in front of a sandbox that answers 500 +- 200 ms
later (seeded jitter).

Issue 10 measured 0.39 here with the old fixed pool of 8 in flight (8 / 0.5 s = 16 r/s).
With `concurrency = "auto"` the pool keeps rate x p90 latency (with headroom) in flight,
so the throttle, not the pool, sets the pace. nginx's access log is the referee: the
achieved rate is (calls - 1) / (last - first) of the results calls it passed, over the
limit; rejections are its 429s. The output is checked hit by hit against the sandbox's
data (nothing lost, nothing twice), and the sandbox's billing shows no page paid twice.
"""

from __future__ import annotations

from bench.jobs import ids_for, min_job_calls
from bench.nginx import refereed_sandbox
from bench.outputs import check, expected_hits, read_ours
from bench.procs import harvester_cmd, run_measured
from bench.table import Context, Row

__all__ = ["run"]

LIMIT = 40  #: nginx's rate, requests/s, and the job's only setting
BURST = 2
LATENCY_S, JITTER_S = 0.5, 0.2
SEARCHES = 200  #: 2,200 calls, about a minute at 40/s (as long as figure 2)
TARGET = 0.9


def run(ctx: Context) -> list[Row]:
    """Measure figure 2L."""
    name = "2L Rate at 500 ± 200 ms latency (nginx)"
    measure = "achieved rate ÷ limit; rejections; output exact"
    if ctx.nginx is None:
        return [Row(name, measure, "n/a", f"≥ {TARGET}; 0; yes", None, ctx.nginx_problem)]
    work = ctx.workdir / "latency"
    work.mkdir(parents=True, exist_ok=True)
    searches = ids_for([1100] * SEARCHES, "lat")
    ids = work / "latency-ids.txt"
    ids.write_text("".join(f"{s.search_id}\n" for s in searches))
    job = work / "latency.toml"  # the job sets the rate and nothing else about the pool
    job.write_text(
        f'[job]\nname = "latency"\nrate = {LIMIT}\n\n[[search]]\nids_file = "{ids.name}"\n'
    )
    flags = ["--latency", str(LATENCY_S), "--jitter", str(JITTER_S)]
    with refereed_sandbox(ctx.nginx, work, flags, rate=LIMIT, burst=BURST) as (sandbox, proxy):
        assert proxy is not None  # nginx is there
        cmd = harvester_cmd(job, work / "out", "--fresh")
        result = run_measured(cmd, env=sandbox.env(proxy.url), log=work / "harvester.log")
        stats = sandbox.stats()
    verdict = proxy.verdict()
    rejected, passed, span, achieved = verdict.refused, verdict.passed, verdict.span, verdict.rate
    ratio = achieved / LIMIT
    hits, broken = read_ours(work / "out")
    output = check(hits, broken, expected_hits(searches), deduped=True)
    exact = output.lost == 0 and output.repeated == 0 and output.broken == 0
    twice = int(str(stats["pages_billed_twice"]))
    met = ratio >= TARGET and rejected == 0 and exact and twice == 0 and result.code == 0
    limits = ""
    if not met:
        limits = (
            f"harvester exit {result.code}; {rejected} rejected; lost {output.lost}, "
            f"repeated {output.repeated}; {twice} pages paid twice"
        )
    return [
        Row(
            name,
            measure,
            f"{ratio:.3f}; {rejected} rejected; {'exact' if exact else 'NOT exact'}",
            f"≥ {TARGET}; 0; exact",
            met,
            f"{achieved:.2f} r/s over {span:.1f} s under limit_req {LIMIT} r/s burst {BURST} "
            f"with answers {LATENCY_S * 1000:.0f} ± {JITTER_S * 1000:.0f} ms late; "
            f"{len(passed):,} calls passed (job minimum {min_job_calls(searches):,}); "
            f"most in flight at the sandbox {stats['max_in_flight']}; "
            f"{output.records:,} records; the old fixed pool of 8 reached 0.39",
            limits,
        )
    ]
