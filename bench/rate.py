"""Figure 2, rate fidelity: the harvester at --rate 20 behind nginx's limit_req 20 r/s, burst 2.

About a minute of work (105 searches of 1,100 hits: 1,155 calls). nginx's access log is
the referee: rejections are its 429s (and 503s, its default refusal status, in case the
config were ignored), and the achieved rate is (calls - 1) / (last - first) of the
results calls it passed, over the limit.
"""

from __future__ import annotations

from bench.jobs import CONCURRENCY, ids_for, min_job_calls, write_job
from bench.nginx import refereed_sandbox
from bench.procs import harvester_cmd, run_measured
from bench.table import Context, Row

__all__ = ["run"]

LIMIT = 20  #: nginx's rate, requests/s
BURST = 2
SEARCHES = 105
TARGET = 0.95


def run(ctx: Context) -> list[Row]:
    """Measure figure 2."""
    name = "2 Rate fidelity (nginx)"
    measure = "achieved rate ÷ limit; rejections"
    if ctx.nginx is None:
        return [Row(name, measure, "n/a", f"≥ {TARGET}; 0", None, ctx.nginx_problem)]
    work = ctx.workdir / "rate"
    searches = ids_for([1100] * SEARCHES, "rate")
    job = write_job(work, "rate", searches, rate=LIMIT, concurrency=CONCURRENCY)
    with refereed_sandbox(ctx.nginx, work, [], rate=LIMIT, burst=BURST) as (sandbox, proxy):
        assert proxy is not None  # nginx is there
        cmd = harvester_cmd(job, work / "out", "--fresh", "--rate", str(LIMIT))
        result = run_measured(cmd, env=sandbox.env(proxy.url), log=work / "harvester.log")
        server_calls = sandbox.calls()
    verdict = proxy.verdict()
    rejected, passed, span, achieved = verdict.refused, verdict.passed, verdict.span, verdict.rate
    ratio = achieved / LIMIT
    met = ratio >= TARGET and rejected == 0 and result.code == 0
    limits = ""
    if not met:
        limits = (
            f"harvester exit {result.code}; {rejected} rejected; the throttle aims at "
            "0.97 × the rate (harvester/engine/rate.py DEFAULT_MARGIN)"
        )
    return [
        Row(
            name,
            measure,
            f"{ratio:.3f}; {rejected} rejected",
            f"≥ {TARGET}; 0",
            met,
            f"{achieved:.2f} r/s over {span:.1f} s under limit_req {LIMIT} r/s burst {BURST} "
            f"nodelay; {len(passed):,} calls passed (job minimum {min_job_calls(searches):,}, "
            f"sandbox saw {server_calls:,})",
            limits,
        )
    ]
