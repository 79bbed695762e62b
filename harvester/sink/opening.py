"""Opening a run's directory: its checkpoint made or checked against the job, and --fresh.

A checkpoint is made only in a directory without output files of ours (another tool's
or a damaged run's files are not taken over); an existing one must belong to the same
job, else CheckpointMismatch lists the changes, the layout (shards, dedupe) named by the
sink and the rest by the caller's describer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from harvester.sink.checkpoint import (
    CHECKPOINT_NAME,
    LAYOUT,
    Checkpoint,
    JobIdentity,
    fingerprint_of,
)
from harvester.sink.errors import CheckpointMismatch, output_errors
from harvester.sink.manifest import MANIFEST_NAME, SEARCHES_NAME, SUCCESS_NAME
from harvester.sink.report_file import REPORT_NAME, TIMELINE_NAME
from harvester.sink.shards import EMPTY_MEMBER, fsync_dir

__all__ = ["ChangeDescriber", "delete_run_files", "is_output", "open_checkpoint"]

#: Describes what changed between two fingerprints (old, new), one line each.
ChangeDescriber = Callable[[Mapping[str, Any], Mapping[str, Any]], list[str]]

_PART = re.compile(r"part-\d{5}\.jsonl\.gz")


def open_checkpoint(
    out_dir: Path, identity: JobIdentity, search_ids: list[str], describe: ChangeDescriber | None
) -> Checkpoint:
    path = out_dir / CHECKPOINT_NAME
    if not path.exists():
        leftovers = sorted(p.name for p in out_dir.iterdir() if is_output(p.name))
        if leftovers:
            raise CheckpointMismatch(
                out_dir,
                [
                    f"output files without a checkpoint ({', '.join(leftovers[:3])}"
                    f"{', ...' if len(leftovers) > 3 else ''}): another tool's or a damaged run's"
                ],
            )
        return Checkpoint.create(path, identity, search_ids, len(EMPTY_MEMBER))
    checkpoint = Checkpoint.open(path)
    old = checkpoint.identity
    changes = identity.changes_from(old)
    if old.fingerprint != identity.fingerprint:
        new_fp = orjson.loads(identity.fingerprint)
        described = describe(fingerprint_of(old), new_fp) if describe is not None else []
        # The layout (shards, dedupe) is the sink's to name: a describer's line on the
        # same setting says it again in its own words, so it is left out.
        described = [line for line in described if line.split(":", 1)[0] not in LAYOUT]
        if not described and not changes:
            described = ["the job's fingerprint changed"]
        changes += described
    if changes:
        checkpoint.close()
        raise CheckpointMismatch(out_dir, changes)
    return checkpoint


def is_output(name: str) -> bool:
    return bool(_PART.fullmatch(name)) or name in (SEARCHES_NAME, MANIFEST_NAME, SUCCESS_NAME)


def delete_run_files(out_dir: Path) -> None:
    """--fresh: delete the previous run's files — ours only, _SUCCESS first so no reader
    trusts a directory half gone. Unknown files are left alone."""
    names = [SUCCESS_NAME, MANIFEST_NAME, SEARCHES_NAME, REPORT_NAME, TIMELINE_NAME]
    checkpoint_files = [CHECKPOINT_NAME + suffix for suffix in ("", "-wal", "-shm")]
    checkpoint_files += [f"{CHECKPOINT_NAME}.new{suffix}" for suffix in ("", "-wal", "-shm")]
    with output_errors(out_dir):
        parts = sorted(p.name for p in out_dir.iterdir() if _PART.fullmatch(p.name))
        for name in [*names, *parts, *checkpoint_files]:
            (out_dir / name).unlink(missing_ok=True)
            (out_dir / f".{name}.tmp").unlink(missing_ok=True)
        fsync_dir(out_dir)
