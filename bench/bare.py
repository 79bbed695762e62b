"""The physical limit of a client: a bare aiohttp loop that fetches and parses pages, nothing else.

    python -m bench.bare URL PAGES.json --concurrency 8     # prints {"pages": n, "hits": m}

It is handed the page list (no discovery from page 0, no rate limit, no retries, no
dedupe, no writing), so it is what any harvester written on aiohttp + orjson could reach.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator

import aiohttp
import orjson

from bench.procs import API_KEY


async def _worker(
    session: aiohttp.ClientSession, url: str, pages: Iterator[list[object]], counts: list[int]
) -> None:
    for search_id, offset in pages:
        params = {"search_id": str(search_id), "offset": str(offset), "limit": "100"}
        async with session.get(url, params=params) as answer:
            body = orjson.loads(await answer.read())
        if body.get("error_code") != 0:
            raise RuntimeError(f"the sandbox answered {body!r}")
        counts[0] += 1
        counts[1] += len(body["data"]["patent_messages"])


async def fetch_all(base_url: str, pages: list[list[object]], concurrency: int) -> list[int]:
    """Fetch and parse every page with `concurrency` workers; [pages, hits]."""
    counts = [0, 0]
    shared = iter(pages)  # one iterator: each worker takes the next page when it is free
    headers = {"Authorization": f"Bearer {API_KEY}"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
        url = f"{base_url}/image-search/results"
        await asyncio.gather(*(_worker(session, url, shared, counts) for _ in range(concurrency)))
    return counts


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare", description=__doc__)
    parser.add_argument("url")
    parser.add_argument("pages", help="JSON file: [[search_id, offset], ...]")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    with open(args.pages, "rb") as file:
        pages = orjson.loads(file.read())
    done, hits = asyncio.run(fetch_all(args.url, pages, args.concurrency))
    sys.stdout.write(orjson.dumps({"pages": done, "hits": hits}).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
