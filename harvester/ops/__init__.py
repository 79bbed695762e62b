"""Operations around a run: publish to a lake, export Parquet, metrics, partitions, merge.

Each module is one command's logic, called by `harvester.cli`; none prints or exits.
Optional extras are imported lazily: fsspec/s3fs (`[s3]`) only for URL destinations,
pyarrow (`[parquet]`) only for Parquet export.
"""

from __future__ import annotations

from harvester.ops.errors import (
    BadPartition,
    DestinationError,
    MergeConflict,
    MissingExtra,
    NotPublishable,
    OpsError,
)
from harvester.ops.export import ExportResult, export_parquet
from harvester.ops.merge import merge_runs
from harvester.ops.metrics import MetricsFile
from harvester.ops.partition import (
    Partition,
    parse_partition,
    partition_dir,
    partition_job,
    partition_of,
)
from harvester.ops.publish import PublishResult, lake_path, publish
from harvester.ops.verify import FinishedRun, RunFile, verify_run

__all__ = [
    "BadPartition",
    "DestinationError",
    "ExportResult",
    "FinishedRun",
    "MergeConflict",
    "MetricsFile",
    "MissingExtra",
    "NotPublishable",
    "OpsError",
    "Partition",
    "PublishResult",
    "RunFile",
    "export_parquet",
    "lake_path",
    "merge_runs",
    "parse_partition",
    "partition_dir",
    "partition_job",
    "partition_of",
    "publish",
    "verify_run",
]
