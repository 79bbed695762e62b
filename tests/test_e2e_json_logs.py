"""`--log-format json` means every line: the real CLI in subprocesses, every line of its
stdout and stderr parsed as JSON, each run ending with `run_finished`."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.e2e_helpers import (
    ROOT,
    SandboxProcess,
    env_for,
    harvester_command,
    run,
    sandbox,
    search_ids,
    start_run,
    write_job,
)

SEED = 4242


@pytest.fixture(scope="module")
def box() -> Iterator[SandboxProcess]:
    with sandbox(SEED) as running:
        yield running


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of `text` as a JSON object; a line that is not one fails the test."""
    parsed = []
    for line in text.splitlines():
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise AssertionError(f"not a JSON line: {line!r}\n{text}") from None
        assert isinstance(event, dict) and "event" in event and "ts" in event, line
        parsed.append(event)
    return parsed


def finished(stdout: str, stderr: str, exit_code: int) -> dict[str, Any]:
    """Both streams all JSON; stderr ends with run_finished carrying `exit_code`."""
    json_lines(stdout)
    logged = json_lines(stderr)
    assert logged, "nothing logged"
    last = logged[-1]
    assert last["event"] == "run_finished", logged[-3:]
    assert last["exit_code"] == exit_code
    assert {"calls", "duration_s"} <= set(last)
    assert "sandbox-secret" not in stdout + stderr
    return last


def test_a_clean_run_logs_only_json_and_ends_with_run_finished(
    box: SandboxProcess, tmp_path: Path
) -> None:
    job = write_job(tmp_path / "job.toml", search_ids(SEED, 6), rate=200)
    done = run(box, "run", job, "--out", tmp_path / "out", "--log-format", "json")
    assert done.returncode == 0, done.stderr
    last = finished(done.stdout, done.stderr, 0)
    assert last["by_status"] and last["pending"] == 0 and last["calls"] > 0
    names = {event["event"] for event in json_lines(done.stderr)}
    assert {"run_started", "token_issued", "page_done", "search_done"} <= names
    summary = json_lines(done.stdout)
    assert [event["event"] for event in summary] == ["summary"]
    assert summary[0]["finished"] is True


def test_a_bad_job_file_is_one_event_per_problem_with_file_line_and_field(
    tmp_path: Path,
) -> None:
    job = tmp_path / "bad-settings.toml"
    job.write_text('[job]\nname = "Bad Name"\nrate = -1\n\n[[search]]\nid = "A"\n')
    done = run(None, "run", job, "--log-format", "json")
    assert done.returncode == 2
    finished(done.stdout, done.stderr, 2)
    problems = [e for e in json_lines(done.stderr) if e["event"] == "job_problem"]
    assert [(p["file"], p["line"], p["field"]) for p in problems] == [
        (str(job), 2, "job.name"),
        (str(job), 3, "job.rate"),
    ]
    assert all(p["message"] for p in problems)


def test_usage_and_credential_errors_are_json_too(tmp_path: Path) -> None:
    usage = run(None, "run", "--log-format", "json", "--rate", "fast", "job.toml")
    assert usage.returncode == 2
    finished(usage.stdout, usage.stderr, 2)
    assert json_lines(usage.stderr)[0]["event"] == "usage_error"
    job = write_job(tmp_path / "job.toml", ["A-1"])
    no_credentials = run(None, "run", job, "--out", tmp_path / "o", "--log-format=json")
    assert no_credentials.returncode == 2
    finished(no_credentials.stdout, no_credentials.stderr, 2)


def test_rejected_credentials_stop_with_exit_3_in_json(box: SandboxProcess, tmp_path: Path) -> None:
    job = write_job(tmp_path / "job.toml", search_ids(SEED, 3))
    env = env_for(box) | {"PATSNAP_CLIENT_SECRET": "not-the-secret"}
    done = subprocess.run(
        harvester_command("run", job, "--out", tmp_path / "out", "--log-format", "json"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    last = finished(done.stdout, done.stderr, 3)
    assert last["pending"] == 3
    assert "not-the-secret" not in done.stdout + done.stderr


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_run_logs_only_json_and_ends_with_run_finished(
    tmp_path: Path, signum: signal.Signals, exit_code: int
) -> None:
    job = write_job(tmp_path / "job.toml", search_ids(SEED + 1, 10), rate=8, concurrency=2)
    log = tmp_path / "run.log"
    with sandbox(SEED) as slow:
        proc = start_run(slow, job, tmp_path / "out", log)
        try:
            deadline = time.monotonic() + 30
            while b'"page_done"' not in log.read_bytes():
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
            proc.send_signal(signum)
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert code == exit_code, log.read_text()
    # start_run sends stdout and stderr to one file, as `>> log 2>&1` does
    events = json_lines(log.read_text())
    assert events[-1]["event"] == "run_finished" and events[-1]["exit_code"] == exit_code
    assert any(e["event"] == "run_stopping" for e in events)


def test_auth_events_are_json_and_carry_no_secret(tmp_path: Path) -> None:
    job = write_job(tmp_path / "job.toml", search_ids(SEED + 2, 6), rate=40)
    # tokens stop working after half a second although they claim 30 minutes
    with sandbox(SEED, "--token-lifetime", "0.5") as short_lived:
        done = run(short_lived, "run", job, "--out", tmp_path / "out", "--log-format", "json")
    assert done.returncode == 0, done.stderr
    finished(done.stdout, done.stderr, 0)
    auth = [e for e in json_lines(done.stderr) if e["event"] in AUTH_EVENTS]
    assert {"token_issued", "token_rejected", "reauthenticate"} <= {e["event"] for e in auth}
    # plain facts only: no token or key in any field (finished() checks the secret)
    assert all(set(e) <= {"ts", "event", "expires_in_s", "code"} for e in auth), auth


AUTH_EVENTS = frozenset({"token_issued", "token_rejected", "reauthenticate"})
