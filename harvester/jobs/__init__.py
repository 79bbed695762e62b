"""Job files: a TOML file (plus optional ids files) turned into a checked `Job`.

    job = load_job("jobs/nightly.toml", overrides={"rate": 20})   # raises JobFileError
    for problem in validate_job("jobs/nightly.toml"): print(problem)

Every problem is reported at once, each as "path:line: field: message". Searches are
numbered from 1 in field names (`search[3].limit` is the third `[[search]]`). `Job.sha256`
hashes the job file's bytes followed by each ids_file's and images_file's bytes, in
declaration order. A search made from an image (`image_url`, `image`, `images_file`; see
`images.py`) is keyed `image:<value>`; its local file is checked here, before any call.
`jobs/example.toml` shows the format.
"""

from __future__ import annotations

from harvester.jobs.fingerprint import describe_changes
from harvester.jobs.loader import load_job, validate_job
from harvester.jobs.model import DEDUPE_SCOPES, Job, JobFileError, JobSettings, Problem, Search

__all__ = [
    "DEDUPE_SCOPES",
    "Job",
    "JobFileError",
    "JobSettings",
    "Problem",
    "Search",
    "describe_changes",
    "load_job",
    "validate_job",
]
