"""Shared fakes for the API tests: an aioresponses that works with aiohttp 3.14, and bodies.

aioresponses 0.7.9 builds `ClientResponse` without the `stream_writer` argument aiohttp
3.14 made required (pnuckowski/aioresponses#289); `FakePatSnap` supplies a response class
that fills it in. This module holds no tests.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import aiohttp
from aioresponses import CallbackResult, aioresponses
from yarl import URL

from harvester.api import DEFAULT_BASE_URL, ClientCredentials

BASE = DEFAULT_BASE_URL
TOKEN_URL = f"{BASE}/oauth/token"
RESULTS = re.compile(r"^https://connect\.patsnap\.com/image-search/results(\?.*)?$")
CLIENT = ClientCredentials("client-id-1", "client-secret-XYZ")
API_KEY_VALUE = "sk-apikey-SECRET-123"

# The success example of the API page, byte for byte.
SUCCESS_EXAMPLE = """{
  "data": {
    "patent_messages": [
      {
        "url": "https://img2.baidu.com/it/u=3901385603,500927275&fm=253&fmt=auto&app=138&f=JPEG?w=680&h=434",
        "score": 0.99,
        "title": "智能手表",
        "patent_id": "002853ca-7b58-4b11-8142-7525a466491e",
        "patent_pn": "HK04110995S"
      }
    ],
    "total_search_result_count": 100
  },
  "status": true,
  "error_code": 0
}""".encode()


class CompatResponse(aiohttp.ClientResponse):
    """A ClientResponse aioresponses can build: supplies aiohttp 3.14's `stream_writer`."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


class FakePatSnap(aioresponses):
    """aioresponses whose canned responses use CompatResponse."""

    def __enter__(self) -> FakePatSnap:
        super().__enter__()
        return self

    def add(self, url: Any, method: str = "GET", **kwargs: Any) -> None:  # type: ignore[override]
        kwargs.setdefault("response_class", CompatResponse)
        super().add(url, method, **kwargs)


def reply(
    body: bytes | str | None = None,
    *,
    payload: dict[str, Any] | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> CallbackResult:
    """A callback's answer, built with CompatResponse."""
    return CallbackResult(
        status=status,
        body=body if body is not None else "",
        payload=payload,
        headers=headers,
        response_class=CompatResponse,
    )


def success(*patent_ids: str, total: int | None = None) -> dict[str, Any]:
    """A successful body with one hit per id."""
    hits = [{"patent_id": pid, "patent_pn": f"PN-{pid}", "score": 0.5} for pid in patent_ids]
    count = len(hits) if total is None else total
    return {
        "data": {"patent_messages": hits, "total_search_result_count": count},
        "status": True,
        "error_code": 0,
    }


def failure(code: int | str, message: str = "nope") -> dict[str, Any]:
    """An error body as PatSnap sends it."""
    return {"status": False, "error_code": code, "error_msg": message}


def bearer(kwargs: dict[str, Any]) -> str:
    """The bearer token a recorded or intercepted request carried."""
    auth: str = kwargs["headers"]["Authorization"]
    assert auth.startswith("Bearer ")
    return auth.removeprefix("Bearer ")
