"""One exception hierarchy for everything that can go wrong talking to PatSnap.

Classes are named for what the caller must do, not for what broke::

    PatSnapError                  base: carries the PatSnap `code` and `message`
    ├── Retryable                 try the same call again after a backoff
    │   ├── TransportError        timeout, connection refused/reset, DNS
    │   ├── ProtocolError         non-JSON, truncated body, missing/mistyped required field
    │   ├── ServerError           HTTP 5xx, 68300005, 68300008
    │   ├── UnknownCodeError      an error_code the API page does not list (a few tries, then fail)
    │   └── SlowDown              the platform's rate limit: slow the whole pool, then retry
    │       └── QuotaAmbiguous    67200002: a rate limit or the real quota; bounded tries, then stop
    ├── Reauthenticate            67200003/67200009: refresh the token once (single flight), retry
    ├── StopRun                   the account cannot go on: stop dispatch, commit, exit 3
    ├── SearchFailed              this search cannot be harvested; other searches go on
    └── UsageError                a request the API would reject; never sent (a bug or bad job)
        ├── MissingCredentials    neither way to authenticate is configured
        └── params.ParamError     one request parameter outside the API page's rules

The code -> action table is data (`ACTIONS`), in this one place; `error_for_code` turns
a code from a response body into the matching exception. Foreign exceptions (aiohttp,
asyncio, orjson) are mapped to these at one boundary in `client.py` and never leak.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "ACTIONS",
    "HTTP_ACTIONS",
    "Action",
    "CodeInfo",
    "MissingCredentials",
    "PatSnapError",
    "ProtocolError",
    "QuotaAmbiguous",
    "Reauthenticate",
    "Retryable",
    "SearchFailed",
    "ServerError",
    "SlowDown",
    "StopRun",
    "TransportError",
    "UnknownCodeError",
    "UsageError",
    "error_for_code",
    "error_for_http_status",
]


class Action(enum.Enum):
    """What the harvester does when the API answers with an error code."""

    RETRY = "retry with backoff while the window is open (exit 6 if nothing answers)"
    RETRY_THEN_FAIL = "retry a few times, then fail this search"
    SLOW_DOWN = "slow the whole pool down, honour Retry-After, retry"
    SLOW_DOWN_THEN_STOP = "slow down and retry a few times; if it persists, stop the run"
    REAUTHENTICATE = "refresh the token once for all workers, retry; again: stop the run"
    STOP_RUN = "stop dispatching, let in-flight pages land, commit, exit 3"
    FAIL_SEARCH = "fail this search with the code; other searches go on"


@dataclass(slots=True, frozen=True)
class CodeInfo:
    """One row of the action table: the API page's description and our action."""

    description: str  #: the API page's words for the code
    action: Action  #: what the harvester does about it
    advice: str = ""  #: what a person should do, for StopRun codes


# The API page's business and platform codes, plus the 67200007/8/9 codes other PatSnap
# pages document. An operator sees this table with `harvester codes`.
ACTIONS: Mapping[int, CodeInfo] = MappingProxyType(
    {
        68300004: CodeInfo("Invalid parameter!", Action.FAIL_SEARCH),
        68300005: CodeInfo("Search api failure!", Action.RETRY),
        # Not in DESIGN.md's table, so "any other code": it may be a passing backend
        # fault or a missing entitlement; a few tries tell, then the search fails.
        68300006: CodeInfo("Analytic basic access error!", Action.RETRY_THEN_FAIL),
        68300007: CodeInfo("Bad request!", Action.FAIL_SEARCH),
        68300008: CodeInfo("Service error, please try again later!", Action.RETRY),
        68300010: CodeInfo(
            "The file does not comply with upload specifications!", Action.FAIL_SEARCH
        ),
        67200001: CodeInfo(
            "API call exceeds the total limit set by the platform!", Action.SLOW_DOWN
        ),
        67200002: CodeInfo(
            "Quota exceeds the limit!",
            Action.SLOW_DOWN_THEN_STOP,
            "the account's call quota is used up; wait for it to reset or buy more, then resume",
        ),
        67200003: CodeInfo(
            "Access token expired or authentication error!",
            Action.REAUTHENTICATE,
            "check PATSNAP_CLIENT_ID / PATSNAP_CLIENT_SECRET (or PATSNAP_API_KEY)",
        ),
        67200004: CodeInfo(
            "No permission or API package quota has exceeded the limit!",
            Action.STOP_RUN,
            "the API package lacks this API or its quota is used up; check the package",
        ),
        67200005: CodeInfo(
            "Insufficient balance, call failed!",
            Action.STOP_RUN,
            "top up the account balance, then resume",
        ),
        67200006: CodeInfo(
            "This client has expired and call failed!",
            Action.STOP_RUN,
            "the API client has expired; renew it in the PatSnap console, then resume",
        ),
        67200007: CodeInfo(
            "API call limit reached!",
            Action.STOP_RUN,
            "the account's call limit is reached; raise it or wait, then resume",
        ),
        67200008: CodeInfo(
            "apikey missing!",
            Action.STOP_RUN,
            "PatSnap did not receive the apikey; check PATSNAP_CLIENT_ID",
        ),
        67200009: CodeInfo(
            "Token and apikey do not match!",
            Action.REAUTHENTICATE,
            "PATSNAP_CLIENT_ID does not belong to the token's client; check the credentials",
        ),
    }
)


class PatSnapError(Exception):
    """Base of every error the client raises; carries PatSnap's code and message."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message  #: human text, never containing a secret
        self.code = code  #: PatSnap error_code, if the body had one
        self.http_status = http_status  #: HTTP status, if a response arrived
        self.retry_after = retry_after  #: seconds from a Retry-After header, if any

    def __str__(self) -> str:
        where = f"error_code {self.code}" if self.code is not None else None
        if where is None and self.http_status is not None:
            where = f"HTTP {self.http_status}"
        return f"{self.message} ({where})" if where else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r})"


class Retryable(PatSnapError):
    """A transient failure: the same call may succeed after a backoff."""


class TransportError(Retryable):
    """No usable response: timeout, connection refused or reset, DNS failure."""


class ProtocolError(Retryable):
    """A response that is not what the API page promises (bad JSON, missing fields)."""


class ServerError(Retryable):
    """PatSnap reported a failure on its side (HTTP 5xx, 68300005, 68300008)."""


class UnknownCodeError(Retryable):
    """An error_code the API page does not list; retried a few times, then the search fails."""


class SlowDown(Retryable):
    """The platform's rate limit (67200001, HTTP 429): slow the whole pool, then retry."""


class QuotaAmbiguous(SlowDown):
    """67200002: a per-second limit on some pages, the real quota on others; bounded tries."""


class Reauthenticate(PatSnapError):
    """The token expired or was rejected: refresh once for all workers, then retry."""


class StopRun(PatSnapError):
    """The account cannot go on (quota, balance, permission, credentials): stop the run."""

    @property
    def advice(self) -> str:
        """What the account needs, in words a person can act on."""
        info = ACTIONS.get(self.code) if self.code is not None else None
        if info and info.advice:
            return info.advice
        if self.code is None and self.http_status is not None and 300 <= self.http_status < 500:
            # 404 or a redirect without a PatSnap code: the URL is wrong, not the account
            return "check --base-url (or PATSNAP_BASE_URL), then resume"
        return "check the PatSnap account, then resume"


class SearchFailed(PatSnapError):
    """This search cannot be harvested (bad parameter, bad request); others go on."""


class UsageError(PatSnapError):
    """A request the API would reject, caught before it was sent (no call is paid for)."""


class MissingCredentials(UsageError):
    """Neither way to authenticate is configured."""


_BY_ACTION: Mapping[Action, type[PatSnapError]] = {
    Action.RETRY: ServerError,
    Action.RETRY_THEN_FAIL: UnknownCodeError,
    Action.SLOW_DOWN: SlowDown,
    Action.SLOW_DOWN_THEN_STOP: QuotaAmbiguous,
    Action.REAUTHENTICATE: Reauthenticate,
    Action.STOP_RUN: StopRun,
    Action.FAIL_SEARCH: SearchFailed,
}


def error_for_code(
    code: int,
    message: str | None,
    *,
    http_status: int | None = None,
    retry_after: float | None = None,
) -> PatSnapError:
    """The exception for an `error_code` from a response body, per `ACTIONS`."""
    info = ACTIONS.get(code)
    if info is None:
        text = message or "error code not listed on the API page"
        return UnknownCodeError(text, code=code, http_status=http_status, retry_after=retry_after)
    cls = _BY_ACTION[info.action]
    return cls(
        message or info.description,
        code=code,
        http_status=http_status,
        retry_after=retry_after,
    )


#: What `error_for_http_status` and the client's exception boundary do when a response
#: carries no error_code, in words for `harvester codes` (keep in step with the function).
HTTP_ACTIONS: tuple[tuple[str, str], ...] = (
    ("HTTP 408, 5xx; refused, reset, DNS, TLS, timeouts, bad JSON", Action.RETRY.value),
    ("HTTP 429 (Retry-After honoured, up to 60 s)", Action.SLOW_DOWN.value),
    ("HTTP 401, 403", Action.REAUTHENTICATE.value),
    ("HTTP 404, 3xx (wrong base URL)", "stop the run, exit 3: check --base-url"),
    ("HTTP 400, 422", Action.FAIL_SEARCH.value),
    ("any other HTTP status", Action.RETRY_THEN_FAIL.value),
)


def error_for_http_status(status: int, *, retry_after: float | None = None) -> PatSnapError:
    """The exception for an HTTP error status whose body carried no error_code."""
    if status == 408:
        return TransportError("HTTP 408: PatSnap timed the request out", http_status=status)
    if status == 429:
        return SlowDown("HTTP 429 Too Many Requests", http_status=status, retry_after=retry_after)
    if status in (401, 403):
        return Reauthenticate(f"HTTP {status}: credentials rejected", http_status=status)
    if status >= 500:
        return ServerError(
            f"HTTP {status} from PatSnap", http_status=status, retry_after=retry_after
        )
    if status == 404:
        return StopRun(
            "HTTP 404: the endpoint does not exist at this base URL; check --base-url",
            http_status=status,
        )
    if 300 <= status < 400:
        # The client never follows redirects: they would carry the bearer token elsewhere.
        return StopRun(
            f"HTTP {status}: the base URL redirects elsewhere and the client does not follow "
            "redirects; set --base-url (or PATSNAP_BASE_URL) to the final address",
            http_status=status,
        )
    if status in (400, 422):
        return SearchFailed(f"HTTP {status}: request rejected", http_status=status)
    return UnknownCodeError(f"HTTP {status} from PatSnap", http_status=status)
