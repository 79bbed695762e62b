"""Helpers for the end-to-end tests: the real `harvester` CLI in subprocesses, against a
sandbox subprocess, with nothing but files, exit codes, stderr and the sandbox's counters
to judge by."""

from __future__ import annotations

import gzip
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
#: Record fields that must be equal between runs (harvested_at is the only one that may differ).
COMPARED = ("search_id", "patent_id", "rank", "patent_pn", "title", "score", "url")
CHECKPOINT = "_checkpoint.sqlite"
_START_TIMEOUT_S = 20.0


@dataclass(slots=True, frozen=True)
class SandboxProcess:
    """A `harvester sandbox` subprocess and the URL it announced."""

    proc: subprocess.Popen[str]
    url: str

    def stats(self) -> dict[str, Any]:
        """The sandbox's live counters (GET /_sandbox/stats)."""
        with urllib.request.urlopen(f"{self.url}/_sandbox/stats", timeout=10) as answer:
            stats: dict[str, Any] = orjson.loads(answer.read())
        return stats

    def settled_stats(self, timeout: float = 10.0) -> dict[str, Any]:
        """The counters once no results request is being answered (a killed client's last
        request is billed, or not, before we look)."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if stats["in_flight"] == 0 or time.monotonic() > deadline:
                return stats
            time.sleep(0.01)

    def billed(self) -> dict[str, int]:
        """Paid pages so far: "search_id|offset|limit" -> times billed."""
        billed: dict[str, int] = self.settled_stats()["billed_by_key"]
        return billed


@contextmanager
def sandbox(seed: int, *extra: str) -> Iterator[SandboxProcess]:
    """Run `python -m harvester sandbox --port 0 --seed SEED` for the block."""
    command = [sys.executable, "-m", "harvester", "sandbox", "--port", "0", "--seed", str(seed)]
    proc = subprocess.Popen(
        [*command, *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on" not in line:
            proc.kill()
            _, err = proc.communicate(timeout=10)
            raise AssertionError(f"the sandbox did not start: {line!r} {err}")
        yield SandboxProcess(proc, line.split()[-1])
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                # a client killed mid-call can leave the server's shutdown waiting on its
                # data worker; the tests are done with it, so a few seconds is enough
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def search_ids(
    seed: int, count: int, *, min_total: int = 0, max_total: int = 1500, hashed: int = 3
) -> list[str]:
    """`count` search ids: SBX-<n>-... (n hits, from a seeded RNG) and a few hashed ones
    (the sandbox gives those a few hundred hits)."""
    rng = random.Random(seed)
    sizes = [rng.randint(min_total, max_total) for _ in range(count - hashed)]
    ids = [f"SBX-{n}-s{i:02d}" for i, n in enumerate(sizes)]
    ids += [f"{rng.getrandbits(128):032X}-1-D" for _ in range(hashed)]
    return ids


def write_job(
    path: Path,
    ids: Sequence[str],
    *,
    name: str = "e2e",
    rate: float = 50,
    concurrency: int = 4,
    shards: int = 3,
    filters: dict[str, dict[str, str]] | None = None,
) -> Path:
    """A job file with one [[search]] per id; `filters` maps an id to its own filters."""
    lines = [
        "[job]",
        f'name = "{name}"',
        f"rate = {rate}",
        f"concurrency = {concurrency}",
        f"shards = {shards}",
        'dedupe = "search"',
        "",
    ]
    for search_id in ids:
        lines += ["[[search]]", f'id = "{search_id}"']
        lines += [f'{key} = "{value}"' for key, value in (filters or {}).get(search_id, {}).items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def env_for(box: SandboxProcess) -> dict[str, str]:
    """The child's environment: sandbox URL and credentials, no API key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATSNAP_")}
    env |= {
        "PATSNAP_BASE_URL": box.url,
        "PATSNAP_CLIENT_ID": "sandbox-client",
        "PATSNAP_CLIENT_SECRET": "sandbox-secret",
    }
    return env


def harvester_command(*args: str | Path) -> list[str]:
    """`python -m harvester ARGS` as a command line."""
    return [sys.executable, "-m", "harvester", *map(str, args)]


def start_run(
    box: SandboxProcess, job: Path, out: Path, log: Path, *extra: str
) -> subprocess.Popen[bytes]:
    """Start `harvester run JOB --out OUT --log-format json`, stdout and stderr to `log`
    (a file, so a child never blocks on a full pipe however long nobody reads it)."""
    with open(log, "ab") as sink:
        return subprocess.Popen(
            harvester_command("run", job, "--out", out, "--log-format", "json", *extra),
            cwd=ROOT,
            env=env_for(box),
            stdout=sink,
            stderr=sink,
        )


def run(
    box: SandboxProcess | None, *args: str | Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a harvester command to its end; stdout and stderr captured as text."""
    env = env_for(box) if box is not None else None
    return subprocess.run(
        harvester_command(*args),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_all(
    box: SandboxProcess | None, *commands: Sequence[str | Path], timeout: float = 60
) -> list[subprocess.CompletedProcess[str]]:
    """Run several harvester commands at once (they must not depend on each other)."""
    env = env_for(box) if box is not None else None
    procs = [
        subprocess.Popen(
            harvester_command(*command),
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    done = []
    for proc, command in zip(procs, commands, strict=True):
        stdout, stderr = proc.communicate(timeout=timeout)
        done.append(subprocess.CompletedProcess(command, proc.returncode, stdout, stderr))
    return done


def kill(proc: subprocess.Popen[bytes]) -> int:
    """SIGKILL `proc` (if it still runs) and reap it; its return code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    return proc.wait(timeout=30)


def read_records(out: Path) -> dict[int, list[tuple[Any, ...]]]:
    """Every record of every shard as a tuple of COMPARED fields, per shard, sorted."""
    shards: dict[int, list[tuple[Any, ...]]] = {}
    for part in sorted(out.glob("part-*.jsonl.gz")):
        number = int(part.name[5:10])
        lines = gzip.decompress(part.read_bytes()).splitlines()
        rows = [orjson.loads(line) for line in lines if line]
        shards[number] = sorted(tuple(row[key] for key in COMPARED) for row in rows)
    return shards


def all_records(out: Path) -> list[tuple[Any, ...]]:
    """Every record of the run, as COMPARED tuples, sorted."""
    return sorted(row for rows in read_records(out).values() for row in rows)


def read_searches(out: Path) -> dict[str, dict[str, Any]]:
    """searches.jsonl keyed by search_id."""
    rows = [orjson.loads(line) for line in (out / "searches.jsonl").read_bytes().splitlines()]
    return {row["search_id"]: row for row in rows}


def committed_pages(out: Path) -> set[str]:
    """Pages the checkpoint holds as done, as the sandbox's billing keys (id|offset|limit).
    Read straight from SQLite (read-only), independently of the harvester's own code."""
    path = out / CHECKPOINT
    if not path.exists():
        return set()
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = db.execute(
            'SELECT s.search_id, p."offset", p."limit" FROM pages p JOIN searches s USING (sid)'
        ).fetchall()
    finally:
        db.close()
    return {f"{sid}|{offset}|{limit}" for sid, offset, limit in rows}


def no_traceback(text: str) -> None:
    """Fail if `text` shows a Python traceback."""
    assert "Traceback" not in text, text
    assert 'File "' not in text, text


def last_paragraph(text: str) -> str:
    """The final message of stderr: its last non-empty line (JSON events come before)."""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
