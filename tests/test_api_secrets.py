"""The client secret, the API key and tokens appear in no log record, error text or repr."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import aiohttp
import pytest

from harvester.api import ApiKey, ClientCredentials, PatSnapClient
from harvester.api.errors import PatSnapError
from tests.test_api_fakes import BASE, RESULTS, TOKEN_URL, FakePatSnap, failure, success

SECRET = "client-secret-S3CRET"
KEY = "sk-KEY-S3CRET"
TOKENS = ("tok-FIRST-S3CRET", "tok-SECOND-S3CRET")
ALL_SECRETS = (SECRET, KEY, *TOKENS)
CREDENTIALS = ClientCredentials("cid", SECRET)


def leaks(text: str) -> list[str]:
    return [secret for secret in ALL_SECRETS if secret in text]


def error_texts(error: BaseException | None) -> str:
    """str and repr of an error and of every error chained to it."""
    texts = []
    while error is not None:
        texts += [str(error), repr(error)]
        error = error.__cause__ or error.__context__
    return "\n".join(texts)


def record_texts(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter()
    return "\n".join(formatter.format(record) + repr(vars(record)) for record in caplog.records)


@pytest.fixture
def fake(caplog: pytest.LogCaptureFixture) -> Iterator[FakePatSnap]:
    caplog.set_level(logging.DEBUG)
    with FakePatSnap() as mock:
        yield mock


async def run(client: PatSnapClient) -> str:
    """Fetch one page; the text of whatever error it raised."""
    try:
        await client.fetch_page("S", offset=0, limit=10, filters={})
    except PatSnapError as error:
        return error_texts(error)
    return ""


async def test_oauth_flow_with_refresh_and_final_refusal_leaks_nothing(
    fake: FakePatSnap, caplog: pytest.LogCaptureFixture
) -> None:
    for token in TOKENS:
        fake.post(TOKEN_URL, payload={"token": token, "expires_in": 1799})
    fake.get(RESULTS, payload=success("a"))
    fake.get(RESULTS, payload=failure(67200003), repeat=True)
    texts = []
    async with PatSnapClient(BASE, CREDENTIALS) as client:
        texts.append(await run(client))
        texts.append(await run(client))
        texts.append(repr(client) + str(client))
    assert "after a token refresh" in texts[1]
    assert leaks("\n".join(texts) + record_texts(caplog)) == []
    assert any(record.msg == "token_issued" for record in caplog.records)


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 401, "body": f'{{"error": "bad secret {SECRET}"}}'},
        {"payload": {"tokne": TOKENS[0]}},
        {"status": 500, "body": TOKENS[0]},
        {"body": '{"token": "tok-FIRST-S3CRET"'},
    ],
    ids=["refused", "no-token", "5xx", "truncated"],
)
async def test_token_endpoint_failures_leak_nothing(
    fake: FakePatSnap, caplog: pytest.LogCaptureFixture, answer: dict[str, object]
) -> None:
    fake.post(TOKEN_URL, **answer)
    async with PatSnapClient(BASE, CREDENTIALS) as client:
        text = await run(client)
    assert text and leaks(text + record_texts(caplog)) == []


@pytest.mark.parametrize(
    "answer",
    [
        {"payload": failure(67200003)},
        {"status": 401, "body": ""},
        {"exception": aiohttp.ClientOSError(104, "Connection reset by peer")},
        {"exception": TimeoutError()},
        {"body": f"<html>{KEY}</html>", "status": 502},
    ],
    ids=["code", "401", "reset", "timeout", "5xx"],
)
async def test_api_key_failures_leak_nothing(
    fake: FakePatSnap, caplog: pytest.LogCaptureFixture, answer: dict[str, object]
) -> None:
    fake.get(RESULTS, **answer)
    async with PatSnapClient(BASE, ApiKey(KEY)) as client:
        text = await run(client) + repr(client)
    assert text and leaks(text + record_texts(caplog)) == []


def test_reprs_of_credentials_and_unopened_clients_leak_nothing() -> None:
    texts = [
        repr(CREDENTIALS),
        str(CREDENTIALS),
        repr(ApiKey(KEY)),
        repr(PatSnapClient(BASE, CREDENTIALS)),
        repr(PatSnapClient(BASE, ApiKey(KEY))),
    ]
    assert leaks("\n".join(texts)) == []
