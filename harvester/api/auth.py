"""The two ways PatSnap issues credentials, read from the environment, and the token cache.

`PATSNAP_CLIENT_ID` + `PATSNAP_CLIENT_SECRET` are OAuth client credentials, exchanged for
a bearer token that expires (about 30 minutes); `PATSNAP_API_KEY` ("sk-...") is sent as the
bearer itself. When both are set the API key wins: no token exchange means one endpoint
less to fail and nothing to expire in the middle of a run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import anyio

from harvester.api.errors import MissingCredentials, UsageError
from harvester.api.models import TokenGrant

__all__ = [
    "ApiKey",
    "ClientCredentials",
    "Credentials",
    "TokenSource",
    "credentials_from_env",
]

_log = logging.getLogger("harvester.api")

EARLY_REFRESH_MAX = 60.0  # refresh this many seconds before expiry ...
EARLY_REFRESH_FRACTION = 0.1  # ... or this part of the lifetime, when that is less


@dataclass(slots=True, frozen=True)
class ClientCredentials:
    """OAuth client credentials, exchanged for a token at `{base}/oauth/token`."""

    client_id: str
    client_secret: str = field(repr=False)  #: a secret: never shown in reprs or logs


@dataclass(slots=True, frozen=True)
class ApiKey:
    """An API key ("sk-..."), sent as the bearer token itself; no token exchange."""

    key: str = field(repr=False)  #: a secret: never shown in reprs or logs


Credentials = ClientCredentials | ApiKey

_HOW = (
    "set PATSNAP_CLIENT_ID and PATSNAP_CLIENT_SECRET (OAuth client credentials, exchanged "
    "for a token) or PATSNAP_API_KEY (a key that starts with sk-, sent as is)"
)


def credentials_from_env(env: Mapping[str, str]) -> tuple[Credentials, str]:
    """The credentials in `env` and a one-line note saying which were used.

    Raises MissingCredentials (one paragraph naming both ways) when neither is complete.
    """
    key = env.get("PATSNAP_API_KEY", "").strip()
    client_id = env.get("PATSNAP_CLIENT_ID", "").strip()
    secret = env.get("PATSNAP_CLIENT_SECRET", "").strip()
    if key:
        note = "using the API key in PATSNAP_API_KEY"
        if not key.startswith("sk-"):
            note += " (it does not start with sk-; sent as given)"
        if client_id or secret:
            note += "; PATSNAP_CLIENT_ID/PATSNAP_CLIENT_SECRET are set too and ignored"
        return ApiKey(key), note
    if client_id and secret:
        if ":" in client_id:
            raise UsageError(
                "PATSNAP_CLIENT_ID must not contain ':' (HTTP Basic auth splits there)"
            )
        return (
            ClientCredentials(client_id, secret),
            f"using OAuth client credentials for client {client_id} (PATSNAP_CLIENT_ID)",
        )
    problem = "no PatSnap credentials are set"
    if client_id:
        problem = "PATSNAP_CLIENT_ID is set but PATSNAP_CLIENT_SECRET is missing"
    elif secret:
        problem = "PATSNAP_CLIENT_SECRET is set but PATSNAP_CLIENT_ID is missing"
    raise MissingCredentials(f"Cannot call PatSnap: {problem}. To authenticate, {_HOW}.")


class TokenSource:
    """A cached OAuth token, fetched when first needed and again shortly before it expires.

        tokens = TokenSource(fetch)                 # fetch: async () -> TokenGrant
        token = await tokens.token()
        token = await tokens.refresh(stale=token)   # after the API rejected `token`

    Fetches are single flight: however many callers ask at once, one fetch runs and they
    all share its token, or its error. The fetch runs in the task of the caller that
    found no token (a worker of the run's task group), never in a task of its own, so
    nothing of it outlives the run. A waiter cancelled does not disturb the fetch; if the
    fetching caller is cancelled, the next waiter in line fetches instead.
    """

    __slots__ = ("_clock", "_current", "_fetch", "_flight", "_refresh_at", "token_requests")

    def __init__(
        self,
        fetch: Callable[[], Awaitable[TokenGrant]],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch  #: asks the token endpoint for a new token
        self._clock = clock  #: monotonic seconds; tests pass a fake
        self._current: str | None = None  #: the token in use, None until fetched
        self._refresh_at = 0.0  #: clock time after which `_current` is no longer handed out
        self._flight: _Flight | None = None  #: the one fetch running, if any
        self.token_requests = 0  #: fetches started, for tests and the run summary

    def __repr__(self) -> str:
        state = "fetching" if self._flight else "valid" if self._current else "empty"
        return f"TokenSource({state}, token_requests={self.token_requests})"

    async def token(self) -> str:
        """The current token, fetched first if there is none or it is about to expire."""
        if self._current is not None and self._clock() < self._refresh_at:
            return self._current
        return await self._shared_fetch()

    async def refresh(self, stale: str) -> str:
        """A token other than `stale`: fetched if `stale` is still current, else the current."""
        if self._current == stale:
            self._current = None
            _log.info("token_rejected", extra={"event": "token_rejected"})
        return await self.token()

    async def _shared_fetch(self) -> str:
        while True:
            flight = self._flight
            if flight is None:
                return await self._lead()
            await flight.done.wait()
            if flight.error is not None:
                raise flight.error
            if flight.token is not None:
                return flight.token
            # the caller that was fetching was cancelled: the next one in line fetches

    async def _lead(self) -> str:
        """Fetch in this caller's task; every caller meanwhile waits for this flight."""
        flight = self._flight = _Flight(anyio.Event())
        self.token_requests += 1
        try:
            flight.token = await self._fetch_and_keep()
        except Exception as exc:
            flight.error = exc
            raise
        finally:
            self._flight = None
            flight.done.set()
        return flight.token

    async def _fetch_and_keep(self) -> str:
        started = self._clock()  # the lifetime counts from the request, to be safe
        grant = await self._fetch()
        early = min(EARLY_REFRESH_MAX, EARLY_REFRESH_FRACTION * grant.expires_in)
        self._current = grant.token
        self._refresh_at = started + grant.expires_in - early
        _log.info(
            "token_issued",
            extra={"event": "token_issued", "expires_in_s": grant.expires_in},
        )
        return grant.token


@dataclass(slots=True)
class _Flight:
    """One token fetch and what it brought, shared by everyone who waits for it."""

    done: anyio.Event
    token: str | None = None  #: set when the fetch succeeded
    error: Exception | None = None  #: set when it failed; neither: its caller was cancelled
