"""SIGINT and SIGTERM stop a running `harvester run` with 130 / 143: pages in flight land,
and the same command resumes to exit 0 without paying any page twice; `plan` on the
interrupted directory predicts the resumed run's calls exactly."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from harvester.sandbox import running_sandbox
from harvester.sandbox.dataset import Dataset
from tests.test_harvest_support import (
    SEED,
    calls_needed,
    cli_env,
    expected_records,
    read_records,
    run_cli,
    sandbox_config,
    start_cli,
    wait_until,
    write_job,
)

IDS = [f"SBX-{n}-sig{i}" for i, n in enumerate([1100, 640, 1100, 90, 870, 300])]


@pytest.mark.parametrize(("signum", "expected"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
async def test_signal_stops_the_run_resumably_and_the_rerun_pays_no_page_twice(
    tmp_path: Path, dataset: Dataset, signum: signal.Signals, expected: int
) -> None:
    job = write_job(tmp_path, IDS, rate=40, concurrency=8)
    out = tmp_path / "out"
    args = ["run", str(job), "--out", str(out)]
    # latency keeps several pages in flight when the signal comes
    async with running_sandbox(sandbox_config(SEED, latency_s=0.15)) as sandbox:
        env = cli_env(sandbox.url)
        first = await start_cli(args, env, tmp_path)
        # every search has shown its size (page 0 of each goes first) and more is under way
        await wait_until(lambda: sandbox.stats.billed >= len(IDS) + 4, 20, "pages billed")
        first.send(signum)
        code = await first.wait(timeout=20)
        assert code == expected, first
        interrupted = sandbox.stats.billed
        assert interrupted < calls_needed(dataset, IDS)  # it really stopped part way
        assert not (out / "_SUCCESS").exists()
        assert "run the same command again to resume" in first.stdout

        code, plan = await run_cli(["plan", str(job), "--out", str(out)], env, tmp_path)
        assert code == 0 and "sizes unknown" not in plan.stdout, plan  # exact: sizes known
        planned = int(plan.stdout.split("calls", 1)[1].split()[0].replace(",", ""))

        code, second = await run_cli(args, env, tmp_path)
        assert code == 0, second
        stats = sandbox.stats
    assert stats.pages_billed_twice == 0  # in-flight pages landed and were kept
    assert stats.billed == calls_needed(dataset, IDS)
    assert planned == stats.billed - interrupted
    assert len(read_records(out)) == sum(len(expected_records(dataset, sid)) for sid in IDS)


async def test_a_stop_sends_no_call_that_was_only_waiting_for_its_slot(tmp_path: Path) -> None:
    # at 1 call/s four workers wait for their slots; a Ctrl-C must not send them
    job = write_job(tmp_path, [f"SBX-1100-slow{i}" for i in range(4)], rate=1, concurrency=4)
    async with running_sandbox(sandbox_config(SEED)) as sandbox:
        cli = await start_cli(
            ["run", str(job), "--out", str(tmp_path / "out")], cli_env(sandbox.url), tmp_path
        )
        await wait_until(lambda: sandbox.stats.calls >= 2, 20, "two calls")
        sent = sandbox.stats.calls  # the next call is due a second after the last
        cli.send(signal.SIGINT)
        code = await cli.wait(timeout=20)
        assert code == 130, cli
        assert sandbox.stats.calls == sent
    assert "run the same command again to resume" in cli.stdout
