"""`harvester status`: a run's progress, read from its checkpoint, also while it runs.

The checkpoint is opened read-only (SQLite URI mode=ro); WAL lets it be read while the
writer commits, and nothing here takes the run's lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from harvester.sink.checkpoint import CHECKPOINT_NAME, Checkpoint, SearchProgress, epoch_of
from harvester.sink.errors import output_errors
from harvester.sink.lock import probe
from harvester.sink.manifest import SUCCESS_NAME, totals_of
from harvester.sink.vocabulary import SearchStatus

__all__ = ["StatusReport", "read_status"]

#: Shown first in the table: a search that is not final, or ended without its hits.
_NEEDS_A_LOOK = (None, SearchStatus.FAILED, SearchStatus.EXPIRED)


@dataclass(slots=True, frozen=True)
class StatusReport:
    """Per-search state and totals of one output directory."""

    out_dir: Path
    job_name: str
    job_sha256: str
    shards: int
    dedupe: str
    searches: tuple[SearchProgress, ...]  #: in job order
    #: as FinishResult.totals, plus staged_pages (fetched, waiting for their search to end)
    totals: dict[str, Any]
    success: bool  #: _SUCCESS is present
    running: bool  #: a run holds the directory's lock now
    running_pid: int | None
    run_start: float | None  #: epoch seconds when the first run into the directory started

    def to_json(self) -> str:
        """The report as one JSON object (done_offsets as sorted lists)."""
        searches = []
        for search in self.searches:
            row = {name: getattr(search, name) for name in SearchProgress.__slots__}
            row["done_offsets"] = sorted(search.done_offsets)
            searches.append(row)
        head = {name: getattr(self, name) for name in StatusReport.__slots__}
        head |= {"out_dir": str(self.out_dir), "searches": searches}
        return orjson.dumps(head).decode()

    def to_text(self, max_rows: int = 100) -> str:
        """The report for a terminal: a summary, then one line per search (unfinished and
        failed ones first when there are more than `max_rows`)."""
        t = self.totals
        state = (
            f"running (pid {self.running_pid})"
            if self.running and self.running_pid
            else "running"
            if self.running
            else "complete (_SUCCESS)"
            if self.success
            else "not running"
        )
        by_status = ", ".join(f"{status} {n:,}" for status, n in t["by_status"].items())
        lines = [
            f"job {self.job_name!r} in {self.out_dir}: {state}",
            f"searches  {t['searches']:,}: {t['final']:,} final ({by_status or 'none'}),"
            f" {t['pending']:,} pending",
            f"pages     {t['pages']:,} fetched ({t['staged_pages']:,} staged, waiting for"
            " their search to end)",
            f"records   {t['records']:,} written, {t['duplicates']:,} duplicates dropped",
            f"calls     {t['calls']:,} ({t['retries']:,} retries)",
            "",
        ]
        rows = sorted(self.searches, key=lambda s: s.status in _NEEDS_A_LOOK, reverse=True)
        # as wide as the longest id shown (an image's key holds its URL or path)
        width = max([40, *(len(search.search_id) for search in rows[:max_rows])])
        lines.append(
            f"{'search_id':<{width}} {'status':<10} {'total':>6} {'pages':>5} {'records':>7}  error"
        )
        for search in rows[:max_rows]:
            error = " ".join(str(part) for part in (search.error_code, search.error_msg) if part)
            lines.append(
                f"{search.search_id:<{width}} {search.status or SearchStatus.PENDING:<10}"
                f" {'-' if search.total is None else search.total:>6}"
                f" {len(search.done_offsets):>5} {search.records:>7}  {error}".rstrip()
            )
        if len(rows) > max_rows:
            lines.append(f"... and {len(rows) - max_rows:,} more (use --json for all)")
        return "\n".join(lines)


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
            first = checkpoint.first_run_start()
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
        None if first is None else epoch_of(first),
    )


def _totals(searches: tuple[SearchProgress, ...], staged: int) -> dict[str, Any]:
    rows = (
        {
            "status": s.status,
            "pages": len(s.done_offsets),
            "records": s.records,
            "duplicates": s.duplicates,
            "calls": s.calls,
            "retries": s.retries,
        }
        for s in searches
    )
    return {**totals_of(rows), "staged_pages": staged}
