"""`report.html` and `_timeline.jsonl`: the run's picture, beside its data.

The report is written after the manifest (its exit code is known only then) and then
listed in it with its sha256, so `publish` verifies and carries it; when `_SUCCESS`
vouched for the old manifest it is stamped again for the new one, last.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson

from harvester.sink.errors import output_errors
from harvester.sink.manifest import MANIFEST_NAME, SUCCESS_NAME, atomic_write

__all__ = ["REPORT_NAME", "TIMELINE_NAME", "attach_report", "restamp"]

REPORT_NAME = "report.html"
#: Per-second counters of every run segment (written by the CLI's timeline recorder).
TIMELINE_NAME = "_timeline.jsonl"


def attach_report(out_dir: Path, data: bytes, *, list_in_manifest: bool = True) -> None:
    """Write `report.html`; with `list_in_manifest`, list it in manifest.json (if there is
    one) and stamp `_SUCCESS` again if it vouched for the manifest. Call with the
    directory's lock held, or with `list_in_manifest=False` while another run holds it."""
    atomic_write(out_dir / REPORT_NAME, data)
    manifest_path = out_dir / MANIFEST_NAME
    if not list_in_manifest or not manifest_path.is_file():
        return
    with output_errors(manifest_path):
        body = manifest_path.read_bytes()
    manifest = orjson.loads(body)
    entry = {"path": REPORT_NAME, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    if manifest.get("report") == entry:
        return
    manifest["report"] = entry
    restamp(out_dir, manifest, old_manifest=body)


def restamp(out_dir: Path, manifest: dict[str, object], *, old_manifest: bytes) -> None:
    """Write `manifest`, then `_SUCCESS` vouching for it if it vouched for `old_manifest`.
    Between the two renames the old stamp does not match, so a verifying reader refuses
    rather than trusting a mix."""
    body = orjson.dumps(
        manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE, default=str
    )
    success_path = out_dir / SUCCESS_NAME
    try:
        stamp = orjson.loads(success_path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        stamp = None
    vouched = (
        isinstance(stamp, dict)
        and stamp.get("manifest_sha256") == hashlib.sha256(old_manifest).hexdigest()
    )
    atomic_write(out_dir / MANIFEST_NAME, body)
    if vouched:
        assert isinstance(stamp, dict)
        stamp["manifest_sha256"] = hashlib.sha256(body).hexdigest()
        atomic_write(success_path, orjson.dumps(stamp, option=orjson.OPT_APPEND_NEWLINE))
