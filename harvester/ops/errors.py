"""What can go wrong in the operations commands, grouped by what the operator does about it.

OpsError
 ├── NotPublishable     the run is unfinished or its files do not match its manifest (exit 2)
 ├── MergeConflict      the runs given to merge do not belong together (exit 2)
 ├── MissingExtra       an optional dependency is not installed (exit 2)
 ├── BadPartition       "--partition I/N" is malformed (exit 2)
 └── DestinationError   reading or writing the destination failed; safe to retry (exit 1)
"""

from __future__ import annotations

__all__ = [
    "BadPartition",
    "DestinationError",
    "MergeConflict",
    "MissingExtra",
    "NotPublishable",
    "OpsError",
]


class OpsError(Exception):
    """Base of the operations errors; the message says what to do."""


class NotPublishable(OpsError):
    """The run has no _SUCCESS, or a file differs from what its manifest records."""


class MergeConflict(OpsError):
    """Runs of different jobs, overlapping searches, or a partition missing or repeated."""


class MissingExtra(OpsError):
    """An optional extra (s3, parquet) is needed and not installed."""


class BadPartition(OpsError, ValueError):
    """A partition spec that is not I/N with 1 <= I <= N."""


class DestinationError(OpsError):
    """The destination refused a read or a write (network, permission, missing bucket)."""
