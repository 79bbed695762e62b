"""The job as values: settings, searches, and the problems a job file can have."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from harvester.jobs.fingerprint import job_fingerprint
from harvester.sink.vocabulary import DEDUPE_SCOPES  # the sink does the deduplicating

__all__ = [
    "DEDUPE_SCOPES",
    "IMAGE_KEY_PREFIX",
    "Concurrency",
    "Job",
    "JobFileError",
    "JobSettings",
    "Problem",
    "Search",
]

#: Calls in flight: "auto" follows rate x observed latency; a number pins it.
Concurrency = int | Literal["auto"]

#: An image's search is keyed "image:<the job's value>" until the run creates its search_id.
IMAGE_KEY_PREFIX = "image:"


@dataclass(slots=True, frozen=True)
class JobSettings:
    """The `[job]` table after defaults and command-line overrides."""

    name: str  #: [a-z0-9_-]{1,64}; part of the default output path
    validity_minutes: float = 20.0  #: a search's window after its created_at
    rate: float = 10.0  #: requests per second for the account
    burst: int = 1  #: requests allowed at once within the rate
    concurrency: Concurrency = "auto"  #: requests in flight; "auto": rate x latency
    max_concurrency: int = 64  #: the most requests in flight under "auto"
    shards: int = 4  #: output files; a record goes to hash(patent_id) % shards
    dedupe: str = "search"  #: one of DEDUPE_SCOPES
    grace_seconds: float = 30.0  #: retries may run this long past a window's end
    give_up_after: float = 60.0  #: stop the run (exit 6) when no call is answered this long
    recreate: int = 3  #: times an image's search may be created again after its window closed


@dataclass(slots=True, frozen=True)
class Search:
    """One search to harvest, with the filters and page size its calls use.

    Either a search_id given in the job, or an image (`image` set) whose search the run
    creates; then `search_id` is its key, IMAGE_KEY_PREFIX + `image`.
    """

    search_id: str
    created_at: datetime | None  #: tz-aware UTC; None means the run's start
    limit: int  #: hits per page, 1..100
    filters: tuple[tuple[str, str], ...]  #: normalized API filters, sorted by name
    source: str  #: where it was declared: "jobs/x.toml:12" or "jobs/ids.txt:3405"
    image: str | None = None  #: the job's value as written (URL or relative path)
    image_url: str | None = None  #: for an image URL: the URL to create the search from
    image_path: Path | None = None  #: for a local image: the absolute path to upload

    @property
    def is_image(self) -> bool:
        """Whether the run creates this search from an image."""
        return self.image is not None

    def filter_dict(self) -> dict[str, str]:
        """The filters as query parameters."""
        return dict(self.filters)


@dataclass(slots=True, frozen=True)
class Job:
    """A validated job file: its settings and its searches in file order."""

    path: Path
    #: sha256 of the job file's bytes followed by each ids_file's bytes, in declaration order
    sha256: str
    settings: JobSettings
    searches: tuple[Search, ...]

    def fingerprint(self) -> dict[str, object]:
        """What the output depends on, as canonical JSON-able data; see `describe_changes`."""
        return job_fingerprint(self.settings, self.searches)


@dataclass(slots=True, frozen=True)
class Problem:
    """One thing wrong with a job, where it is and what is allowed instead."""

    location: str  #: "path:line", or "path" for the whole file, or "command line"
    field: str  #: e.g. "job.rate", "search[3].limit", "ids_file line 12.created_at"
    message: str  #: what is wrong and what is allowed

    def __str__(self) -> str:
        return f"{self.location}: {self.field}: {self.message}"


class JobFileError(Exception):
    """A job file (or its overrides) has problems; `problems` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)
