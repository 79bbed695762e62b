"""Every foreign exception the HTTP layer can raise is mapped at the one boundary.

Like httpx's test_exceptions: the list of aiohttp's client exceptions is read from aiohttp
itself, so a class added by a new aiohttp version fails here until it is mapped.
"""

from __future__ import annotations

import asyncio
import inspect
import ssl
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import http_exceptions
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from harvester.api.client import map_exceptions
from harvester.api.errors import PatSnapError, ProtocolError, TransportError, UsageError

SECRET = "Bearer tok-SECRET-42"
REQUEST_INFO = aiohttp.RequestInfo(
    URL("https://connect.patsnap.com/image-search/results?apikey=id"),
    "GET",
    CIMultiDictProxy(CIMultiDict({"Authorization": SECRET})),
    URL("https://connect.patsnap.com/image-search/results?apikey=id"),
)
KEY: Any = SimpleNamespace(host="connect.patsnap.com", port=443, ssl=True, is_ssl=True)
OS_ERROR = OSError(111, "Connection refused")


def _build(cls: type[BaseException]) -> BaseException:
    """An instance of `cls` with plausible arguments (constructors differ)."""
    if issubclass(cls, aiohttp.ClientResponseError):
        return cls(REQUEST_INFO, (), status=502, message="Bad Gateway")
    if cls is aiohttp.ClientConnectorCertificateError:
        return cls(KEY, ssl.SSLCertVerificationError("certificate verify failed"))
    if issubclass(cls, aiohttp.ClientConnectorError):
        return cls(KEY, OS_ERROR)
    if issubclass(cls, aiohttp.InvalidURL):
        return cls("htp://nowhere", "bad scheme")
    if cls is aiohttp.ServerFingerprintMismatch:
        return cls(b"a", b"b", "connect.patsnap.com", 443)
    if cls is http_exceptions.HttpProcessingError:
        return cls(message="bad header")
    if issubclass(cls, http_exceptions.HttpProcessingError):
        return cls("bad header")  # type: ignore[arg-type, call-arg]
    return cls("something broke")


def _aiohttp_client_exceptions() -> list[type[BaseException]]:
    found = {
        obj
        for module in (aiohttp, http_exceptions)
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, aiohttp.ClientError | http_exceptions.HttpProcessingError)
    }
    return sorted(found, key=lambda cls: cls.__name__)


FOREIGN: list[type[BaseException]] = [
    *_aiohttp_client_exceptions(),
    asyncio.TimeoutError,
    TimeoutError,
    OSError,
    ConnectionResetError,
    ConnectionRefusedError,
    BrokenPipeError,
    ssl.SSLError,
]


def test_the_list_of_foreign_exceptions_is_not_empty() -> None:
    assert aiohttp.ClientPayloadError in FOREIGN and aiohttp.SocketTimeoutError in FOREIGN
    assert len(FOREIGN) > 30


@pytest.mark.parametrize("cls", FOREIGN, ids=lambda cls: cls.__name__)
def test_every_foreign_exception_is_mapped(cls: type[BaseException]) -> None:
    with pytest.raises(PatSnapError) as caught, map_exceptions("/image-search/results"):
        raise _build(cls)
    assert cls.__name__ in caught.value.message
    assert "tok-SECRET-42" not in str(caught.value) + repr(caught.value)
    cause = caught.value.__cause__
    assert cause is None or "tok-SECRET-42" not in str(cause)


EXPECTED: list[tuple[Callable[[], BaseException], type[PatSnapError]]] = [
    (lambda: TimeoutError(), TransportError),
    (lambda: aiohttp.SocketTimeoutError("read"), TransportError),
    (lambda: aiohttp.ConnectionTimeoutError("connect"), TransportError),
    (lambda: aiohttp.ServerDisconnectedError(), TransportError),
    (lambda: aiohttp.ClientConnectorError(KEY, OS_ERROR), TransportError),
    (lambda: ConnectionResetError(104, "reset"), TransportError),
    (lambda: aiohttp.ClientPayloadError("incomplete"), ProtocolError),
    (lambda: aiohttp.ContentTypeError(REQUEST_INFO, ()), ProtocolError),
    (lambda: http_exceptions.BadStatusLine("HTTP/9"), ProtocolError),
    (lambda: aiohttp.InvalidURL("htp://x"), UsageError),
]


@pytest.mark.parametrize(("make", "expected"), EXPECTED)
def test_foreign_exceptions_map_to_what_the_caller_can_do(
    make: Callable[[], BaseException], expected: type[PatSnapError]
) -> None:
    with pytest.raises(expected), map_exceptions():
        raise make()


def test_response_errors_drop_their_request_info_which_holds_the_token() -> None:
    with pytest.raises(ProtocolError) as caught, map_exceptions():
        raise aiohttp.ClientResponseError(REQUEST_INFO, (), status=400, message="Bad")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert caught.value.http_status == 400


@pytest.mark.parametrize(
    "make",
    [lambda: PatSnapError("ours"), lambda: RuntimeError("a bug"), lambda: KeyError("bug")],
)
def test_our_errors_and_programming_errors_pass_through(make: Callable[[], Exception]) -> None:
    error = make()
    with pytest.raises(type(error)) as caught, map_exceptions():
        raise error
    assert caught.value is error


async def test_cancellation_passes_through() -> None:
    with pytest.raises(asyncio.CancelledError), map_exceptions():
        raise asyncio.CancelledError


def test_json_errors_never_reach_the_boundary() -> None:
    # parse.py turns orjson's errors into ProtocolError itself; the boundary leaves
    # ValueError (a programming error elsewhere) alone.
    assert issubclass(orjson.JSONDecodeError, ValueError)
    with pytest.raises(orjson.JSONDecodeError), map_exceptions():
        orjson.loads(b"{")
