"""`harvester export --format parquet`: typed Parquet files from a finished run's NDJSON.

    export_parquet(Path("out/nightly/dt=2026-11-25"))               # beside the NDJSON
    export_parquet(Path("out/nightly/dt=2026-11-25"), replace=True)  # instead of it

One `part-NNNNN.parquet` per shard, same records in the same order, zstd-compressed. The
manifest lists them under `exports.parquet` (with --replace, `shards` becomes empty) and
_SUCCESS is re-stamped for the new manifest, so publish verifies and copies them too.
pyarrow is an optional extra, imported only here. A run with searches made from images
has an `image` column after `search_id` (the job's value; null for searches given by id);
a run of ids only has the columns it always had.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from harvester.ops.errors import MissingExtra, NotPublishable
from harvester.ops.store import mapped_errors
from harvester.ops.verify import FinishedRun, digest_file, verify_run
from harvester.sink import SEARCHES_NAME, restamp

__all__ = ["COLUMNS", "ExportResult", "export_parquet", "record_schema"]

PARQUET_HINT = "pip install '.[parquet]' in the harvester's clone (it is on no package index)"
#: Record fields in file order, with their Parquet types (see record_schema()).
COLUMNS = ("search_id", "patent_id", "patent_pn", "title", "score", "url", "rank", "harvested_at")
_AGAIN = "Export again once that is fixed: it picks up where it stopped."
_NDJSON = "part-[0-9][0-9][0-9][0-9][0-9].jsonl.gz"
_BATCH = 65_536  # rows per record batch (and row group): flat memory, good column chunks


@dataclass(slots=True, frozen=True)
class ExportResult:
    """What export did."""

    files: tuple[str, ...]  #: Parquet file names
    records: int
    written: bool  #: False if the Parquet files were already there and intact
    removed: tuple[str, ...]  #: NDJSON shards deleted (--replace)


def _pyarrow() -> tuple[Any, Any]:
    try:
        # optional extra: imported only when exporting
        import pyarrow  # type: ignore[import-untyped]
        import pyarrow.parquet  # type: ignore[import-untyped]
    except ImportError:
        raise MissingExtra(f"Parquet export needs pyarrow: {PARQUET_HINT}") from None
    return pyarrow, pyarrow.parquet


def record_schema(*, images: bool = False) -> Any:
    """The Parquet schema of a record (ids and rank never null; others as the API sends);
    with `images`, the `image` column too."""
    pa, _ = _pyarrow()
    image = [pa.field("image", pa.string())] if images else []
    return pa.schema(
        [
            pa.field("search_id", pa.string(), nullable=False),
            *image,
            pa.field("patent_id", pa.string(), nullable=False),
            pa.field("patent_pn", pa.string()),
            pa.field("title", pa.string()),
            pa.field("score", pa.float64()),
            pa.field("url", pa.string()),
            pa.field("rank", pa.int32(), nullable=False),
            pa.field("harvested_at", pa.timestamp("ms", tz="UTC"), nullable=False),
        ]
    )


def export_parquet(out_dir: Path, *, replace: bool = False) -> ExportResult:
    """Write Parquet beside the NDJSON of the finished run in `out_dir` (or instead of it).

    Raises NotPublishable (unfinished or tampered run, or a record count that does not
    match), MissingExtra. Running it again is a no-op (or finishes an interrupted one)."""
    run = verify_run(out_dir)
    with mapped_errors("exporting", str(out_dir), _AGAIN):
        return _export(run, replace)


def _export(run: FinishedRun, replace: bool) -> ExportResult:
    out_dir = run.out_dir
    manifest = dict(run.manifest)
    exports = dict(manifest.get("exports") or {})
    written = "parquet" not in exports
    if written:
        exports["parquet"] = [_convert(run, shard) for shard in manifest.get("shards") or []]
    files = exports["parquet"]
    relist = replace and bool(manifest.get("shards"))
    if written or relist:
        manifest["exports"] = exports
        if replace:
            manifest["shards"], manifest["replaced"] = [], ["ndjson"]
        _restamp(run, manifest)
    # Every NDJSON shard on disk, also those an interrupted --replace left behind.
    removed = sorted(p.name for p in out_dir.glob(_NDJSON)) if replace else []
    for name in removed:
        (out_dir / name).unlink(missing_ok=True)  # only after the manifest stopped listing it
    records = sum(int(f["records"]) for f in files)
    return ExportResult(tuple(str(f["path"]) for f in files), records, written, tuple(removed))


def _convert(run: FinishedRun, shard: dict[str, Any]) -> dict[str, Any]:
    """One shard as Parquet (temporary name, then rename); its manifest entry."""
    pa, pq = _pyarrow()
    schema = record_schema(images=_has_images(run.out_dir))
    source = run.out_dir / str(shard["path"])
    name = str(shard["path"]).removesuffix(".jsonl.gz") + ".parquet"
    target = run.out_dir / name
    tmp = target.with_name(f".{name}.tmp")
    count = 0
    try:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for rows in _batches(source, tuple(schema.names)):
                columns = [pa.array(rows[f.name], type=f.type) for f in list(schema)[:-1]]
                stamps = pa.array(rows["harvested_at"], type=pa.string())
                columns.append(stamps.cast(schema.field("harvested_at").type))
                writer.write_batch(pa.record_batch(columns, schema=schema))
                count += len(rows["search_id"])
        if count != shard["records"]:
            raise NotPublishable(
                f"{source} holds {count} records, the manifest says {shard['records']}: "
                "not exported. Run the job again into a fresh directory."
            )
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    found = digest_file(target)
    return {"path": name, "records": count, "bytes": found.size, "sha256": found.sha256}


def _has_images(out_dir: Path) -> bool:
    """Whether the run made searches from images (searches.jsonl says so)."""
    with open(out_dir / SEARCHES_NAME, "rb") as lines:
        return any(b'"image":' in line for line in lines)


def _batches(path: Path, columns: tuple[str, ...] = COLUMNS) -> Iterator[dict[str, list[Any]]]:
    """The shard's records as `columns`, `_BATCH` rows at a time."""
    rows: dict[str, list[Any]] = {c: [] for c in columns}
    with gzip.open(path, "rb") as lines:
        for line in lines:
            if not line.strip():
                continue
            record = orjson.loads(line)
            for column in columns:
                rows[column].append(record.get(column))
            if len(rows["search_id"]) >= _BATCH:
                yield rows
                rows = {c: [] for c in columns}
    if rows["search_id"]:
        yield rows


def _restamp(run: FinishedRun, manifest: dict[str, Any]) -> None:
    restamp(run.out_dir, manifest, old_manifest=run.manifest_bytes)
