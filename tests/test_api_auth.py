"""Credentials from the environment, and the token cache's expiry and single flight."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from harvester.api.auth import ApiKey, ClientCredentials, TokenSource, credentials_from_env
from harvester.api.errors import MissingCredentials, ServerError, UsageError
from harvester.api.models import TokenGrant

PAIR = {"PATSNAP_CLIENT_ID": "cid", "PATSNAP_CLIENT_SECRET": "csecret"}
KEY = {"PATSNAP_API_KEY": "sk-key"}


def test_client_id_and_secret_give_oauth_credentials() -> None:
    credentials, note = credentials_from_env(PAIR)
    assert credentials == ClientCredentials("cid", "csecret")
    assert "OAuth" in note and "cid" in note and "csecret" not in note


def test_api_key_gives_api_key_credentials() -> None:
    credentials, note = credentials_from_env(KEY)
    assert credentials == ApiKey("sk-key")
    assert "PATSNAP_API_KEY" in note and "sk-key" not in note


def test_api_key_wins_when_both_are_set_and_the_note_says_so() -> None:
    credentials, note = credentials_from_env(PAIR | KEY)
    assert credentials == ApiKey("sk-key")
    assert "ignored" in note and "PATSNAP_CLIENT_ID" in note


def test_api_key_without_sk_prefix_is_used_with_a_note() -> None:
    credentials, note = credentials_from_env({"PATSNAP_API_KEY": "abc"})
    assert credentials == ApiKey("abc") and "sk-" in note


def test_values_are_stripped_and_blank_counts_as_unset() -> None:
    env = {"PATSNAP_API_KEY": "  ", "PATSNAP_CLIENT_ID": " cid\n", "PATSNAP_CLIENT_SECRET": "s\n"}
    assert credentials_from_env(env)[0] == ClientCredentials("cid", "s")


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({}, "no PatSnap credentials are set"),
        ({"PATSNAP_CLIENT_ID": "cid"}, "PATSNAP_CLIENT_SECRET is missing"),
        ({"PATSNAP_CLIENT_SECRET": "csecret"}, "PATSNAP_CLIENT_ID is missing"),
        ({"PATSNAP_API_KEY": ""}, "no PatSnap credentials are set"),
    ],
)
def test_missing_credentials_name_both_ways_in_one_paragraph(
    env: dict[str, str], problem: str
) -> None:
    with pytest.raises(MissingCredentials) as caught:
        credentials_from_env(env)
    text = str(caught.value)
    assert problem in text
    for variable in ("PATSNAP_CLIENT_ID", "PATSNAP_CLIENT_SECRET", "PATSNAP_API_KEY"):
        assert variable in text
    assert "\n" not in text and "csecret" not in text


def test_client_id_with_a_colon_is_refused() -> None:
    with pytest.raises(UsageError, match="':'"):
        credentials_from_env({"PATSNAP_CLIENT_ID": "a:b", "PATSNAP_CLIENT_SECRET": "s"})


def test_reprs_of_credentials_hide_the_secrets() -> None:
    assert "csecret" not in repr(ClientCredentials("cid", "csecret"))
    assert "cid" in repr(ClientCredentials("cid", "csecret"))
    assert "sk-key" not in repr(ApiKey("sk-key")) + str(ApiKey("sk-key"))


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeTokenEndpoint:
    """Hands out tok-1, tok-2, ...; `gate` holds every fetch until set; `fail` raises."""

    def __init__(self, expires_in: float = 1800) -> None:
        self.expires_in = expires_in
        self.fetches = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: Exception | None = None

    async def __call__(self) -> TokenGrant:
        self.fetches += 1
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return TokenGrant(token=f"tok-{self.fetches}", expires_in=self.expires_in)


async def test_token_is_fetched_once_and_cached() -> None:
    endpoint = FakeTokenEndpoint()
    source = TokenSource(endpoint, clock=FakeClock())
    assert [await source.token() for _ in range(3)] == ["tok-1"] * 3
    assert endpoint.fetches == source.token_requests == 1


@pytest.mark.parametrize(
    ("expires_in", "refresh_before"),
    [(1800, 60.0), (1799, 60.0), (300, 30.0), (2, 0.2)],
)
async def test_token_is_refreshed_shortly_before_expiry(
    expires_in: float, refresh_before: float
) -> None:
    clock = FakeClock()
    source = TokenSource(FakeTokenEndpoint(expires_in), clock=clock)
    start = clock.now
    await source.token()
    clock.now = start + expires_in - refresh_before - 0.001
    assert await source.token() == "tok-1"
    clock.now = start + expires_in - refresh_before
    assert await source.token() == "tok-2"


async def test_concurrent_callers_at_expiry_share_one_fetch() -> None:
    endpoint = FakeTokenEndpoint()
    clock = FakeClock()
    source = TokenSource(endpoint, clock=clock)
    await source.token()
    clock.now += 3600
    endpoint.gate.clear()
    waiters = [asyncio.create_task(source.token()) for _ in range(50)]
    await asyncio.sleep(0)  # let every waiter reach the shared fetch before it completes
    endpoint.gate.set()
    assert set(await asyncio.gather(*waiters)) == {"tok-2"}
    assert endpoint.fetches == source.token_requests == 2


async def test_refresh_of_a_stale_token_fetches_once_for_all_callers() -> None:
    endpoint = FakeTokenEndpoint()
    source = TokenSource(endpoint, clock=FakeClock())
    stale = await source.token()
    endpoint.gate.clear()
    waiters = [asyncio.create_task(source.refresh(stale)) for _ in range(50)]
    await asyncio.sleep(0)
    endpoint.gate.set()
    assert set(await asyncio.gather(*waiters)) == {"tok-2"}
    assert await source.refresh(stale) == "tok-2"  # late caller: already replaced
    assert endpoint.fetches == 2


async def test_failed_fetch_is_shared_by_its_waiters_and_not_cached() -> None:
    endpoint = FakeTokenEndpoint()
    source = TokenSource(endpoint, clock=FakeClock())
    endpoint.gate.clear()
    endpoint.fail = ServerError("token endpoint down", http_status=503)
    waiters = [asyncio.create_task(source.token()) for _ in range(10)]
    await asyncio.sleep(0)
    endpoint.gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, ServerError) for r in results)
    assert endpoint.fetches == 1
    endpoint.fail = None
    assert await source.token() == "tok-2"


async def test_a_cancelled_waiter_does_not_cancel_the_shared_fetch() -> None:
    endpoint = FakeTokenEndpoint()
    source = TokenSource(endpoint, clock=FakeClock())
    endpoint.gate.clear()
    fetching = asyncio.create_task(source.token())
    await asyncio.sleep(0)  # it found no token: the fetch runs in its task
    waiting = asyncio.create_task(source.token())
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.sleep(0)
    endpoint.gate.set()
    assert await fetching == "tok-1"
    assert waiting.cancelled() and endpoint.fetches == 1


async def test_when_the_fetching_caller_is_cancelled_the_next_waiter_fetches() -> None:
    endpoint = FakeTokenEndpoint()
    source = TokenSource(endpoint, clock=FakeClock())
    endpoint.gate.clear()
    fetching = asyncio.create_task(source.token())
    await asyncio.sleep(0)
    waiting = asyncio.create_task(source.token())
    await asyncio.sleep(0)
    fetching.cancel()  # e.g. the run is stopping, or its call timed out
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    endpoint.gate.set()
    assert await waiting == "tok-2"
    assert fetching.cancelled() and endpoint.fetches == source.token_requests == 2


async def test_the_fetch_runs_in_the_callers_task_so_it_ends_with_the_run() -> None:
    endpoint = FakeTokenEndpoint()
    source = TokenSource(endpoint, clock=FakeClock())
    endpoint.gate.clear()
    before = asyncio.all_tasks()
    async with anyio.create_task_group() as run:  # the run's task group
        run.start_soon(source.token)
        run.start_soon(source.token)
        await asyncio.sleep(0)
        assert len(asyncio.all_tasks() - before) == 2  # its two workers; no task of its own
        run.cancel_scope.cancel()
    assert asyncio.all_tasks() == before  # nothing of the fetch outlives the run
    assert endpoint.fetches == 1 and repr(source).startswith("TokenSource(empty")


async def test_token_source_repr_hides_the_token() -> None:
    source = TokenSource(FakeTokenEndpoint(), clock=FakeClock())
    token = await source.token()
    assert token not in repr(source) and "token_requests=1" in repr(source)
