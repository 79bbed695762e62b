"""A local PatSnap-compatible server (aiohttp.web): the reference for integration tests,
`make demo` and benchmarks. Faithful to the API page, and never easier than PatSnap.

    async with running_sandbox(SandboxConfig(rate=10, fault_rate=0.05)) as sandbox:
        ...  # call f"{sandbox.url}/image-search/results", then read sandbox.stats

Endpoints: `POST /oauth/token`, `GET /image-search/results`, `POST /image-search/image-upload`,
`GET /image-search/search-id`, `GET /_sandbox/images/...` (uploads, served), and for tests
`GET /_sandbox/stats`, `POST /_sandbox/searches` (register created_at), `POST /_sandbox/reset`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from harvester.sandbox import image_calls
from harvester.sandbox.auth import parse_basic
from harvester.sandbox.codes import AUTH_FAILED, INVALID_PARAMETER, QUOTA_EXCEEDED, RATE_LIMITED
from harvester.sandbox.config import SandboxConfig
from harvester.sandbox.faults import (
    ALL_FAULTS,
    BODY_FAULTS,
    break_fields,
    canned_fault,
    drop_connection,
    truncated_response,
)
from harvester.sandbox.images import UPLOAD_PREFIX, ranking_of
from harvester.sandbox.options import add_arguments, config_from_args
from harvester.sandbox.query import InvalidParameter, Query, parse_query
from harvester.sandbox.responses import error_response, json_response
from harvester.sandbox.state import SandboxState
from harvester.sandbox.stats import SandboxStats

__all__ = [
    "ALL_FAULTS",
    "Sandbox",
    "SandboxConfig",
    "SandboxStats",
    "add_arguments",
    "build_app",
    "config_from_args",
    "running_sandbox",
    "serve_forever",
]

STATE = web.AppKey("sandbox_state", SandboxState)
DATA_WORKER = web.AppKey("sandbox_data_worker", ThreadPoolExecutor)
_SHUTDOWN_S = 1.0  # in-flight answers (a slow fault) get this long when the server stops
_MAX_REQUEST = 16 * 1024 * 1024  # so an upload a little over 4 MB is answered 68300010, not 413
Respond = Callable[[web.Request, "SandboxState"], Awaitable[web.StreamResponse]]


async def _token(request: web.Request) -> web.StreamResponse:
    """`POST /oauth/token`: HTTP Basic client credentials, form grant_type=client_credentials."""
    state = request.app[STATE]
    state.stats.token_requests += 1
    if state.in_outage():
        return _outage(state)
    await _latency(state)
    credentials = parse_basic(request.headers.get("Authorization"))
    form = await request.post()
    grant_type = form.get("grant_type")
    token = None
    if credentials is not None:
        grant = grant_type if isinstance(grant_type, str) else None
        token = state.grant(credentials[0], credentials[1], grant)
    if token is None:
        state.stats.auth_failures += 1
        return error_response(AUTH_FAILED, status=401)
    state.stats.tokens_issued += 1
    return json_response(
        {
            "token": token,
            "token_type": "BearerToken",
            "expires_in": int(state.config.token_ttl_s),
            "status": "approved",
            "issued_at": str(int(state.clock() * 1000)),
        }
    )


async def _results(request: web.Request) -> web.StreamResponse:
    """`GET /image-search/results`, checks in PatSnap's order, then faults, then data."""
    state = request.app[STATE]
    stats = state.stats
    stats.calls += 1
    stats.in_flight += 1
    stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
    try:
        # Every check happens on arrival (a rate limit stamps arrivals, as nginx's does);
        # the answer then takes the configured latency to come back.
        return await _delayed(state, await _answer(request, state, _page))
    finally:
        stats.in_flight -= 1


async def _create(request: web.Request) -> web.StreamResponse:
    """`GET /image-search/search-id`: a new search from an image URL, and its first page."""
    state = request.app[STATE]
    state.stats.create_calls += 1
    return await _delayed(state, await _answer(request, state, _created))


async def _upload(request: web.Request) -> web.StreamResponse:
    """`POST /image-search/image-upload`: multipart field `image`, a JPG/PNG of <= 4 MB."""
    state = request.app[STATE]
    state.stats.upload_calls += 1
    return await _delayed(state, await _answer(request, state, image_calls.uploaded))


async def _answer(
    request: web.Request, state: SandboxState, respond: Respond
) -> web.StreamResponse:
    """The checks every paid call goes through (outage, auth, rate, quota), then `respond`."""
    stats = state.stats
    if state.in_outage():
        return _outage(state)
    denied = state.authenticate(
        request.headers.get("Authorization"), request.query.getall("apikey", [])
    )
    if denied is not None:
        stats.auth_failures += 1
        return error_response(denied, status=state.auth_failure_status())
    wait = state.admit()
    if wait > 0:
        stats.rate_limited += 1
        status, headers = state.rate_limit_headers(wait)
        return error_response(RATE_LIMITED, status=status, headers=headers)
    if not state.hold_quota():
        stats.quota_rejected += 1
        return error_response(QUOTA_EXCEEDED)
    try:
        return await respond(request, state)
    finally:
        state.release_quota()


async def _page(request: web.Request, state: SandboxState) -> web.StreamResponse:
    stats = state.stats
    try:
        query = parse_query(request.query.items())
    except InvalidParameter as exc:
        stats.invalid_params += 1
        return error_response(INVALID_PARAMETER, str(exc))
    if state.expired(query.search_id):
        stats.expired += 1
        return error_response(state.config.expired_code)
    ranking = ranking_of(query.search_id)
    if ranking != query.search_id and query.offset == 0:
        stats.created_results_at_0 += 1
    answer, _ = await _respond(request, state, query, dataclasses.replace(query, search_id=ranking))
    return answer


async def _respond(
    request: web.Request,
    state: SandboxState,
    query: Query,
    data_query: Query,
    extra: dict[str, object] | None = None,
) -> tuple[web.StreamResponse, bool]:
    """Faults, then the page `data_query` asks for (plus `extra` fields in `data`), billed;
    True when it was a success (billed)."""
    stats = state.stats
    fault = state.faults.choose(query.search_id, query.offset, query.limit)
    if fault is not None:
        stats.fault(fault.kind)
        if fault.kind == "drop":
            return drop_connection(request), False
        if fault.kind not in BODY_FAULTS:
            return canned_fault(fault.kind), False
        if fault.kind == "slow":
            await asyncio.sleep(state.config.slow_s)
    # Building a filtered or date-sorted page can take tens of ms; done on the loop it
    # would hold back other requests, which then reach the rate check bunched together
    # and get refused although they were sent evenly. One worker thread keeps the data
    # set single-threaded and the loop free to timestamp arrivals.
    payload = await asyncio.get_running_loop().run_in_executor(
        request.app[DATA_WORKER], _success_body, state, data_query
    )
    if extra:
        data = payload["data"]
        assert isinstance(data, dict)
        data.update(extra)
    if fault is not None and fault.kind == "truncated":
        return await truncated_response(request, payload, fault.variant), False
    if fault is not None and fault.kind == "missing_field":
        return json_response(break_fields(payload, fault.variant)), False
    stats.bill(data_query.billing_key)
    return json_response(payload), True


async def _created(request: web.Request, state: SandboxState) -> web.StreamResponse:
    return await image_calls.created(request, state, _respond)


async def _image(request: web.Request) -> web.StreamResponse:
    """`GET /_sandbox/images/<token>/<name>`: an uploaded image, while its URL is valid."""
    return image_calls.served(request.app[STATE], request.path)


def _success_body(state: SandboxState, query: Query) -> dict[str, object]:
    hits, total = state.dataset.page(query)
    return {
        "data": {
            "patent_messages": [hit.message() for hit in hits],
            "total_search_result_count": total,
        },
        "status": True,
        "error_code": 0,
    }


def _outage(state: SandboxState) -> web.StreamResponse:
    """What a gateway in front of a down PatSnap sends: 503 with an HTML page, no JSON."""
    state.stats.outage_refused += 1
    return web.Response(
        status=503,
        text="<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
        content_type="text/html",
    )


async def _delayed(state: SandboxState, response: web.StreamResponse) -> web.StreamResponse:
    """`response` after the configured latency (a streamed, truncated one is already sent)."""
    if not response.prepared:
        await _latency(state)
    return response


async def _latency(state: SandboxState) -> None:
    delay = state.delay()
    if delay > 0:
        await asyncio.sleep(delay)


async def _stats(request: web.Request) -> web.StreamResponse:
    """`GET /_sandbox/stats`: the live counters."""
    return json_response(request.app[STATE].stats.as_dict())


async def _register(request: web.Request) -> web.StreamResponse:
    """`POST /_sandbox/searches`: `{"id", "created_at"}` or a list of them."""
    try:
        body = await request.json()
        items = body if isinstance(body, list) else [body]
        entries = [(str(item["id"]), _epoch(str(item["created_at"]))) for item in items]
    except (ValueError, KeyError, TypeError) as exc:
        text = f'expected {{"id": ..., "created_at": ISO-8601}} or a list of them ({exc})'
        return json_response({"status": False, "error_msg": text}, status=400)
    state = request.app[STATE]
    for search_id, created_at in entries:
        state.register(search_id, created_at)
    return json_response({"status": True, "registered": len(entries)})


async def _reset(request: web.Request) -> web.StreamResponse:
    """`POST /_sandbox/reset`: zero counters, forget search windows and fault history."""
    request.app[STATE].reset()
    return json_response({"status": True})


def _epoch(text: str) -> float:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # a time without zone is UTC, like job files
    return moment.timestamp()


async def _stop_data_worker(app: web.Application) -> None:
    app[DATA_WORKER].shutdown(wait=True, cancel_futures=True)


def build_app(config: SandboxConfig) -> web.Application:
    """The sandbox as an aiohttp application (state lives in the app, nowhere else)."""
    app = web.Application(client_max_size=_MAX_REQUEST)
    app[STATE] = SandboxState(config)
    app[DATA_WORKER] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-data")
    app.on_cleanup.append(_stop_data_worker)
    app.router.add_post("/oauth/token", _token)
    app.router.add_get("/image-search/results", _results)
    app.router.add_get("/image-search/search-id", _create)
    app.router.add_post("/image-search/image-upload", _upload)
    app.router.add_get(UPLOAD_PREFIX + "{token}/{name}", _image)
    app.router.add_get("/_sandbox/stats", _stats)
    app.router.add_post("/_sandbox/searches", _register)
    app.router.add_post("/_sandbox/reset", _reset)
    return app


@dataclass(slots=True, frozen=True)
class Sandbox:
    """A running sandbox: where it listens, how it is set up, and its live counters."""

    url: str  #: "http://127.0.0.1:PORT", no trailing slash
    config: SandboxConfig
    stats: SandboxStats  #: live; read it after the calls under test
    _state: SandboxState

    def register(self, search_id: str, created_at: datetime | float) -> None:
        """Say when a search was created (datetime, or epoch seconds); its window starts then."""
        when = created_at.timestamp() if isinstance(created_at, datetime) else created_at
        self._state.register(search_id, when)

    def reset(self) -> None:
        """Zero the counters, forget search windows and fault history, refill the bucket."""
        self._state.reset()


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@asynccontextmanager
async def running_sandbox(
    config: SandboxConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[Sandbox]:
    """Serve a sandbox on `host:port` (0 = a free port) for the duration of the block."""
    config = config or SandboxConfig()
    app = build_app(config)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_S)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = int(runner.addresses[0][1])
        yield Sandbox(
            url=_url(host, bound_port), config=config, stats=app[STATE].stats, _state=app[STATE]
        )
    finally:
        await runner.cleanup()


async def serve_forever(
    config: SandboxConfig, host: str, port: int, on_ready: Callable[[str], None]
) -> None:
    """Serve until cancelled; `on_ready(url)` is called once the port is listening.

    Positional or keyword arguments, so `anyio.run(serve_forever, config, host, port, ready)`
    works as well as keyword calls.
    """
    async with running_sandbox(config, host=host, port=port) as sandbox:
        on_ready(sandbox.url)
        await asyncio.Event().wait()
