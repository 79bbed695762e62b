"""`harvester status`: a run's progress, read from its checkpoint, also while it runs.

The checkpoint is opened read-only (SQLite URI mode=ro); WAL lets it be read while the
writer commits, and nothing here takes the run's lock.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from harvester.sink.checkpoint import CHECKPOINT_NAME, Checkpoint, SearchProgress
from harvester.sink.errors import output_errors
from harvester.sink.lock import probe
from harvester.sink.manifest import SUCCESS_NAME

__all__ = ["StatusReport", "read_status"]


@dataclass(slots=True, frozen=True)
class StatusReport:
    """Per-search state and totals of one output directory."""

    out_dir: Path
    job_name: str
    job_sha256: str
    shards: int
    dedupe: str
    searches: tuple[SearchProgress, ...]  #: in job order
    totals: dict[
        str, int
    ]  #: searches, final, pending, status_<s>, pages, staged_pages, records, ...
    success: bool  #: _SUCCESS is present
    running: bool  #: a run holds the directory's lock now
    running_pid: int | None


def read_status(out_dir: Path) -> StatusReport:
    """Read the checkpoint in `out_dir`; FileNotFoundError if there is none,
    CheckpointCorrupt if it cannot be read as one."""
    path = out_dir / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"no harvester checkpoint in {out_dir}: check the path, or start a run with "
            f"`harvester run JOB --out {out_dir}`"
        )
    checkpoint = Checkpoint.open(path, readonly=True)
    try:
        with output_errors(path):
            progress = tuple(checkpoint.progress().values())
            staged = checkpoint.staged_pages()
    finally:
        checkpoint.close()
    running, pid = probe(out_dir)
    identity = checkpoint.identity
    return StatusReport(
        out_dir,
        identity.job_name,
        identity.job_sha256,
        identity.shards,
        identity.dedupe,
        progress,
        _totals(progress, staged),
        (out_dir / SUCCESS_NAME).exists(),
        running,
        pid,
    )


def _totals(searches: tuple[SearchProgress, ...], staged: int) -> dict[str, int]:
    totals: Counter[str] = Counter(searches=len(searches), staged_pages=staged)
    for search in searches:
        totals["final" if search.status else "pending"] += 1
        if search.status:
            totals[f"status_{search.status}"] += 1
        totals["pages"] += len(search.done_offsets)
        totals["records"] += search.records
        totals["duplicates"] += search.duplicates
        totals["calls"] += search.calls
        totals["retries"] += search.retries
    for key in ("final", "pending", "pages", "records", "duplicates", "calls", "retries"):
        totals.setdefault(key, 0)
    return dict(sorted(totals.items()))
