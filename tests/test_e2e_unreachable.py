"""Field conditions, with the real CLI in subprocesses: a base URL where nothing listens
(exit 6, nothing final, then the same command resumes exactly), an outage shorter than
give_up_after (costs time only), and `plan --probe` against nothing."""

from __future__ import annotations

import socket
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from harvester.paging import min_calls
from tests.e2e_helpers import (
    SandboxProcess,
    all_records,
    env_for,
    harvester_command,
    no_traceback,
    read_searches,
    run,
    sandbox,
    write_job,
)

SEED = 909
SIZES = (0, 57, 100, 350, 1000, 1234)
IDS = [f"SBX-{n}-u{i}" for i, n in enumerate(SIZES)]
MINIMAL = sum(min_calls(n, 100) for n in SIZES)
GIVE_UP_S = 3.0


def dead_url() -> str:
    """A loopback URL where nothing listens (a port just bound and released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def run_at(url: str, box: SandboxProcess, *args: str | Path, timeout: float = 60) -> Any:
    """A harvester command with the sandbox's credentials but `url` as the base URL."""
    env = env_for(box) | {"PATSNAP_BASE_URL": url}
    return subprocess.run(
        harvester_command(*args),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=Path(__file__).resolve().parents[1],
    )


def events(text: str) -> list[dict[str, Any]]:
    """Every line as a JSON object (a line that is not one fails the test)."""
    parsed = []
    for line in text.splitlines():
        try:
            parsed.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
    return parsed


def final_searches(box: SandboxProcess, out: Path) -> list[str]:
    """Search ids `harvester status --json` reports in a final state."""
    done = run(box, "status", out, "--json")
    assert done.returncode == 0, done.stderr
    rows = orjson.loads(done.stdout)["searches"]
    return [row["search_id"] for row in rows if row["status"] is not None]


def reset(box: SandboxProcess) -> None:
    request = urllib.request.Request(f"{box.url}/_sandbox/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


def test_nothing_listening_exits_6_with_all_pending_then_the_same_command_resumes_exactly(
    tmp_path: Path,
) -> None:
    with sandbox(SEED) as box:
        job = write_job(tmp_path / "job.toml", IDS, rate=200, concurrency=4)
        reference = tmp_path / "reference"
        assert run(box, "run", job, "--out", reference).returncode == 0
        reset(box)

        out = tmp_path / "out"
        command = ("run", job, "--out", out, "--give-up-after", str(GIVE_UP_S))
        dead = run_at(dead_url(), box, *command, "--log-format", "json", timeout=40)
        assert dead.returncode == 6, dead.stderr
        no_traceback(dead.stderr)
        logged = events(dead.stderr)
        assert events(dead.stdout)[0]["event"] == "summary"
        assert logged[-1]["event"] == "run_finished"
        assert logged[-1]["exit_code"] == 6 and logged[-1]["pending"] == len(IDS)
        message = next(e["message"] for e in logged if e["event"] == "error")
        assert "127.0.0.1" in message and "could not be reached" in message
        assert "run the same command again" in message
        assert "sandbox-secret" not in dead.stderr + dead.stdout
        assert not (out / "_SUCCESS").exists()
        assert {row["status"] for row in read_searches(out).values()} == {"pending"}
        assert box.settled_stats()["calls"] == 0

        resumed = run(box, *command)  # the same command, now that PatSnap is there
        assert resumed.returncode == 0, resumed.stderr
        assert (out / "_SUCCESS").exists()
        assert all_records(out) == all_records(reference)
        stats = box.settled_stats()
        assert stats["billed"] == MINIMAL and stats["pages_billed_twice"] == 0
        assert stats["calls"] == MINIMAL


def test_an_outage_shorter_than_give_up_after_costs_time_only(tmp_path: Path) -> None:
    job = write_job(tmp_path / "job.toml", IDS, rate=200, concurrency=4)
    # every call, the token endpoint's too, answered 503 for the first 4 s
    with sandbox(SEED, "--outage-s", "4") as box:
        out = tmp_path / "out"
        done = run(box, "run", job, "--out", out, "--give-up-after", "30", "--log-format", "json")
        assert done.returncode == 0, done.stderr
        stats = box.settled_stats()
        assert stats["outage_refused"] > 0
        assert stats["billed"] == MINIMAL and stats["pages_billed_twice"] == 0
        retries = [e for e in events(done.stderr) if e["event"] == "retry"]
        assert retries and all("503" in e["error"] for e in retries)
        reset(box)  # the outage is over: a straight run for reference
        reference = tmp_path / "reference"
        assert run(box, "run", job, "--out", reference).returncode == 0
        assert all_records(out) == all_records(reference)


def test_plan_probe_against_nothing_listening_exits_6_and_makes_nothing_final(
    tmp_path: Path,
) -> None:
    job = write_job(tmp_path / "job.toml", IDS)
    out = tmp_path / "out"
    with sandbox(SEED) as box:
        command = ("plan", job, "--out", out, "--probe", "--give-up-after", str(GIVE_UP_S))
        done = run_at(dead_url(), box, *command, "--log-format", "json", timeout=40)
        assert done.returncode == 6, done.stderr
        no_traceback(done.stderr)
        logged = events(done.stderr)
        assert logged[-1]["event"] == "run_finished" and logged[-1]["exit_code"] == 6
        assert any("could not be reached" in e.get("message", "") for e in logged)
        assert not events(done.stdout)  # no plan: it would claim what it could not know
        assert final_searches(box, out) == []
