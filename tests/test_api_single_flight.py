"""Fifty concurrent pages across a token expiry or revocation cost exactly one token request."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from aioresponses import CallbackResult
from yarl import URL

from harvester.api import PatSnapClient
from tests.test_api_auth import FakeClock
from tests.test_api_fakes import (
    BASE,
    CLIENT,
    RESULTS,
    TOKEN_URL,
    FakePatSnap,
    bearer,
    failure,
    reply,
    success,
)

CALLERS = 50


class Server:
    """Token endpoint and results endpoint with server-side revocation.

    Tokens tok-1, tok-2, ... are handed out in order; a revoked token is answered with
    67200003. `hold_revoked` holds answers to revoked-token calls until all CALLERS have
    arrived, so every caller really is rejected before any of them refreshes.
    """

    def __init__(self) -> None:
        self.issued: list[str] = []
        self.revoked: set[str] = set()
        self.rejected = 0
        self.all_rejected = asyncio.Event()
        self.seen: list[str] = []

    async def token(self, url: URL, **kwargs: Any) -> CallbackResult:
        self.issued.append(f"tok-{len(self.issued) + 1}")
        return reply(payload={"token": self.issued[-1], "expires_in": 1799})

    async def results(self, url: URL, **kwargs: Any) -> CallbackResult:
        token = bearer(kwargs)
        self.seen.append(token)
        if token in self.revoked:
            self.rejected += 1
            if self.rejected == CALLERS:
                self.all_rejected.set()
            await self.all_rejected.wait()
            return reply(payload=failure(67200003, "Access token expired"))
        return reply(payload=success(kwargs["params"]["search_id"]))


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()
    with FakePatSnap() as fake:
        fake.post(TOKEN_URL, callback=state.token, repeat=True)
        fake.get(RESULTS, callback=state.results, repeat=True)
        yield state


async def fetch_all(client: PatSnapClient) -> list[str]:
    pages = await asyncio.gather(
        *(client.fetch_page(f"S{i}", offset=0, limit=100, filters={}) for i in range(CALLERS))
    )
    return [page.hits[0].patent_id for page in pages]


async def test_server_side_revocation_causes_one_token_request_for_fifty_callers(
    server: Server,
) -> None:
    async with PatSnapClient(BASE, CLIENT) as client:
        await client.fetch_page("warm-up", offset=0, limit=1, filters={})
        server.revoked.add("tok-1")
        server.seen.clear()
        assert await fetch_all(client) == [f"S{i}" for i in range(CALLERS)]
        assert server.issued == ["tok-1", "tok-2"] and client.token_requests == 2
    assert server.seen.count("tok-1") == CALLERS and server.seen.count("tok-2") == CALLERS


async def test_clock_expiry_causes_one_token_request_for_fifty_callers(server: Server) -> None:
    clock = FakeClock()
    async with PatSnapClient(BASE, CLIENT, clock=clock) as client:
        await client.fetch_page("warm-up", offset=0, limit=1, filters={})
        clock.now += 1799
        server.seen.clear()
        assert await fetch_all(client) == [f"S{i}" for i in range(CALLERS)]
        assert server.issued == ["tok-1", "tok-2"] and client.token_requests == 2
    assert server.seen == ["tok-2"] * CALLERS
