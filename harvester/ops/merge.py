"""`harvester merge`: one run description from the finished runs of a partitioned job.

    merged = merge_runs(["out/x/dt=2026-11-25/part=1-of-2", "out/x/dt=2026-11-25/part=2-of-2"])
    # or the published copies: "s3://lake/patents/job=x/dt=2026-11-25/part=1-of-2", ...

Only manifest.json, _SUCCESS and searches.jsonl are read (publish verified the data).
Checks: every run has a _SUCCESS that vouches for its manifest; all are runs of the same
job file (job_sha256) and dedupe scope; no search is in two runs; partitioned runs are all
N of the same split, each once. Totals are summed.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from harvester.ops.errors import MergeConflict, NotPublishable
from harvester.ops.store import open_store
from harvester.ops.verify import read_stamped
from harvester.sink import MANIFEST_NAME, SEARCHES_NAME, SUCCESS_NAME

__all__ = ["merge_runs", "write_json"]

_SHOWN = 5


def merge_runs(
    sources: Sequence[str], *, storage_options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The merged description of the runs at `sources` (paths or fsspec URLs).

    Raises NotPublishable (a run without a valid _SUCCESS), MergeConflict, MissingExtra,
    DestinationError."""
    if not sources:
        raise MergeConflict("merge needs at least one output directory")
    runs = [_read(source, storage_options) for source in sources]
    first = runs[0]["manifest"]
    for key in ("job_name", "job_sha256"):
        values = {str(r["manifest"].get(key)) for r in runs}
        if len(values) > 1:
            raise MergeConflict(
                f"the runs are of different jobs ({key}: "
                + "; ".join(f"{r['source']}: {r['manifest'].get(key)}" for r in runs)
                + "). Merge only the partitions of one job file."
            )
    dedupes = {str(_settings(r).get("dedupe")) for r in runs}
    if len(dedupes) > 1:
        raise MergeConflict(f"the runs use different dedupe scopes: {sorted(dedupes)}")
    count = _check_partitions(runs)
    _check_disjoint(runs)
    runs.sort(key=lambda r: _index(r) or 0)
    merged: dict[str, Any] = {
        "format": 1,
        "kind": "merged",
        "job_name": first.get("job_name"),
        "job_sha256": first.get("job_sha256"),
        "dedupe": dedupes.pop(),
        "partitions": count,
        "started_at": min(str(r["manifest"].get("started_at")) for r in runs),
        "ended_at": max(str(r["manifest"].get("ended_at")) for r in runs),
        "complete": all(bool(r["manifest"].get("complete")) for r in runs),
        "runs": [_describe(r) for r in runs],
        "totals": _sum_totals([r["manifest"].get("totals") or {} for r in runs]),
    }
    if merged["dedupe"] == "job" and len(runs) > 1:
        merged["note"] = (
            'dedupe = "job" holds within each run: a patent may appear in more than one of them'
        )
    return merged


def _read(source: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    store = open_store(source, options)
    success = store.read(store.join(SUCCESS_NAME))
    if success is None:
        raise NotPublishable(
            f"{source} has no {SUCCESS_NAME}: that run is unfinished; finish it (run the same "
            "command again) before merging"
        )
    body = store.read(store.join(MANIFEST_NAME))
    if body is None:
        raise NotPublishable(f"{source} has no {MANIFEST_NAME}")
    manifest = read_stamped(success, body, source)
    lines = store.read(store.join(str(manifest.get("searches_file") or SEARCHES_NAME))) or b""
    ids = [_identity(orjson.loads(line)) for line in lines.splitlines() if line.strip()]
    return {"source": source, "manifest": manifest, "ids": ids, "manifest_bytes": body}


def _identity(line: Mapping[str, Any]) -> str:
    """What a searches.jsonl line is about: its search_id, or for an image the image (its
    search_ids are made by each run)."""
    image = line.get("image")
    return f"image {image}" if isinstance(image, str) else str(line["search_id"])


def _settings(run: Mapping[str, Any]) -> Mapping[str, Any]:
    settings: Mapping[str, Any] = run["manifest"].get("settings") or {}
    return settings


def _spec(run: Mapping[str, Any]) -> tuple[int, int] | None:
    text = str(_settings(run).get("partition") or "")
    index, _, count = text.partition("/")
    return (int(index), int(count)) if index.isdigit() and count.isdigit() else None


def _index(run: Mapping[str, Any]) -> int | None:
    spec = _spec(run)
    return None if spec is None else spec[0]


def _check_disjoint(runs: list[dict[str, Any]]) -> None:
    owner: dict[str, str] = {}
    clashes: list[str] = []
    for run in runs:
        for search_id in run["ids"]:
            if search_id in owner:
                clashes.append(f"{search_id} ({owner[search_id]} and {run['source']})")
            owner[search_id] = run["source"]
    if clashes:
        raise MergeConflict(
            f"{len(clashes)} search(es) are in more than one run, e.g. "
            + ", ".join(clashes[:_SHOWN])
            + ". Merge each partition once, from runs of the same --partition N."
        )


def _check_partitions(runs: list[dict[str, Any]]) -> int | None:
    """N if the runs are partitions (then all N, each once), None if none is."""
    specs = [_spec(r) for r in runs]
    if all(s is None for s in specs):
        return None
    if any(s is None for s in specs):
        raise MergeConflict("some runs are partitions (--partition) and some are not")
    counts = {s[1] for s in specs if s is not None}
    if len(counts) > 1:
        raise MergeConflict(f"the runs split the job differently (N = {sorted(counts)})")
    count = counts.pop()
    seen = Counter(s[0] for s in specs if s is not None)
    repeated = sorted(i for i, n in seen.items() if n > 1)
    missing = sorted(set(range(1, count + 1)) - set(seen))
    problems = [f"repeated {i}/{count}" for i in repeated]
    problems += [f"missing {i}/{count}" for i in missing]
    if problems:
        raise MergeConflict(
            f"partitions of {count}: {', '.join(problems)}. "
            "Give every partition's output directory once."
        )
    return count


def _describe(run: Mapping[str, Any]) -> dict[str, Any]:
    manifest = run["manifest"]
    spec = _spec(run)
    return {
        "source": run["source"],
        "partition": None if spec is None else f"{spec[0]}/{spec[1]}",
        "run_id": manifest.get("run_id"),
        "manifest_sha256": hashlib.sha256(run["manifest_bytes"]).hexdigest(),
        "started_at": manifest.get("started_at"),
        "ended_at": manifest.get("ended_at"),
        "shards": manifest.get("shards") or [],
        "exports": manifest.get("exports") or {},
        "searches_file": manifest.get("searches_file") or SEARCHES_NAME,
        "totals": manifest.get("totals") or {},
    }


def _sum_totals(all_totals: list[Mapping[str, Any]]) -> dict[str, Any]:
    sums: dict[str, float] = {}
    by_status: Counter[str] = Counter()
    for totals in all_totals:
        for key, value in totals.items():
            if key == "by_status":
                by_status.update(value)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                sums[key] = sums.get(key, 0) + value
    return {**sums, "by_status": dict(sorted(by_status.items()))}


def write_json(data: Mapping[str, Any], dest: str) -> None:
    """Write `data` as indented JSON to a path or fsspec URL, whole or not at all."""
    folder, _, name = dest.rstrip("/").rpartition("/")
    store = open_store(folder or ".")
    store.put_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2), store.join(name))
