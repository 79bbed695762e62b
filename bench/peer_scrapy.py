"""Peer 1: the job as a Scrapy user would write it. Runs in bench/.peers, not the project venv.

    bench/.peers/bin/python bench/peer_scrapy.py URL IDS FEED JOBDIR --rate 50 --concurrency 8

Settings as the issue asks: CONCURRENT_REQUESTS equal to ours, AutoThrottle off,
DOWNLOAD_DELAY = 1 / rate with no jitter (Scrapy's default ±50% would send some calls
faster than the rate), a JSON lines feed appended to, and JOBDIR, Scrapy's
own way to pause and resume a crawl. Retries are Scrapy's defaults (429 and 5xx, twice).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode

import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.http import Request, Response

PAGE = 100
REACHABLE = 1100  # offset <= 1000, 100 a page


class ResultsSpider(scrapy.Spider):
    """Page 0 of every search; the rest of its pages once page 0 tells the total."""

    name = "patsnap_results"

    def __init__(self, base_url: str, ids_file: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url
        with open(ids_file) as file:
            self.search_ids = [line.strip() for line in file if line.strip()]

    def _request(self, search_id: str, offset: int) -> Request:
        query = urlencode({"search_id": search_id, "offset": offset, "limit": PAGE})
        return Request(
            f"{self.base_url}/image-search/results?{query}",
            callback=self.parse,
            cb_kwargs={"search_id": search_id, "offset": offset},
        )

    async def start(self) -> AsyncIterator[Request]:
        for search_id in self.search_ids:
            yield self._request(search_id, 0)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[dict[str, Any] | Request]:
        search_id: str = kwargs["search_id"]
        offset: int = kwargs["offset"]
        body = json.loads(response.body)
        if body.get("error_code") != 0:
            self.logger.warning("error answer for %s@%d: %s", search_id, offset, body)
            return
        data = body["data"]
        for index, message in enumerate(data["patent_messages"]):
            yield {"search_id": search_id, "rank": offset + index + 1, **message}
        if offset == 0:
            total = min(int(data["total_search_result_count"]), REACHABLE)
            for later in range(PAGE, total, PAGE):
                yield self._request(search_id, later)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="peer_scrapy")
    parser.add_argument("base_url")
    parser.add_argument("ids_file")
    parser.add_argument("feed")
    parser.add_argument("jobdir")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    args = parser.parse_args(argv)
    process = CrawlerProcess(
        settings={
            "CONCURRENT_REQUESTS": args.concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": args.concurrency,
            "DOWNLOAD_DELAY": 1.0 / args.rate,
            "DOWNLOAD_DELAY_JITTER": 0,
            "AUTOTHROTTLE_ENABLED": False,
            "ROBOTSTXT_OBEY": False,
            "COOKIES_ENABLED": False,
            "TELNETCONSOLE_ENABLED": False,
            "REMOTE_CONTROL_ENABLED": False,
            "JOBDIR": args.jobdir,
            "DEFAULT_REQUEST_HEADERS": {
                "Authorization": f"Bearer {args.api_key}",
                "Accept": "application/json",
            },
            "FEEDS": {args.feed: {"format": "jsonlines", "overwrite": False}},
            "LOG_LEVEL": "INFO",
        }
    )
    process.crawl(ResultsSpider, base_url=args.base_url, ids_file=args.ids_file)
    process.start()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
