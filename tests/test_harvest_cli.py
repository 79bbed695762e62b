"""`harvester run` as users run it: usage errors exit 2 before any call, a locked output
directory exits 4, a completed one has nothing to do, JSON logs, and no secret anywhere."""

from __future__ import annotations

import gzip
import signal
from pathlib import Path

import orjson

from harvester.sandbox import running_sandbox
from tests.test_harvest_support import (
    CLIENT_SECRET,
    SEED,
    cli_env,
    run_cli,
    sandbox_config,
    start_cli,
    wait_until,
    write_job,
)

API_KEY = "sk-harvest-test-KEY-0c9d1e"


async def test_missing_credentials_exit_2_with_one_paragraph_before_any_call(
    tmp_path: Path,
) -> None:
    job = write_job(tmp_path, ["SBX-10-a"])
    async with running_sandbox(sandbox_config(SEED)) as sandbox:
        env = cli_env(None, PATSNAP_BASE_URL=sandbox.url, PATSNAP_CLIENT_ID="only-the-id")
        code, cli = await run_cli(["run", str(job), "--out", str(tmp_path / "out")], env, tmp_path)
        assert sandbox.stats.calls == 0 and sandbox.stats.token_requests == 0
    assert code == 2, cli
    message = cli.stderr.strip()
    assert "PATSNAP_CLIENT_SECRET is missing" in message and "PATSNAP_API_KEY" in message
    assert "\n\n" not in message and "Traceback" not in message and cli.stdout == ""


async def test_a_bad_job_exits_2_listing_every_problem_with_file_and_line(tmp_path: Path) -> None:
    job = tmp_path / "bad.toml"
    job.write_text(
        "[job]\n"
        'name = "../escape"\n'  # line 2: becomes part of a path
        "rate = -5\n"  # line 3
        "\n"
        "[[search]]\n"
        'id = "SBX-10-dup"\n'  # line 6
        "limit = 500\n"  # line 7
        "\n"
        "[[search]]\n"
        'id = "SBX-10-dup"\n',  # line 10
        encoding="utf-8",
    )
    async with running_sandbox(sandbox_config(SEED)) as sandbox:
        args = ["run", str(job), "--out", str(tmp_path / "out")]
        code, cli = await run_cli(args, cli_env(sandbox.url), tmp_path)
        assert sandbox.stats.calls == 0 and sandbox.stats.token_requests == 0
    assert code == 2, cli
    for line in (2, 3, 7, 10):
        assert f"{job}:{line}:" in cli.stderr, (line, cli.stderr)
    assert "Traceback" not in cli.stderr and not (tmp_path / "out").exists()


async def test_a_second_run_on_a_locked_directory_exits_4_without_calling(tmp_path: Path) -> None:
    job = write_job(tmp_path, [f"SBX-1100-lock{i}" for i in range(3)], rate=5)
    args = ["run", str(job), "--out", str(tmp_path / "out")]
    async with running_sandbox(sandbox_config(SEED)) as sandbox:
        env = cli_env(sandbox.url)
        holder = await start_cli(args, env, tmp_path)
        await wait_until(lambda: sandbox.stats.calls >= 1, 20, "the first run's first call")
        code, second = await run_cli(args, env, tmp_path)
        assert sandbox.stats.token_requests == 1  # the second run asked for nothing
        holder.send(signal.SIGINT)
        assert await holder.wait(timeout=20) == 130, holder
    assert code == 4, second
    assert f"in use by another run (pid {holder.process.pid})" in second.stderr


async def test_json_logs_are_one_event_per_line_and_carry_no_secret(tmp_path: Path) -> None:
    ids = [f"SBX-{n}-json{i}" for i, n in enumerate([0, 150, 1100, 2300])]
    job = write_job(tmp_path, ids, rate=100)
    out = tmp_path / "out"
    # faults and revoked tokens make the harvester talk about errors and credentials
    config = sandbox_config(SEED, fault_rate=0.15, token_lifetime_s=0.5, slow_s=0.1)
    async with running_sandbox(config) as sandbox:
        args = ["run", str(job), "--out", str(out), "--log-format", "json"]
        code, cli = await run_cli(args, cli_env(sandbox.url), tmp_path)
        assert sandbox.stats.auth_failures >= 1 and sandbox.stats.faults >= 1
    assert code == 0, cli
    events = [orjson.loads(line) for line in cli.stderr.splitlines()]
    assert all(isinstance(e, dict) and "ts" in e and "event" in e for e in events)
    names = {e["event"] for e in events}
    assert {"run_started", "page_done", "retry", "search_done"} <= names
    assert_nowhere(CLIENT_SECRET, cli.stdout + cli.stderr, out)


async def test_api_key_never_appears_even_when_rejected(tmp_path: Path) -> None:
    job = write_job(tmp_path, ["SBX-300-key"], rate=100)
    out = tmp_path / "out"
    async with running_sandbox(sandbox_config(SEED, api_key=API_KEY)) as sandbox:
        code, good = await run_cli(
            ["run", str(job), "--out", str(out)],
            cli_env(None, PATSNAP_BASE_URL=sandbox.url, PATSNAP_API_KEY=API_KEY),
            tmp_path,
        )
        wrong = API_KEY[:-1] + "X"
        env = cli_env(None, PATSNAP_BASE_URL=sandbox.url, PATSNAP_API_KEY=wrong)
        refused_code, refused = await run_cli(
            ["run", str(job), "--out", str(tmp_path / "out2")], env, tmp_path
        )
    assert code == 0 and refused_code == 3, (good, refused)
    assert "PATSNAP_API_KEY" in refused.stdout + refused.stderr
    assert_nowhere(API_KEY, good.stdout + good.stderr, out)
    assert_nowhere(wrong, refused.stdout + refused.stderr, tmp_path / "out2")


async def test_a_completed_directory_has_nothing_to_do_and_calls_nothing(tmp_path: Path) -> None:
    job = write_job(tmp_path, ["SBX-120-done"], rate=100)
    args = ["run", str(job), "--out", str(tmp_path / "out")]
    async with running_sandbox(sandbox_config(SEED)) as sandbox:
        env = cli_env(sandbox.url)
        code, _ = await run_cli(args, env, tmp_path)
        assert code == 0
        before = (sandbox.stats.calls, sandbox.stats.token_requests)
        code, again = await run_cli(args, env, tmp_path)
        assert (sandbox.stats.calls, sandbox.stats.token_requests) == before
    assert code == 0, again
    assert "nothing to do" in again.stdout


def assert_nowhere(secret: str, printed: str, out_dir: Path) -> None:
    """`secret` is in neither the printed text nor any file of the output directory."""
    assert secret not in printed
    needle = secret.encode()
    for path in out_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if path.name.endswith(".gz"):
                data = gzip.decompress(data)
            assert needle not in data, path
