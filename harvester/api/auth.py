"""The two ways PatSnap issues credentials, read from the environment, and the token cache.

`PATSNAP_CLIENT_ID` + `PATSNAP_CLIENT_SECRET` are OAuth client credentials, exchanged for
a bearer token that expires (about 30 minutes); `PATSNAP_API_KEY` ("sk-...") is sent as the
bearer itself. When both are set the API key wins: no token exchange means one endpoint
less to fail and nothing to expire in the middle of a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

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
    client_secret: str

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r}, client_secret=<hidden>)"


@dataclass(slots=True, frozen=True)
class ApiKey:
    """An API key ("sk-..."), sent as the bearer token itself; no token exchange."""

    key: str

    def __repr__(self) -> str:
        return "ApiKey(key=<hidden>)"


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
    all share its token, or its error.
    """

    __slots__ = ("_clock", "_current", "_fetch", "_inflight", "_refresh_at", "token_requests")

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
        self._inflight: asyncio.Task[str] | None = None  #: the one fetch running, if any
        self.token_requests = 0  #: fetches started, for tests and the run summary

    def __repr__(self) -> str:
        state = "fetching" if self._inflight else "valid" if self._current else "empty"
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

    async def aclose(self) -> None:
        """Cancel a fetch still running (the run is over)."""
        task, self._inflight = self._inflight, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _shared_fetch(self) -> str:
        if self._inflight is None:
            self.token_requests += 1
            self._inflight = asyncio.create_task(self._fetch_and_keep())
            self._inflight.add_done_callback(_consume_error)
        # shield: a caller cancelled while waiting must not cancel the others' fetch
        return await asyncio.shield(self._inflight)

    async def _fetch_and_keep(self) -> str:
        started = self._clock()  # the lifetime counts from the request, to be safe
        try:
            grant = await self._fetch()
        finally:
            self._inflight = None
        early = min(EARLY_REFRESH_MAX, EARLY_REFRESH_FRACTION * grant.expires_in)
        self._current = grant.token
        self._refresh_at = started + grant.expires_in - early
        _log.info(
            "token_issued",
            extra={"event": "token_issued", "expires_in_s": grant.expires_in},
        )
        return grant.token


def _consume_error(task: asyncio.Task[str]) -> None:
    """Mark a failed fetch's error as seen: its waiters may all have been cancelled."""
    if not task.cancelled():
        task.exception()
