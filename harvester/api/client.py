"""The PatSnap client: one aiohttp session per run, authentication, one call per page.

    async with PatSnapClient(base_url, credentials) as client:
        page = await client.fetch_page(search_id, offset=0, limit=100, filters={})
        upload = await client.upload_image(Path("lamp.png"))            # upload.url
        created = await client.create_search(upload.url, limit=100, filters={})

Each call returns a value or raises a PatSnapError subclass (see errors.py); aiohttp,
asyncio and OS exceptions are mapped at one boundary, `map_exceptions`. A rejected OAuth
token is refreshed once for all callers (single flight) and the call retried once.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import io
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import aiohttp
import anyio
import yarl
from aiohttp.http_exceptions import HttpProcessingError

from harvester import __version__
from harvester.api.auth import ApiKey, ClientCredentials, Credentials, TokenSource
from harvester.api.errors import (
    PatSnapError,
    ProtocolError,
    Reauthenticate,
    StopRun,
    TransportError,
    UsageError,
)
from harvester.api.models import Created, Page, TokenGrant, Upload
from harvester.api.params import ParamError, build_query
from harvester.api.parse import (
    MAX_BODY_BYTES,
    TOKEN_REJECTED_CODE,
    parse_created,
    parse_page,
    parse_retry_after,
    parse_token,
    parse_upload,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "ClientSettings",
    "PatSnapClient",
    "base_url_from_env",
    "map_exceptions",
]

DEFAULT_BASE_URL = "https://connect.patsnap.com"
RESULTS_PATH = "/image-search/results"
CREATE_PATH = "/image-search/search-id"
UPLOAD_PATH = "/image-search/image-upload"
TOKEN_PATH = "/oauth/token"
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})

_log = logging.getLogger("harvester.api")
T = TypeVar("T")
#: sends one request with the given query and bearer credential, and parses the answer
_Send = Callable[[dict[str, str], str], Awaitable[T]]


def base_url_from_env(env: Mapping[str, str], override: str | None = None) -> str:
    """`override`, else PATSNAP_BASE_URL, else the default; checked, without a trailing slash.

    Plain http is allowed for loopback only (the sandbox): elsewhere it would expose secrets.
    """
    raw = (override or "").strip() or env.get("PATSNAP_BASE_URL", "").strip() or DEFAULT_BASE_URL
    try:
        url = yarl.URL(raw)
    except ValueError:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise UsageError(f"base URL {raw!r} is not an http(s) URL, e.g. {DEFAULT_BASE_URL}")
    if url.user or url.password:  # the message leaves them out: they may be a secret
        shown = str(url.with_user(None))
        raise UsageError(f"base URL {shown!r} must have no user info; credentials go in env")
    if url.query_string or url.fragment:
        raise UsageError(f"base URL {raw!r} must have no query or fragment")
    if url.scheme == "http" and url.host not in _LOOPBACK:
        raise UsageError(
            f"base URL {raw!r} is plain http: credentials would travel unencrypted; use https"
        )
    return str(url).rstrip("/")


@dataclass(slots=True, frozen=True)
class ClientSettings:
    """Connection settings of one client (seconds, connections, headers)."""

    connect_timeout: float = 10  #: to open a TCP+TLS connection
    read_timeout: float = 30  #: between bytes of a response
    pool_size: int = 32  #: connections kept to PatSnap
    version_header: bool = True  #: send `X-PatSnap-Version: 1.0`
    user_agent: str = f"patsnap-harvester/{__version__}"

    def __post_init__(self) -> None:
        if self.connect_timeout <= 0 or self.read_timeout <= 0 or self.pool_size < 1:
            raise ValueError("timeouts must be positive and pool_size at least 1")


_DEFAULT_SETTINGS = ClientSettings()


class _State(enum.Enum):
    UNOPENED = "not opened yet"
    OPENED = "open"
    CLOSED = "closed"


class PatSnapClient:
    """An async context manager around one aiohttp session; `fetch_page` is the one call.

    A client is opened once; after `async with` ends it refuses reuse. A session passed in
    is used as is and not closed (its owner closes it); `clock` times token expiry (tests).
    """

    __slots__ = (
        "_base_url",
        "_credentials",
        "_owns_session",
        "_pace",
        "_session",
        "_settings",
        "_state",
        "_tokens",
    )

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        settings: ClientSettings = _DEFAULT_SETTINGS,
        *,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.monotonic,
        pace: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        # Awaited right before every results request, after the token is at hand, so the
        # account's rate holds for retries after a refresh too and a token wait cannot
        # bunch paced calls into a burst.
        self._pace = pace
        self._credentials = credentials
        self._settings = settings
        self._session = session
        self._owns_session = session is None
        self._state = _State.UNOPENED
        self._tokens = (
            TokenSource(self._request_token, clock=clock)
            if isinstance(credentials, ClientCredentials)
            else None
        )

    def __repr__(self) -> str:
        return (
            f"PatSnapClient({self._base_url!r}, {self._credentials!r}, "
            f"state={self._state.name.lower()}, token_requests={self.token_requests})"
        )

    @property
    def token_requests(self) -> int:
        """Token requests made so far (0 with an API key: it needs none)."""
        return self._tokens.token_requests if self._tokens is not None else 0

    async def __aenter__(self) -> PatSnapClient:
        if self._state is not _State.UNOPENED:
            raise RuntimeError(f"this PatSnapClient is {self._state.value}; open a new one")
        if self._session is None:
            settings = self._settings
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=settings.pool_size),  # TLS verified
                timeout=aiohttp.ClientTimeout(
                    total=None,  # waiting for a pooled connection is the caller's business
                    sock_connect=settings.connect_timeout,
                    sock_read=settings.read_timeout,
                ),
            )
            _no_hidden_resend(self._session)
        self._state = _State.OPENED
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._state = _State.CLOSED
        if self._owns_session and self._session is not None:
            await self._session.close()

    async def fetch_page(
        self, search_id: str, *, offset: int, limit: int, filters: Mapping[str, str]
    ) -> Page:
        """One page of a search; raises ParamError before sending anything the API rejects."""
        self._check_open()
        query = build_query(search_id, offset=offset, limit=limit, filters=filters)
        return await self._authenticated(query, self._get_page)

    async def create_search(
        self, url: str, *, offset: int = 0, limit: int, filters: Mapping[str, str]
    ) -> Created:
        """Create a search from the image at `url` (a paid call); its answer holds the new
        search_id and the page at `offset`. The search's window starts now."""
        self._check_open()
        if not isinstance(url, str) or not url.strip():
            raise ParamError("url", url, "an http(s) URL of a JPG or PNG image")
        # the results call's checks of limit, offset and filters hold for this call too
        query = build_query("-", offset=offset, limit=limit, filters=filters)
        del query["search_id"]
        query = {"url": url.strip(), **query}
        return await self._authenticated(query, self._get_created)

    async def upload_image(self, path: Path) -> Upload:
        """Upload a local JPG/PNG (a paid call); the answer is its public URL and lifetime."""
        self._check_open()
        data = await anyio.to_thread.run_sync(path.read_bytes)
        name = path.name

        async def send(query: dict[str, str], bearer: str) -> Upload:
            form = aiohttp.FormData()
            # a BytesIO, not bytes: aiohttp warns that large raw bytes may block the loop
            image = io.BytesIO(data)
            form.add_field("image", image, filename=name, content_type=_content_type(data))
            answer = await self._request("POST", UPLOAD_PATH, query, bearer, form)
            body, status, retry_after = answer
            return parse_upload(body, http_status=status, retry_after=retry_after)

        return await self._authenticated({}, send)

    def _check_open(self) -> None:
        if self._state is not _State.OPENED:
            raise RuntimeError(f"this PatSnapClient is {self._state.value}; use `async with`")

    async def _authenticated(self, query: dict[str, str], send: _Send[T]) -> T:
        """Send with the API key, or with a token refreshed once (single flight) if rejected."""
        credentials = self._credentials
        if isinstance(credentials, ApiKey):
            try:
                return await send(query, credentials.key)
            except Reauthenticate as error:
                raise _api_key_rejected(error) from None
        assert self._tokens is not None
        query["apikey"] = credentials.client_id
        token = await self._tokens.token()
        try:
            return await send(query, token)
        except Reauthenticate as error:
            _log.info("reauthenticate", extra={"event": "reauthenticate", "code": error.code})
        token = await self._tokens.refresh(stale=token)
        try:
            return await send(query, token)
        except Reauthenticate as error:
            raise _rejected_after_refresh(error) from None

    async def _get_page(self, query: dict[str, str], bearer: str) -> Page:
        body, status, retry_after = await self._request("GET", RESULTS_PATH, query, bearer)
        return parse_page(body, http_status=status, retry_after=retry_after)

    async def _get_created(self, query: dict[str, str], bearer: str) -> Created:
        body, status, retry_after = await self._request("GET", CREATE_PATH, query, bearer)
        return parse_created(body, http_status=status, retry_after=retry_after)

    async def _request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        bearer: str,
        data: aiohttp.FormData | None = None,
    ) -> tuple[bytes, int, float | None]:
        """One paced request: (body, HTTP status, Retry-After seconds)."""
        session = self._session
        assert session is not None
        headers = self._headers()
        headers["Authorization"] = f"Bearer {bearer}"
        if self._pace is not None:
            await self._pace()
        with map_exceptions(path):
            async with session.request(
                method,
                self._base_url + path,
                params=query,
                data=data,
                headers=headers,
                allow_redirects=False,  # a redirect would carry the bearer token elsewhere
            ) as response:
                body = await _read_body(response)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                return body, response.status, retry_after

    async def _request_token(self) -> TokenGrant:
        credentials = self._credentials
        session = self._session
        assert isinstance(credentials, ClientCredentials) and session is not None
        with map_exceptions(TOKEN_PATH):
            async with session.post(
                self._base_url + TOKEN_PATH,
                data={"grant_type": "client_credentials"},
                headers=self._headers() | {"Authorization": _basic_auth(credentials)},
                allow_redirects=False,
            ) as response:
                body = await _read_body(response)
                status = response.status
        return parse_token(body, http_status=status)

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self._settings.user_agent}
        if self._settings.version_header:
            headers["X-PatSnap-Version"] = "1.0"
        return headers


async def _read_body(response: aiohttp.ClientResponse) -> bytes:
    """The whole body, refusing more than MAX_BODY_BYTES (no page of hits is that large)."""
    if response.content_length is not None and response.content_length > MAX_BODY_BYTES:
        raise _too_large(response)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large(response)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(response: aiohttp.ClientResponse) -> ProtocolError:
    # made only when raised, not built (and thrown away) for every page
    return ProtocolError(
        f"response body exceeds {MAX_BODY_BYTES} bytes", http_status=response.status
    )


def _no_hidden_resend(session: aiohttp.ClientSession) -> None:
    """Turn off aiohttp's silent second GET when a reused connection drops.

    That resend is a second paid call the engine's limiter never saw; one fetch must be
    one request, and the engine's retry policy decides the rest. aiohttp has no public
    switch (aio-libs/aiohttp#10790: its maintainers keep `_retry_connection` private, and
    their own test client sets it like this). tests/test_api_client.py pins the attribute,
    so an aiohttp upgrade that renames it fails the suite instead of paying twice.
    """
    session._retry_connection = False


def _content_type(data: bytes) -> str:
    return "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"


def _basic_auth(credentials: ClientCredentials) -> str:
    """HTTP Basic credentials (RFC 7617, UTF-8); aiohttp's BasicAuth is deprecated in 3.14."""
    pair = f"{credentials.client_id}:{credentials.client_secret}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _api_key_rejected(error: Reauthenticate) -> StopRun:
    return StopRun(
        f"PatSnap rejected the API key ({error.message}); check that PATSNAP_API_KEY is "
        "current and belongs to this account",
        code=error.code if error.code is not None else TOKEN_REJECTED_CODE,
        http_status=error.http_status,
    )


def _rejected_after_refresh(error: Reauthenticate) -> StopRun:
    return StopRun(
        f"PatSnap rejected the credentials again right after a token refresh ({error.message}); "
        "check that PATSNAP_CLIENT_ID and PATSNAP_CLIENT_SECRET belong to the same, active "
        "client with access to this API",
        code=error.code if error.code is not None else TOKEN_REJECTED_CODE,
        http_status=error.http_status,
    )


# Most specific first: the first matching row decides. Timeouts come before connection
# errors because aiohttp's timeouts are both.
_MAPPING: tuple[tuple[type[BaseException], type[PatSnapError], str], ...] = (
    (aiohttp.ClientConnectorCertificateError, TransportError, "TLS certificate check failed"),
    (aiohttp.ServerFingerprintMismatch, TransportError, "TLS certificate fingerprint mismatch"),
    (aiohttp.ClientSSLError, TransportError, "TLS handshake failed"),
    (TimeoutError, TransportError, "timed out"),
    (aiohttp.ServerDisconnectedError, TransportError, "server closed the connection"),
    (aiohttp.ClientPayloadError, ProtocolError, "response body incomplete or malformed"),
    (aiohttp.InvalidURL, UsageError, "invalid URL; check --base-url"),
    (aiohttp.NonHttpUrlClientError, UsageError, "not an http(s) URL; check --base-url"),
    (aiohttp.ClientResponseError, ProtocolError, "malformed HTTP response"),
    (HttpProcessingError, ProtocolError, "malformed HTTP response"),
    (aiohttp.ClientConnectionError, TransportError, "connection failed"),
    (aiohttp.ClientError, TransportError, "HTTP client error"),
    (OSError, TransportError, "network error"),
)


@contextlib.contextmanager
def map_exceptions(path: str = "") -> Iterator[None]:
    """Turn aiohttp, asyncio and OS exceptions raised inside into PatSnapErrors.

    Messages name the foreign type and its text, except for response errors, whose
    request info holds the Authorization header: those keep neither text nor cause.
    """
    try:
        yield
    except PatSnapError:
        raise
    except Exception as exc:
        mapped = _mapped(exc, f" calling {path}" if path else "")
        if mapped is None:
            raise
        if isinstance(exc, aiohttp.ClientResponseError):
            raise mapped from None
        raise mapped from exc


def _mapped(exc: Exception, where: str) -> PatSnapError | None:
    for foreign, ours, what in _MAPPING:
        if not isinstance(exc, foreign):
            continue
        if isinstance(exc, aiohttp.ClientResponseError):
            detail = f"{type(exc).__name__}: {exc.status} {exc.message}"
            return ours(f"{what}{where} ({detail})", http_status=exc.status or None)
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return ours(f"{what}{where} ({detail})")
    return None
