"""Operations around a run: publish to a lake, export Parquet, metrics, partitions, merge.

Each module is one command's logic, called by `harvester.cli`; none prints or exits.
Optional extras are imported lazily: fsspec/s3fs (`[s3]`) only for URL destinations,
pyarrow (`[parquet]`) only for Parquet export; so are the command modules themselves.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from harvester.ops.errors import (
    BadPartition,
    DestinationError,
    MergeConflict,
    MissingExtra,
    NotPublishable,
    OpsError,
)
from harvester.ops.partition import (
    Partition,
    parse_partition,
    partition_dir,
    partition_job,
    partition_of,
)

# eager: `publish` is also the name of its module, which the import system binds on this
# package when it loads that module (a lazily looked-up function would lose to it)
from harvester.ops.publish import PublishResult, lake_path, publish
from harvester.ops.verify import FinishedRun, RunFile, verify_run

if TYPE_CHECKING:
    from harvester.ops.export import ExportResult, export_parquet
    from harvester.ops.merge import merge_runs
    from harvester.ops.metrics import MetricsFile

#: Imported on first use: `harvester run` (whose start-up CPU figure 1b counts per page)
#: needs neither export, merge nor (without --metrics-file) the metrics file.
_LAZY = {
    "ExportResult": "export",
    "export_parquet": "export",
    "merge_runs": "merge",
    "MetricsFile": "metrics",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # looked up once
    return value


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
