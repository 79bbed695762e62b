"""Partitioned jobs: worker I of N takes the searches whose crc32(search_id) % N == I - 1.

    part = parse_partition("2/4")                  # 1-based: 1/4 .. 4/4
    share = partition_job(job, part)               # a Job with only this worker's searches
    out = partition_dir(default_out, part)         # .../dt=2026-11-25/part=2-of-4

crc32 of the id's UTF-8 bytes is stable across machines, Python versions and job-file order,
so every worker computes the same split without talking to the others. The share's
fingerprint lists only its own searches, so a worker resumes only its own directory.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

from harvester.jobs import Job
from harvester.ops.errors import BadPartition

__all__ = ["Partition", "parse_partition", "partition_dir", "partition_job", "partition_of"]

_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(slots=True, frozen=True)
class Partition:
    """Worker `index` (1-based) of `count`."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def label(self) -> str:
        """The folder-safe form, `I-of-N`."""
        return f"{self.index}-of-{self.count}"


def parse_partition(text: str) -> Partition:
    """`"I/N"` with 1 <= I <= N, else BadPartition saying what is allowed."""
    found = _SPEC.fullmatch(text)
    if found is None:
        raise BadPartition(f"--partition {text!r}: expected I/N, e.g. 1/4 (workers count from 1)")
    index, count = int(found.group(1)), int(found.group(2))
    if count < 1 or not 1 <= index <= count:
        raise BadPartition(
            f"--partition {text!r}: I must be between 1 and N (N >= 1), e.g. 1/{max(count, 2)} "
            f"to {max(count, 2)}/{max(count, 2)}"
        )
    return Partition(index, count)


def partition_of(search_id: str, count: int) -> int:
    """The 1-based partition a search belongs to among `count`."""
    return zlib.crc32(search_id.encode()) % count + 1


def partition_job(job: Job, part: Partition, *, rate_given: bool = True) -> Job:
    """`job` with only `part`'s searches. Unless the rate was given for this worker
    (`--rate`), the job's rate (the account's) is divided by N: N workers share it."""
    searches = tuple(s for s in job.searches if partition_of(s.search_id, part.count) == part.index)
    settings = job.settings
    if not rate_given:
        settings = dataclasses.replace(settings, rate=settings.rate / part.count)
    return dataclasses.replace(job, settings=settings, searches=searches)


def partition_dir(base: Path, part: Partition) -> Path:
    """The default output directory of a worker: `<base>/part=I-of-N`."""
    return base / f"part={part.label}"
