"""Job files for the figures: sandbox ids (`SBX-<total>-<tag>`) with known totals.

    totals = mixed_totals(120, seed=4)      # PatSnap-like mix of empty, small, big searches
    job = write_job(workdir, "deadline", ids_for(totals, "dl"), rate=20, concurrency=8)
    min_job_calls(totals)                   # the fewest calls the job can cost

Every tool in the bench gets the same concurrency and page size from here.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson

from harvester.paging import min_calls, plan_pages

__all__ = [
    "CONCURRENCY",
    "LIMIT",
    "SearchSpec",
    "ids_for",
    "min_job_calls",
    "mixed_totals",
    "page_list",
    "write_job",
]

CONCURRENCY = 8  #: calls in flight, for the harvester and every peer (the README default)
LIMIT = 100  #: hits per page: the fewest paid calls


@dataclass(slots=True, frozen=True)
class SearchSpec:
    """One search of a bench job."""

    search_id: str
    total: int


def ids_for(totals: Sequence[int], tag: str) -> list[SearchSpec]:
    """Sandbox ids with exactly these totals (the sandbox reads the total from the id)."""
    return [SearchSpec(f"SBX-{total}-{tag}{i:05d}", total) for i, total in enumerate(totals)]


def mixed_totals(count: int, seed: int) -> list[int]:
    """Totals mixed like the sandbox's own ids: 10% empty, 30% < 100, 40% to 1,100, 20% more."""
    rng = random.Random(seed)
    totals = []
    for _ in range(count):
        u = rng.random()
        if u < 0.10:
            totals.append(0)
        elif u < 0.40:
            totals.append(rng.randint(1, 99))
        elif u < 0.80:
            totals.append(rng.randint(100, 1100))
        else:
            totals.append(rng.randint(1101, 5000))
    return totals


def min_job_calls(searches: Sequence[SearchSpec]) -> int:
    """Sum of paging.min_calls: what the job costs when no call is wasted."""
    return sum(min_calls(s.total, LIMIT) for s in searches)


def page_list(searches: Sequence[SearchSpec]) -> list[tuple[str, int]]:
    """Every (search_id, offset) the job needs, in job order."""
    return [(s.search_id, p.offset) for s in searches for p in plan_pages(s.total, LIMIT)]


def write_job(
    workdir: Path,
    name: str,
    searches: Sequence[SearchSpec],
    *,
    rate: float,
    burst: int = 1,
    concurrency: int = CONCURRENCY,
    validity_minutes: float = 20.0,
    created_at: datetime | None = None,
) -> Path:
    """A job file and its ids_file in `workdir`; `created_at` goes on every search."""
    workdir.mkdir(parents=True, exist_ok=True)
    ids = workdir / f"{name}-ids.txt"
    if created_at is None:
        ids.write_text("".join(f"{s.search_id}\n" for s in searches))
    else:
        stamp = created_at.isoformat().replace("+00:00", "Z")
        ids.write_bytes(
            b"".join(
                orjson.dumps({"id": s.search_id, "created_at": stamp}) + b"\n" for s in searches
            )
        )
    job = workdir / f"{name}.toml"
    job.write_text(
        f'[job]\nname = "{name}"\nvalidity_minutes = {validity_minutes}\n'
        f"rate = {rate}\nburst = {burst}\nconcurrency = {concurrency}\nshards = 4\n"
        f'dedupe = "search"\n\n[defaults]\nlimit = {LIMIT}\n\n'
        f'[[search]]\nids_file = "{ids.name}"\n'
    )
    return job
