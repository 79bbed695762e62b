"""What a report shows, gathered from an output directory: the run's files and timeline.

A finished (or stopped) run is read from its own files, manifest.json and searches.jsonl,
so the page's numbers are the files' numbers and writing the report again gives the same
bytes. A directory whose run is still going is read from its checkpoint, read-only, as
`harvester status` does: nothing the run uses is touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from harvester.runreport.timeline import Segment, read_timeline
from harvester.sink import CHECKPOINT_NAME, MANIFEST_NAME, SEARCHES_NAME, SUCCESS_NAME, shard_name
from harvester.sink.checkpoint import Checkpoint
from harvester.sink.errors import output_errors
from harvester.sink.lock import probe
from harvester.sink.manifest import totals_of

__all__ = ["Story", "check_run_dir", "load_story"]


@dataclass(slots=True, frozen=True)
class Story:
    """One output directory's run, as the report tells it."""

    out_dir: Path
    job_name: str
    state: str  #: "running", "complete" (_SUCCESS) or "incomplete"
    running_pid: int | None
    runs: list[dict[str, Any]]  #: [{run_id, started_at, ended_at}] as in the manifest
    settings: dict[str, Any]
    totals: dict[str, Any]  #: as the manifest's totals (searches, by_status, records, ...)
    shards: list[dict[str, Any]]  #: [{path, records, bytes}]
    searches: list[dict[str, Any]]  #: searches.jsonl rows, in job order
    segments: list[Segment]  #: the timeline, one per run

    @property
    def last_end(self) -> dict[str, Any] | None:
        """The end line of the last segment (exit code, reason), if it has one."""
        return self.segments[-1].end if self.segments else None


def load_story(out_dir: Path, *, own_lock: bool = False, live: bool = False) -> Story:
    """The story of `out_dir`; FileNotFoundError if it holds no run. `own_lock`: the caller
    holds the directory's lock, so no other run is going; `live`: read the checkpoint even
    if there is a manifest (it may be a previous run's)."""
    running, pid = (False, None) if own_lock else probe(out_dir)
    segments = read_timeline(out_dir)
    if not running and not live and (out_dir / MANIFEST_NAME).is_file():
        return _from_files(out_dir, segments)
    if not (out_dir / CHECKPOINT_NAME).is_file():
        check_run_dir(out_dir)
    return _from_checkpoint(out_dir, segments, running, pid)


def check_run_dir(out_dir: Path) -> None:
    """FileNotFoundError, saying what to do, unless `out_dir` holds a run's files."""
    if (out_dir / MANIFEST_NAME).is_file() or (out_dir / CHECKPOINT_NAME).is_file():
        return
    raise FileNotFoundError(
        f"no harvester run in {out_dir} (no {MANIFEST_NAME}, no {CHECKPOINT_NAME}): "
        f"check the path, or start one with `harvester run JOB --out {out_dir}`"
    )


def _from_files(out_dir: Path, segments: list[Segment]) -> Story:
    with output_errors(out_dir / MANIFEST_NAME):
        manifest = orjson.loads((out_dir / MANIFEST_NAME).read_bytes())
        lines = (out_dir / SEARCHES_NAME).read_bytes().splitlines()
    searches = [orjson.loads(line) for line in lines if line.strip()]
    complete = bool(manifest.get("complete")) and (out_dir / SUCCESS_NAME).is_file()
    return Story(
        out_dir=out_dir,
        job_name=str(manifest.get("job_name", "")),
        state="complete" if complete else "incomplete",
        running_pid=None,
        runs=list(manifest.get("runs") or []),
        settings=dict(manifest.get("settings") or {}),
        totals=dict(manifest.get("totals") or {}),
        shards=[dict(s) for s in manifest.get("shards") or []],
        searches=searches,
        segments=segments,
    )


def _from_checkpoint(
    out_dir: Path, segments: list[Segment], running: bool, pid: int | None
) -> Story:
    path = out_dir / CHECKPOINT_NAME
    checkpoint = Checkpoint.open(path, readonly=True)
    try:
        with output_errors(path):
            searches = list(checkpoint.search_lines())
            shard_rows = checkpoint.shard_rows()
    finally:
        checkpoint.close()
    totals = totals_of(searches)
    shards = [
        {"path": shard_name(shard), "records": records, "bytes": size}
        for shard, size, records in shard_rows
    ]
    totals["bytes"] = sum(s["bytes"] for s in shards)
    runs = [
        {"run_id": s.run_id, "started_at": _iso(s.start), "ended_at": _segment_end(s)}
        for s in segments
    ]
    settings = dict(segments[-1].settings) if segments else {}
    settings.pop("searches", None)
    settings |= {"shards": checkpoint.identity.shards, "dedupe": checkpoint.identity.dedupe}
    return Story(
        out_dir=out_dir,
        job_name=checkpoint.identity.job_name,
        state="running" if running else "incomplete",
        running_pid=pid,
        runs=runs,
        settings=settings,
        totals=totals,
        shards=shards,
        searches=searches,
        segments=segments,
    )


def _segment_end(segment: Segment) -> str | None:
    return None if segment.end is None else _iso(segment.start + segment.duration)


def _iso(epoch: float) -> str:
    stamp = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")
