"""PatSnapClient over real sockets against the sandbox: both ways to authenticate,
single-flight refresh after a server-side revocation, and the sandbox's injected faults."""

from __future__ import annotations

import asyncio

import pytest

from harvester.api import ApiKey, ClientCredentials, ClientSettings, PatSnapClient
from harvester.api.client import base_url_from_env
from harvester.api.errors import (
    PatSnapError,
    ProtocolError,
    ServerError,
    StopRun,
    TransportError,
)
from harvester.sandbox.clock import ManualClock
from harvester.sandbox.server import SandboxConfig, running_sandbox

CLIENT = ClientCredentials("sandbox-client", "sandbox-secret")
SANDBOX_KEY = "sk-sandbox-key"
CALLERS = 50


async def test_oauth_client_pages_through_a_search_with_one_token() -> None:
    async with running_sandbox(SandboxConfig()) as sandbox:
        base = base_url_from_env({}, sandbox.url)
        async with PatSnapClient(base, CLIENT) as client:
            first = await client.fetch_page("SBX-150-a", offset=0, limit=100, filters={})
            second = await client.fetch_page("SBX-150-a", offset=100, limit=100, filters={})
        assert (first.total, len(first.hits), len(second.hits)) == (150, 100, 50)
        assert all(hit.patent_id and hit.patent_pn for hit in first.hits + second.hits)
        assert sandbox.stats.token_requests == 1 and sandbox.stats.billed == 2
        assert client.token_requests == 1


async def test_api_key_client_makes_no_token_request() -> None:
    async with running_sandbox(SandboxConfig(api_key=SANDBOX_KEY)) as sandbox:
        async with PatSnapClient(sandbox.url, ApiKey(SANDBOX_KEY)) as client:
            page = await client.fetch_page("SBX-30-a", offset=0, limit=100, filters={})
        assert len(page.hits) == 30
        assert sandbox.stats.token_requests == 0 and sandbox.stats.billed == 1


async def test_wrong_client_secret_stops_the_run_at_the_token_endpoint() -> None:
    async with running_sandbox(SandboxConfig()) as sandbox:
        wrong = ClientCredentials("sandbox-client", "not-the-secret")
        async with PatSnapClient(sandbox.url, wrong) as client:
            with pytest.raises(StopRun) as caught:
                await client.fetch_page("SBX-30-a", offset=0, limit=100, filters={})
        assert caught.value.code == 67200003 and "not-the-secret" not in str(caught.value)
        assert sandbox.stats.token_requests == 1 and sandbox.stats.calls == 0


async def test_wrong_api_key_stops_the_run_after_one_call() -> None:
    async with running_sandbox(SandboxConfig(api_key=SANDBOX_KEY)) as sandbox:
        async with PatSnapClient(sandbox.url, ApiKey("sk-wrong")) as client:
            with pytest.raises(StopRun, match="PATSNAP_API_KEY"):
                await client.fetch_page("SBX-30-a", offset=0, limit=100, filters={})
        assert sandbox.stats.calls == 1 and sandbox.stats.token_requests == 0


async def test_fifty_callers_after_server_side_revocation_cause_one_token_request() -> None:
    # The sandbox's token dies after 60 s of its own clock while the client, told
    # expires_in=1799, still trusts it: a revocation the client learns of only by refusals.
    clock = ManualClock(1_000_000.0)
    config = SandboxConfig(token_lifetime_s=60, clock=clock)
    async with running_sandbox(config) as sandbox:
        async with PatSnapClient(sandbox.url, CLIENT) as client:
            await client.fetch_page("SBX-10-warm", offset=0, limit=10, filters={})
            clock.advance(61)
            pages = await asyncio.gather(
                *(
                    client.fetch_page(f"SBX-10-{i}", offset=0, limit=10, filters={})
                    for i in range(CALLERS)
                )
            )
        assert all(len(page.hits) == 10 for page in pages)
        assert sandbox.stats.token_requests == 2 and client.token_requests == 2
        assert 1 <= sandbox.stats.auth_failures <= CALLERS
        assert sandbox.stats.billed == CALLERS + 1


FAULTS: list[tuple[str, type[PatSnapError]]] = [
    ("http500", ServerError),
    ("http502", ServerError),
    ("http503", ServerError),
    ("slow", TransportError),  # read_timeout below is shorter than the fault's delay
    ("drop", TransportError),
    ("nonjson", ProtocolError),
    ("truncated", ProtocolError),
    ("empty", ProtocolError),
    ("missing_field", ProtocolError),
    ("e68300005", ServerError),
    ("e68300008", ServerError),
]


@pytest.mark.parametrize(("fault", "expected"), FAULTS, ids=[f for f, _ in FAULTS])
async def test_each_injected_fault_is_a_retryable_error(
    fault: str, expected: type[PatSnapError]
) -> None:
    config = SandboxConfig(api_key=SANDBOX_KEY, fault_rate=1.0, faults=(fault,), slow_s=0.3)
    settings = ClientSettings(read_timeout=0.05)
    async with running_sandbox(config) as sandbox:
        async with PatSnapClient(sandbox.url, ApiKey(SANDBOX_KEY), settings) as client:
            for variant in range(6):  # ids 0..5 draw every variant of truncated and missing_field
                with pytest.raises(expected) as caught:
                    await client.fetch_page(f"SBX-20-{variant}", offset=0, limit=20, filters={})
                assert type(caught.value) is expected, caught.value
        # one request per fetch_page, also when the connection drops (no hidden resend)
        assert sandbox.stats.calls == 6 and sandbox.stats.faults_by_kind == {fault: 6}


def test_sandbox_fault_list_is_covered() -> None:
    from harvester.sandbox.faults import ALL_FAULTS

    assert {fault for fault, _ in FAULTS} == set(ALL_FAULTS)
