"""Helpers for the harvest integration tests (and `make bench`): job files, the CLI as a
subprocess, the output on disk, and what the sandbox's data set says a search holds.

This module holds no tests; `tests/conftest.py` wraps some of it in fixtures.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import anyio
import orjson
from anyio.abc import Process

from harvester.paging import min_calls, plan_pages
from harvester.sandbox import SandboxConfig
from harvester.sandbox.dataset import Dataset
from harvester.sandbox.query import parse_query
from harvester.sandbox.stats import SandboxStats

ROOT = Path(__file__).resolve().parent.parent
#: the sandbox seed of the harvest tests; expected hits are computed from the same seed
SEED = 11
CLIENT_ID = "harvest-test-client"
#: distinctive, so a test can look for it in every byte the harvester writes
CLIENT_SECRET = "s3cret-Harvest-9f27c1"

Search = str | Mapping[str, object]


def sandbox_config(seed: int, **overrides: Any) -> SandboxConfig:
    """A sandbox with the test credentials; `overrides` are SandboxConfig fields."""
    return SandboxConfig(seed=seed, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **overrides)


# --- job files -------------------------------------------------------------------------


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def write_job(
    folder: Path, searches: Iterable[Search], *, name: str = "harvest-test", **settings: object
) -> Path:
    """A job file `folder/<name>.toml`: [job] settings, then one [[search]] per entry."""
    lines = ["[job]", f"name = {_toml_value(name)}"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in settings.items()]
    for search in searches:
        entry = {"id": search} if isinstance(search, str) else dict(search)
        lines += ["", "[[search]]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in entry.items()]
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- the CLI as a subprocess -----------------------------------------------------------


def cli_env(base_url: str | None, **extra: str) -> dict[str, str]:
    """The parent's environment without PatSnap settings, plus sandbox credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATSNAP_")}
    env["PYTHONUNBUFFERED"] = "1"
    if base_url is not None:
        env.update(
            PATSNAP_BASE_URL=base_url,
            PATSNAP_CLIENT_ID=CLIENT_ID,
            PATSNAP_CLIENT_SECRET=CLIENT_SECRET,
        )
    env.update(extra)
    return env


@dataclass(slots=True)
class Cli:
    """A `python -m harvester ...` child whose stdout and stderr go to files."""

    process: Process
    stdout_path: Path
    stderr_path: Path
    _files: tuple[IO[bytes], IO[bytes]]

    @property
    def stdout(self) -> str:
        """What the child printed on stdout so far."""
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        """What the child printed on stderr so far."""
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def send(self, signum: signal.Signals) -> None:
        """Send a signal to the child (by its pid, nothing else)."""
        self.process.send_signal(signum)

    async def wait(self, timeout: float = 60.0) -> int:
        """Its exit code; kills it (and fails) if it runs past `timeout`."""
        try:
            with anyio.fail_after(timeout):
                code = await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(
                f"harvester did not exit within {timeout} s:\n{self.stderr}"
            ) from None
        finally:
            for file in self._files:
                file.close()
        return code

    def __str__(self) -> str:
        return f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


async def start_cli(args: Sequence[str], env: Mapping[str, str], cwd: Path) -> Cli:
    """Start `python -m harvester *args` in `cwd`; logs go to files there (never a full pipe)."""
    stamp = f"{time.monotonic_ns()}"
    out_path, err_path = cwd / f"cli-{stamp}.out", cwd / f"cli-{stamp}.err"
    out, err = out_path.open("wb"), err_path.open("wb")
    process = await anyio.open_process(
        [sys.executable, "-m", "harvester", *args],
        stdin=None,
        stdout=out,
        stderr=err,
        cwd=cwd,
        env=dict(env),
    )
    return Cli(process, out_path, err_path, (out, err))


async def run_cli(
    args: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float = 60.0
) -> tuple[int, Cli]:
    """Run `python -m harvester *args` to its end: (exit code, the finished child)."""
    cli = await start_cli(args, env, cwd)
    return await cli.wait(timeout), cli


# --- output on disk --------------------------------------------------------------------


def read_records(out_dir: Path) -> list[dict[str, Any]]:
    """Every record of every shard, in file order."""
    records = []
    for shard in sorted(out_dir.glob("part-*.jsonl.gz")):
        with gzip.open(shard, "rb") as lines:
            records += [orjson.loads(line) for line in lines if line.strip()]
    return records


def read_searches(out_dir: Path) -> dict[str, dict[str, Any]]:
    """searches.jsonl by search_id."""
    rows = [orjson.loads(line) for line in (out_dir / "searches.jsonl").read_bytes().splitlines()]
    return {row["search_id"]: row for row in rows}


# --- what the sandbox holds ------------------------------------------------------------


def expected_records(
    dataset: Dataset, search_id: str, limit: int = 100
) -> dict[str, dict[str, object]]:
    """patent_id -> the record a full harvest must write: reachable ranks, best rank kept."""
    total = search_total(dataset, search_id, limit)
    best: dict[str, dict[str, object]] = {}
    for spec in plan_pages(total, limit):
        query = parse_query(
            [("search_id", search_id), ("offset", str(spec.offset)), ("limit", str(spec.limit))]
        )
        hits, _ = dataset.page(query)
        for index, hit in enumerate(hits):
            message = hit.message()
            pid = str(message["patent_id"])
            if pid not in best:  # pages come in rank order: the first sighting is the best
                best[pid] = {**message, "rank": spec.offset + index + 1}
    return best


def search_total(dataset: Dataset, search_id: str, limit: int = 100) -> int:
    """total_search_result_count of the unfiltered search (what page 0 tells)."""
    query = parse_query([("search_id", search_id), ("offset", "0"), ("limit", str(limit))])
    return dataset.page(query)[1]


def calls_needed(dataset: Dataset, search_ids: Iterable[str], limit: int = 100) -> int:
    """Calls a fault-free harvest makes: the sum of paging.min_calls over the searches."""
    return sum(min_calls(search_total(dataset, sid, limit), limit) for sid in search_ids)


def billed_keys(*stats: SandboxStats) -> dict[str, int]:
    """Pages billed, summed over sandboxes (runs against different sandbox instances)."""
    keys: dict[str, int] = {}
    for one in stats:
        for key, n in one.billed_by_key.items():
            keys[key] = keys.get(key, 0) + n
    return keys


async def wait_until(predicate: Any, timeout: float, what: str, every: float = 0.01) -> None:
    """Poll `predicate()` until true, failing after `timeout` seconds."""
    try:
        with anyio.fail_after(timeout):
            while not predicate():
                await anyio.sleep(every)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}") from None
