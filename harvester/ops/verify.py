"""Check that an output directory holds a finished run whose files are the ones its manifest
vouches for: the gate in front of publish, export and merge.

    run = verify_run(Path("out/nightly/dt=2026-11-25"))   # raises NotPublishable
    for file in run.data: ...                             # shards, exports, searches.jsonl
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from harvester.ops.errors import NotPublishable
from harvester.sink import MANIFEST_NAME, SEARCHES_NAME, SUCCESS_NAME

__all__ = ["FinishedRun", "RunFile", "digest_file", "listed_files", "read_stamped", "verify_run"]

_CHUNK = 1 << 20


@dataclass(slots=True, frozen=True)
class RunFile:
    """One file of a run, as found on disk (and checked against the manifest)."""

    name: str  #: a plain file name inside the output directory
    size: int
    sha256: str
    md5: str  #: what S3 reports as the ETag of a single-part upload


@dataclass(slots=True, frozen=True)
class FinishedRun:
    """A finished, intact run: its manifest and _SUCCESS bytes, and its data files."""

    out_dir: Path
    manifest: dict[str, Any]
    manifest_bytes: bytes
    success_bytes: bytes
    data: tuple[RunFile, ...]  #: listed files, then searches.jsonl: everything before manifest


def digest_file(path: Path) -> RunFile:
    """Size, sha256 and md5 of a file in one pass."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            sha.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return RunFile(path.name, size, sha.hexdigest(), md5.hexdigest())


def listed_files(manifest: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The data files a manifest lists: NDJSON shards, exported files (e.g. Parquet), then
    the run's report.html."""
    yield from manifest.get("shards") or []
    for files in (manifest.get("exports") or {}).values():
        yield from files
    if manifest.get("report"):
        yield manifest["report"]


def read_stamped(success: bytes, manifest: bytes, where: str) -> dict[str, Any]:
    """The manifest, if _SUCCESS vouches for these exact manifest bytes; else NotPublishable."""
    try:
        stamp = orjson.loads(success)
        parsed = orjson.loads(manifest)
    except orjson.JSONDecodeError as exc:
        raise NotPublishable(f"{where}: _SUCCESS or manifest.json is not JSON ({exc})") from None
    if not isinstance(stamp, dict) or not isinstance(parsed, dict):
        raise NotPublishable(f"{where}: _SUCCESS or manifest.json is not a JSON object")
    if stamp.get("manifest_sha256") != hashlib.sha256(manifest).hexdigest():
        raise NotPublishable(
            f"{where}: manifest.json was changed after _SUCCESS was written, so nothing in it "
            "can be trusted. Run the job again into a fresh directory (--fresh)."
        )
    return parsed


def verify_run(out_dir: Path) -> FinishedRun:
    """The run in `out_dir`, checked file by file; NotPublishable names the first problem."""
    success_path, manifest_path = out_dir / SUCCESS_NAME, out_dir / MANIFEST_NAME
    if not out_dir.is_dir():
        raise NotPublishable(
            f"{out_dir} does not exist (or is not a directory): give the run's output "
            "directory, e.g. out/<job>/dt=<date>"
        )
    if not success_path.is_file():
        raise NotPublishable(
            f"{out_dir} has no {SUCCESS_NAME}: the run is unfinished or still going. "
            f"See `harvester status {out_dir}`; run the job again to finish it."
        )
    try:
        success, body = success_path.read_bytes(), manifest_path.read_bytes()
    except OSError as exc:
        raise NotPublishable(f"{out_dir}: cannot read the manifest ({exc})") from None
    manifest = read_stamped(success, body, str(out_dir))
    data = [_checked(out_dir, entry) for entry in listed_files(manifest)]
    data.append(_checked_searches(out_dir, manifest))
    return FinishedRun(out_dir, manifest, body, success, tuple(data))


def _checked(out_dir: Path, entry: Mapping[str, Any]) -> RunFile:
    name = str(entry.get("path", ""))
    if not name or Path(name).name != name or name.startswith("."):
        raise NotPublishable(f"{out_dir}: manifest lists {name!r}, which is not a file name")
    path = out_dir / name
    if not path.is_file():
        raise NotPublishable(f"{path} is listed in the manifest but missing. {_ADVICE}")
    found = digest_file(path)
    if found.size != entry.get("bytes") or found.sha256 != entry.get("sha256"):
        raise NotPublishable(
            f"{path} does not match the manifest (sha256 {found.sha256[:12]}..., "
            f"{found.size} bytes; manifest: {str(entry.get('sha256'))[:12]}..., "
            f"{entry.get('bytes')} bytes): it changed after the run finished. {_ADVICE}"
        )
    return found


def _checked_searches(out_dir: Path, manifest: Mapping[str, Any]) -> RunFile:
    path = out_dir / str(manifest.get("searches_file") or SEARCHES_NAME)
    if not path.is_file():
        raise NotPublishable(f"{path} is missing. {_ADVICE}")
    with open(path, "rb") as file:
        lines = sum(1 for _ in file)
    expected = (manifest.get("totals") or {}).get("searches")
    if expected is not None and lines != expected:
        raise NotPublishable(
            f"{path} has {lines} lines but the manifest counts {expected} searches. {_ADVICE}"
        )
    return digest_file(path)


_ADVICE = "Do not publish it: restore the file, or run the job again into a fresh directory."
