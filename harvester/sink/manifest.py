"""The run's closing files: searches.jsonl, manifest.json, and _SUCCESS last.

Each is written atomically (temporary file, fsync, rename, fsync of the directory), so
a reader sees the old file or the new one, never half of one. _SUCCESS appears only
when every search of the job is final, after everything it vouches for.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from harvester.sink.checkpoint import Checkpoint, JobIdentity
from harvester.sink.errors import output_errors
from harvester.sink.images import annotate_lines
from harvester.sink.shards import fsync_dir, shard_name
from harvester.sink.vocabulary import SearchStatus

__all__ = [
    "MANIFEST_NAME",
    "SEARCHES_NAME",
    "SUCCESS_NAME",
    "FinishResult",
    "RunInfo",
    "atomic_write",
    "public_settings",
    "success_matches",
    "totals_of",
    "write_closing_files",
]

SEARCHES_NAME = "searches.jsonl"
MANIFEST_NAME = "manifest.json"
SUCCESS_NAME = "_SUCCESS"
FORMAT_VERSION = 1

# Setting names that may hold a credential: never written to the manifest.
_SECRET_NAME = re.compile(r"secret|token|passw|key|credential|auth|client_id", re.IGNORECASE)


@dataclass(slots=True, frozen=True)
class FinishResult:
    """What finish() wrote: success means _SUCCESS is there (every search final)."""

    success: bool
    manifest_path: Path
    totals: dict[str, Any]  #: as in the manifest: searches, final, pending, by_status, records, ...


@dataclass(slots=True, frozen=True)
class RunInfo:
    """This run's identity and times."""

    run_id: str
    started_at: str
    ended_at: str


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that readers see all of it or none."""
    tmp = path.with_name(f".{path.name}.tmp")
    with output_errors(path):
        with open(tmp, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)


def public_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """`settings` without anything that could be a credential (by name or by look)."""
    clean: dict[str, Any] = {}
    for name, value in settings.items():
        if _SECRET_NAME.search(str(name)):
            continue
        if isinstance(value, Mapping):
            value = public_settings(value)
        elif isinstance(value, str) and value.startswith("sk-"):
            continue
        clean[str(name)] = value
    return clean


def _sha256(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        left = size
        while left > 0:
            chunk = file.read(min(left, 1 << 20))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def totals_of(searches: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Sums over searches (searches.jsonl rows, status None or "pending" = not final):
    searches, final, pending, by_status {status: n}, pages, records, duplicates, calls, retries."""
    sums: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    for row in searches:
        status = row["status"]
        sums["searches"] += 1
        if status in (None, SearchStatus.PENDING):
            sums["pending"] += 1
        else:
            sums["final"] += 1
            by_status[status] += 1
        for key in ("pages", "records", "duplicates", "calls", "retries"):
            sums[key] += row[key]
    keys = ("searches", "final", "pending", "pages", "records", "duplicates", "calls", "retries")
    totals: dict[str, Any] = {key: sums[key] for key in keys}
    totals["by_status"] = dict(sorted(by_status.items()))
    return totals


def write_closing_files(
    checkpoint: Checkpoint,
    identity: JobIdentity,
    out_dir: Path,
    run: RunInfo,
    runs: list[tuple[str, str, str | None]],
    settings: Mapping[str, Any],
) -> FinishResult:
    """Write searches.jsonl and manifest.json; then _SUCCESS iff every search is final."""
    success_path = out_dir / SUCCESS_NAME
    with output_errors(success_path):
        success_path.unlink(missing_ok=True)  # stale until proven again
    lines = list(annotate_lines(checkpoint.connection, checkpoint.search_lines()))
    option = orjson.OPT_APPEND_NEWLINE
    atomic_write(
        out_dir / SEARCHES_NAME, b"".join(orjson.dumps(line, option=option) for line in lines)
    )
    totals = totals_of(lines)
    final = totals["pending"] == 0
    shards: list[dict[str, object]] = []
    for shard, size, records in checkpoint.shard_rows():
        path = out_dir / shard_name(shard)
        with output_errors(path):
            sha = _sha256(path, size)
        shards.append({"path": path.name, "records": records, "bytes": size, "sha256": sha})
        totals["bytes"] = totals.get("bytes", 0) + size
    manifest = {
        "format": FORMAT_VERSION,
        "run_id": run.run_id,
        "job_name": identity.job_name,
        "job_sha256": identity.job_sha256,
        "fingerprint_sha256": identity.fingerprint_sha256,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "runs": [{"run_id": r, "started_at": s, "ended_at": e} for r, s, e in runs],
        "settings": {
            **public_settings(settings),
            "shards": identity.shards,
            "dedupe": identity.dedupe,
        },
        "complete": final,
        "shards": shards,
        "searches_file": SEARCHES_NAME,
        "totals": totals,
    }
    body = orjson.dumps(
        manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE, default=str
    )
    manifest_path = out_dir / MANIFEST_NAME
    atomic_write(manifest_path, body)
    if final:
        stamp = {
            "run_id": run.run_id,
            "fingerprint_sha256": identity.fingerprint_sha256,
            "manifest_sha256": hashlib.sha256(body).hexdigest(),
        }
        atomic_write(success_path, orjson.dumps(stamp, option=orjson.OPT_APPEND_NEWLINE))
    return FinishResult(final, manifest_path, totals)


def success_matches(out_dir: Path, fingerprint_sha256: str) -> bool:
    """True if _SUCCESS exists and vouches for this fingerprint and the manifest as it is."""
    try:
        stamp = orjson.loads((out_dir / SUCCESS_NAME).read_bytes())
        manifest = (out_dir / MANIFEST_NAME).read_bytes()
    except (OSError, orjson.JSONDecodeError):
        return False
    return (
        isinstance(stamp, dict)
        and stamp.get("fingerprint_sha256") == fingerprint_sha256
        and stamp.get("manifest_sha256") == hashlib.sha256(manifest).hexdigest()
    )
