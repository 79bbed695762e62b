"""The sink: shard files, dedupe, checkpoint and resume, the closing files, status.

It owns everything on disk in a run's output directory. It imports neither `api` nor
`engine`: pages arrive as `PageFetched` holding any `HitLike` objects.
"""

from __future__ import annotations

from harvester.sink.checkpoint import CHECKPOINT_NAME, SearchProgress
from harvester.sink.core import Sink
from harvester.sink.errors import (
    CheckpointCorrupt,
    CheckpointMismatch,
    OutputError,
    OutputLocked,
    SinkError,
    UnknownSearch,
)
from harvester.sink.lock import LOCK_NAME
from harvester.sink.manifest import MANIFEST_NAME, SEARCHES_NAME, SUCCESS_NAME, FinishResult
from harvester.sink.messages import HitLike, Message, PageFetched, SearchEnded
from harvester.sink.records import shard_of
from harvester.sink.report_file import REPORT_NAME, TIMELINE_NAME, attach_report, restamp
from harvester.sink.shards import shard_name
from harvester.sink.status import StatusReport, read_status
from harvester.sink.vocabulary import DEDUPE_SCOPES, FINAL_STATUSES, DedupeScope, SearchStatus
from harvester.sink.writer import CommitStats

__all__ = [
    "CHECKPOINT_NAME",
    "DEDUPE_SCOPES",
    "FINAL_STATUSES",
    "LOCK_NAME",
    "MANIFEST_NAME",
    "REPORT_NAME",
    "SEARCHES_NAME",
    "SUCCESS_NAME",
    "TIMELINE_NAME",
    "CheckpointCorrupt",
    "CheckpointMismatch",
    "CommitStats",
    "DedupeScope",
    "FinishResult",
    "HitLike",
    "Message",
    "OutputError",
    "OutputLocked",
    "PageFetched",
    "SearchEnded",
    "SearchProgress",
    "SearchStatus",
    "Sink",
    "SinkError",
    "StatusReport",
    "UnknownSearch",
    "attach_report",
    "read_status",
    "restamp",
    "shard_name",
    "shard_of",
]
