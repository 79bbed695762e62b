"""Peer 2: the job with dlt's rest_api source. Runs in bench/.peers, not the project venv.

    bench/.peers/bin/python bench/peer_dlt.py URL IDS DEST PIPELINES --rate 50

A parent resource yields the search ids; the results resource resolves `search_id` from
it and pages with dlt's OffsetPaginator (limit 100, total from the answer, offsets below
1,100), into the filesystem destination as jsonl. rest_api has no rate setting, so the
session gets what a user would add: an adapter that spaces calls 1 / rate apart (every
retry attempt too). dlt's own session retries 429 and 5xx, honouring Retry-After.
Running it again with the same PIPELINES directory is how dlt resumes.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import dlt
from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.rest_client.paginators import OffsetPaginator
from dlt.sources.rest_api import rest_api_source
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter


class PacedAdapter(HTTPAdapter):
    """Sends at most `rate` requests a second, evenly spaced, from any thread."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        self._gap = 1.0 / rate
        self._next = 0.0
        self._lock = threading.Lock()

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._gap
        if slot > now:
            time.sleep(slot - now)
        return super().send(request, *args, **kwargs)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="peer_dlt")
    parser.add_argument("base_url")
    parser.add_argument("ids_file")
    parser.add_argument("dest")
    parser.add_argument("pipelines_dir")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--rate", type=float, required=True)
    args = parser.parse_args(argv)
    with open(args.ids_file) as file:
        ids = [line.strip() for line in file if line.strip()]

    @dlt.resource(name="searches", selected=False)
    def searches() -> Iterator[list[dict[str, str]]]:
        yield [{"id": search_id} for search_id in ids]  # rest_api children take pages (lists)

    session = Client(raise_for_status=False).session
    session.mount("http://", PacedAdapter(args.rate))
    source = rest_api_source(
        {
            "client": {
                "base_url": args.base_url,
                "auth": {"type": "bearer", "token": args.api_key},
                "session": session,
            },
            "resources": [
                searches,
                {
                    "name": "results",
                    "endpoint": {
                        "path": "image-search/results",
                        "params": {"search_id": "{resources.searches.id}"},
                        "data_selector": "data.patent_messages",
                        "paginator": OffsetPaginator(
                            limit=100,
                            total_path="data.total_search_result_count",
                            maximum_offset=1100,
                        ),
                    },
                    "include_from_parent": ["id"],
                },
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="patsnap_bench",
        destination=dlt.destinations.filesystem(bucket_url=args.dest),
        dataset_name="patsnap",
        pipelines_dir=args.pipelines_dir,
    )
    info = pipeline.run(source, loader_file_format="jsonl")
    print(info, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
