"""What a checkpoint belongs to (JobIdentity), and each search's resume state (SearchProgress).

Plain values read out of the checkpoint; the Sink compares a run's identity with the
stored one before it resumes, and hands SearchProgress to the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

__all__ = ["LAYOUT", "JobIdentity", "SearchProgress", "epoch_of", "fingerprint_of"]


@dataclass(slots=True, frozen=True)
class SearchProgress:
    """One search's state in the checkpoint: what the engine needs to resume it."""

    search_id: str
    total: int | None  #: last total the API reported (None before the first page)
    done_offsets: frozenset[int]  #: pages staged or written: never fetch these again
    status: str | None  #: None = not final
    records: int
    duplicates: int
    calls: int
    retries: int
    error_code: int | None
    error_msg: str | None
    deadline: str | None


#: The settings that shape a checkpoint's files: a resume must keep them.
LAYOUT = ("shards", "dedupe")


@dataclass(slots=True, frozen=True)
class JobIdentity:
    """What a checkpoint belongs to; a resume must match it."""

    job_name: str
    job_sha256: str
    fingerprint: bytes  #: canonical JSON (fingerprint.canonical)
    fingerprint_sha256: str
    shards: int
    dedupe: str

    def changes_from(self, other: JobIdentity) -> list[str]:
        """Differences in layout (shards, dedupe) that make `other` unusable for this job."""
        return [
            f"{key}: {getattr(other, key)} -> {getattr(self, key)}"
            for key in LAYOUT
            if getattr(self, key) != getattr(other, key)
        ]


def fingerprint_of(identity: JobIdentity) -> dict[str, Any]:
    """The stored fingerprint as a mapping (for describe_changes)."""
    value = orjson.loads(identity.fingerprint)
    return value if isinstance(value, dict) else {}


def epoch_of(stamp: str) -> float:
    """Epoch seconds of an ISO-8601 UTC stamp as the sink writes them ("...Z")."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
