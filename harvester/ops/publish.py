"""`harvester publish`: copy a finished run to a lake path, so that no reader sees half of it.

    result = publish(Path("out/nightly/dt=2026-11-25"), "s3://lake/patents")
    # -> s3://lake/patents/job=nightly/dt=2026-11-25/{part-*.jsonl.gz, searches.jsonl,
    #    manifest.json, _SUCCESS}

Order: an old _SUCCESS at the destination is removed first (its run is being replaced),
then the data files, then stale files of an older run, then manifest.json, _SUCCESS last.
A destination that already holds this run's manifest and _SUCCESS, with every file at its
size, is left untouched; otherwise a file is uploaded unless the destination proves it holds
the same bytes (sha256 on disk, or the MD5 ETag of a single-part S3 upload).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harvester.ops.store import Store, open_store
from harvester.ops.verify import FinishedRun, verify_run
from harvester.sink import MANIFEST_NAME, REPORT_NAME, SEARCHES_NAME, SUCCESS_NAME

__all__ = ["PublishResult", "lake_path", "publish", "run_date"]

_DT = re.compile(r"dt=(\d{4}-\d{2}-\d{2})")
_PART = re.compile(r"(\d+)/(\d+)")
#: Data files a run of ours may leave at a destination; anything else there is left alone.
_OURS = re.compile(
    r"part-\d{5}\.(jsonl\.gz|parquet)|" + re.escape(SEARCHES_NAME) + "|" + re.escape(REPORT_NAME)
)


@dataclass(slots=True, frozen=True)
class PublishResult:
    """What publish did at the destination."""

    destination: str  #: the run's directory there, as a path or URL
    uploaded: tuple[str, ...]  #: file names written, in order (_SUCCESS last)
    kept: tuple[str, ...]  #: data files already there with the same bytes
    deleted: tuple[str, ...]  #: stale data files of an older run, removed

    @property
    def unchanged(self) -> bool:
        """True if the destination already held exactly this run."""
        return not self.uploaded and not self.deleted


def run_date(out_dir: Path, manifest: Mapping[str, Any]) -> str:
    """The run's `dt`: from its directory name (`dt=...`, or the parent's for `part=...`),
    else the date the first run into it started."""
    where = out_dir.resolve()
    for name in (where.name, where.parent.name):
        if found := _DT.fullmatch(name):
            return found.group(1)
    runs = manifest.get("runs") or []
    started = runs[0].get("started_at") if runs else manifest.get("started_at")
    return str(started)[:10]


def lake_path(run: FinishedRun) -> tuple[str, ...]:
    """Hive-style partition folders: `job=<name>/dt=<date>`, plus `part=I-of-N` for a
    partitioned run (each worker publishes its own share)."""
    parts = [f"job={run.manifest['job_name']}", f"dt={run_date(run.out_dir, run.manifest)}"]
    spec = str((run.manifest.get("settings") or {}).get("partition") or "")
    if found := _PART.fullmatch(spec):
        parts.append(f"part={found.group(1)}-of-{found.group(2)}")
    return tuple(parts)


def publish(
    out_dir: Path,
    dest: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
    store: Store | None = None,
) -> PublishResult:
    """Verify the run in `out_dir` and copy it under `dest` (a path or fsspec URL).

    Raises NotPublishable (unfinished or tampered run; nothing is written), MissingExtra,
    DestinationError (safe to run again: it resumes)."""
    run = verify_run(out_dir)
    store = store or open_store(dest, storage_options)
    prefix = lake_path(run)

    def at(name: str) -> str:
        return store.join(*prefix, name)

    where = store.url(store.join(*prefix))
    old_manifest, old_success = store.read(at(MANIFEST_NAME)), store.read(at(SUCCESS_NAME))
    names = tuple(f.name for f in run.data)
    if (
        old_manifest == run.manifest_bytes
        and old_success == run.success_bytes
        and all(store.size(at(f.name)) == f.size for f in run.data)
    ):
        return PublishResult(where, (), names, ())
    if old_success is not None:
        store.delete(at(SUCCESS_NAME))  # from here on, no reader trusts the old files
    uploaded: list[str] = []
    kept: list[str] = []
    for file in run.data:
        if store.matches(at(file.name), file):
            kept.append(file.name)
        else:
            store.put_file(out_dir / file.name, at(file.name))
            uploaded.append(file.name)
    stale = [
        name
        for name in store.names(store.join(*prefix))
        if _OURS.fullmatch(name) and name not in names
    ]
    for name in stale:
        store.delete(at(name))
    store.put_bytes(run.manifest_bytes, at(MANIFEST_NAME))
    store.put_bytes(run.success_bytes, at(SUCCESS_NAME))
    uploaded += [MANIFEST_NAME, SUCCESS_NAME]
    return PublishResult(where, tuple(uploaded), tuple(kept), tuple(stale))
