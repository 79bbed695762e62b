"""Helpers for the ops tests (publish, export, metrics, partitions): a sandbox subprocess,
the `harvester` CLI as a subprocess, a small job, and readers for what a run wrote.

No tests here; the ops test modules import these.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
#: Record fields equal between two harvests of the same searches (harvested_at differs).
COMPARED = ("search_id", "patent_id", "patent_pn", "title", "score", "url", "rank")
#: Sizes chosen so that a run takes ~40 pages: empty, one page, several, the cap, over it.
SIZES = (0, 1, 57, 99, 100, 101, 130, 250, 333, 480, 1100, 2400)


def search_ids() -> list[str]:
    """The test job's search ids (sandbox ids: SBX-<hits>-<name>)."""
    return [f"SBX-{size}-s{index:02d}" for index, size in enumerate(SIZES)]


def write_job(folder: Path, *, name: str = "opsjob", shards: int = 3, rate: float = 400) -> Path:
    """A job file over search_ids(); no rate limit worth the name, so runs take ~1 s."""
    lines = [
        "[job]",
        f'name = "{name}"',
        f"rate = {rate}",
        "concurrency = 8",
        f"shards = {shards}",
        'dedupe = "search"',
        "",
        "[defaults]",
        "limit = 100",
    ]
    for search_id in search_ids():
        lines += ["", "[[search]]", f'id = "{search_id}"']
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass(slots=True, frozen=True)
class Sandbox:
    """A `harvester sandbox` subprocess and the URL it announced."""

    proc: subprocess.Popen[str]
    url: str

    def env(self, **extra: str) -> dict[str, str]:
        """The environment a user would set to harvest from this sandbox."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PATSNAP_")}
        env.update(
            PATSNAP_BASE_URL=self.url,
            PATSNAP_CLIENT_ID="sandbox-client",
            PATSNAP_CLIENT_SECRET="sandbox-secret",
        )
        env.update(extra)
        return env


@contextmanager
def sandbox(seed: int = 5) -> Iterator[Sandbox]:
    """Run `harvester sandbox --port 0` for the block (terminated by its own pid)."""
    command = [sys.executable, "-m", "harvester", "sandbox", "--port", "0", "--seed", str(seed)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "http://" in line, f"the sandbox did not start: {line!r}"
        yield Sandbox(proc, line.split()[-1])
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def harvester(
    args: Sequence[str | Path], env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """Run the `harvester` CLI as a user would; never raises on a non-zero exit."""
    command = [sys.executable, "-m", "harvester", *map(str, args)]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def comparable(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Records as sorted tuples of COMPARED fields."""
    return sorted(tuple(r[f] for f in COMPARED) for r in records)


def searches_in(out_dir: Path) -> list[str]:
    """The search ids listed in a run's searches.jsonl."""
    lines = (out_dir / "searches.jsonl").read_bytes().splitlines()
    return [orjson.loads(line)["search_id"] for line in lines if line.strip()]
