"""Injected faults: which call gets one, and what each kind looks like on the wire.

The choice is fixed by (seed, search_id, offset, limit, n), n counting earlier calls with
that key, so a test sees the same faults whatever order concurrent requests arrive in.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from aiohttp import web

from harvester.sandbox.codes import SEARCH_FAILURE, SERVICE_ERROR
from harvester.sandbox.fault_kinds import ALL_FAULTS, BODY_FAULTS
from harvester.sandbox.lru import BoundedLRU
from harvester.sandbox.responses import JSON_TYPE, error_response
from harvester.sandbox.seeded import draw, uniform

__all__ = [
    "ALL_FAULTS",
    "BODY_FAULTS",
    "Fault",
    "FaultPlan",
    "break_fields",
    "canned_fault",
    "drop_connection",
    "truncated_response",
]


_HTML = (
    "<html><head><title>{status} {reason}</title></head><body><center><h1>{status} {reason}"
    "</h1></center><hr><center>nginx</center></body></html>"
)


@dataclass(slots=True, frozen=True)
class Fault:
    """One injected fault: its kind and a number that picks among its variants."""

    kind: str
    variant: int


class FaultPlan:
    """Decides which calls fail, deterministically; remembers a bounded number of keys."""

    __slots__ = ("_calls", "_kinds", "_rate", "_seed")

    def __init__(
        self, seed: int, rate: float, kinds: tuple[str, ...], *, keys: int = 200_000
    ) -> None:
        self._seed = seed
        self._rate = rate  #: probability that a call gets a fault
        self._kinds = kinds  #: what to draw from
        self._calls: BoundedLRU[tuple[str, int, int], int] = BoundedLRU(keys)

    def choose(self, search_id: str, offset: int, limit: int) -> Fault | None:
        """The fault for this call (counting it), or None."""
        key = (search_id, offset, limit)
        n = self._calls.get(key) or 0
        self._calls.put(key, n + 1)
        if not self._kinds or uniform(self._seed, "fault", *key, n) >= self._rate:
            return None
        h = draw(self._seed, "fault-kind", *key, n)
        return Fault(kind=self._kinds[h % len(self._kinds)], variant=h >> 8)

    def reset(self) -> None:
        """Forget call counts: the sequence of faults starts over."""
        self._calls.clear()


def canned_fault(kind: str) -> web.Response:
    """The answer for a fault that needs no page: HTTP errors, HTML, empty, error codes."""
    if kind in ("http500", "http502", "http503"):
        status = int(kind[4:])
        reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
        headers = {"Retry-After": "1"} if status == 503 else None
        html = _HTML.format(status=status, reason=reason[status])
        return web.Response(text=html, status=status, content_type="text/html", headers=headers)
    if kind == "nonjson":
        html = _HTML.format(status=502, reason="Bad Gateway")
        return web.Response(text=html, status=200, content_type="text/html")
    if kind == "empty":
        return web.Response(body=b"", status=200, content_type=JSON_TYPE)
    if kind == "e68300005":
        return error_response(SEARCH_FAILURE)
    if kind == "e68300008":
        return error_response(SERVICE_ERROR)
    raise ValueError(f"{kind!r} is not a canned fault")


def drop_connection(request: web.Request) -> web.Response:
    """Close the connection without answering; the returned response is never sent."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=500)


async def truncated_response(
    request: web.Request, payload: dict[str, object], variant: int
) -> web.StreamResponse:
    """The start of the correct body: either short of its Content-Length (a payload error
    for the client) or complete but cut JSON (a decode error)."""
    body = orjson.dumps(payload)
    cut = 1 + variant // 2 % (len(body) - 2)
    while cut > 1 and 0x80 <= body[cut] < 0xC0:
        cut -= 1  # never split a UTF-8 character: the client must see bad JSON, not bad text
    if variant % 2:
        return web.Response(body=body[:cut], content_type=JSON_TYPE, charset="utf-8")
    response = web.StreamResponse(status=200)
    response.content_type = JSON_TYPE
    response.charset = "utf-8"
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body[:cut])
    if request.transport is not None:
        request.transport.close()
    return response


def break_fields(payload: dict[str, object], variant: int) -> dict[str, object]:
    """A copy of a success body without `status`, without a hit's `patent_id`, or with a
    mistyped `error_code`."""
    broken = dict(payload)
    data = broken.get("data")
    hits = data.get("patent_messages") if isinstance(data, dict) else None
    choice = variant % 3 if hits else variant % 2 * 2
    if choice == 0:
        del broken["status"]
    elif choice == 1 and isinstance(data, dict) and isinstance(hits, list):
        index = variant // 3 % len(hits)
        hit = {k: v for k, v in hits[index].items() if k != "patent_id"}
        broken["data"] = {**data, "patent_messages": [*hits[:index], hit, *hits[index + 1 :]]}
    else:
        broken["error_code"] = "0"
    return broken
