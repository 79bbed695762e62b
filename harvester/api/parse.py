"""Response bodies of PatSnap turned into values or errors: pure functions, no I/O.

Lenient where PatSnap is loose (it adds fields without notice), strict only where the
harvester cannot go on without a value. Decisions, in one place:

- A success must be one by the letter of the API page: `status` true and `error_code` the
  JSON integer 0 (a string "0" is a mistyped required field, a ProtocolError). An error is
  classified by its code's number even when it arrives as a string ("67200005"): retrying
  a quota stop because of its quotes would waste the run. Booleans are never codes.
- A non-zero `error_code` decides, whatever `status` says; `status: false` with code 0
  is an `UnknownCodeError` with code 0 (retried a few times, then the search fails).
- A success needs a `data` object. It is an empty page only when it says so:
  `patent_messages` is `[]`, or absent/null with `total_search_result_count` 0. A success
  without `data`, or with hits but no usable total, is a `ProtocolError`: treating it as
  empty would mark a search complete and lose its hits silently; retrying costs a call.
- Optional hit fields of the wrong type become None; numbers may arrive as numeric strings.
- Error messages quote PatSnap's `error_msg` but never the body itself (it may hold a token).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import Any

import orjson

from harvester.api.errors import (
    PatSnapError,
    ProtocolError,
    Reauthenticate,
    StopRun,
    error_for_code,
    error_for_http_status,
)
from harvester.api.fast_page import fast_page
from harvester.api.models import Created, Hit, Page, TokenGrant, Upload

__all__ = [
    "DEFAULT_EXPIRES_IN",
    "MAX_BODY_BYTES",
    "lenient_page",
    "parse_created",
    "parse_page",
    "parse_retry_after",
    "parse_token",
    "parse_upload",
]

MAX_BODY_BYTES = 8 * 1024 * 1024  # a page of 100 hits is ~30 KiB; more is not PatSnap
DEFAULT_EXPIRES_IN = 1800.0  # seconds, when the token endpoint does not say
UPLOAD_EXPIRE_DEFAULT = 32400.0  # seconds an uploaded image's URL lasts, per the API page
TOKEN_REJECTED_CODE = 67200003  # "Access token expired or authentication error!"

_INTEGER = re.compile(r"-?\d+")
_KINDS: Mapping[type, str] = MappingProxyType(
    {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }
)


def parse_page(body: bytes, *, http_status: int = 200, retry_after: float | None = None) -> Page:
    """The page in a `GET /image-search/results` answer, or raise the PatSnapError it means."""
    if 200 <= http_status < 300:
        page = fast_page(body)  # the plain case in one pass: the Page the lenient path gives
        if page is not None:
            return page
    return lenient_page(body, http_status=http_status, retry_after=retry_after)


def lenient_page(body: bytes, *, http_status: int = 200, retry_after: float | None = None) -> Page:
    """parse_page without its fast path: every rule above, for any body."""
    answer = _success(body, http_status, retry_after)
    return _page(answer.get("data"), http_status)


def parse_created(
    body: bytes, *, http_status: int = 200, retry_after: float | None = None
) -> Created:
    """The new search in a `GET /image-search/search-id` answer (its id and first page).

    The API page does not name the id's field: `data.search_id` is read, and `searchId`,
    or either at the top level, accepted. An answer without one is a ProtocolError.
    """
    answer = _success(body, http_status, retry_after)
    data = answer.get("data")
    page = _page(data, http_status)
    places = (data if isinstance(data, dict) else {}, answer)
    for place in places:
        for key in ("search_id", "searchId"):
            value = place.get(key)
            if isinstance(value, str) and value.strip():
                return Created(search_id=value.strip(), page=page)
    raise ProtocolError(
        "search creation answered without a `data.search_id` string", http_status=http_status
    )


def parse_upload(
    body: bytes, *, http_status: int = 200, retry_after: float | None = None
) -> Upload:
    """The public URL in a `POST /image-search/image-upload` answer, and how long it lasts.

    A missing or non-positive `expire` counts as 32400 s (the API page's value).
    """
    answer = _success(body, http_status, retry_after)
    data = answer.get("data")
    if not isinstance(data, dict):
        raise ProtocolError(
            f"successful upload without a `data` object (got {_kind(data)})",
            http_status=http_status,
        )
    url = data.get("url")
    if not isinstance(url, str) or not url.strip().lower().startswith(("http://", "https://")):
        raise ProtocolError(
            f"successful upload without a `data.url` http(s) string (got {_kind(url)})",
            http_status=http_status,
        )
    expire = _as_float(data.get("expire"))
    if expire is None or expire <= 0:
        expire = UPLOAD_EXPIRE_DEFAULT
    return Upload(url=url.strip(), expire_s=expire)


def _success(body: bytes, http_status: int, retry_after: float | None) -> dict[str, Any]:
    """The answer object of a success, or raise the PatSnapError the body or status means."""
    if not 200 <= http_status < 300:
        raise _error_for_failed_status(body, http_status, retry_after)
    answer = _load_object(body, "response", http_status)
    raw_code = answer.get("error_code")
    code = _as_int(raw_code)
    if code is None:
        raise ProtocolError(
            f"response has no integer `error_code` (got {_kind(raw_code)})",
            http_status=http_status,
        )
    status = answer.get("status")
    if code != 0:
        raise error_for_code(
            code, _message(answer), http_status=http_status, retry_after=retry_after
        )
    if type(raw_code) is not int:
        raise ProtocolError(
            f"successful response with `error_code` 0 as {_kind(raw_code)}, not an integer",
            http_status=http_status,
        )
    if not isinstance(status, bool):
        raise ProtocolError(
            f"response has no boolean `status` (got {_kind(status)})", http_status=http_status
        )
    if not status:
        message = _message(answer) or "status false with error_code 0"
        raise error_for_code(0, message, http_status=http_status, retry_after=retry_after)
    return answer


def parse_token(body: bytes, *, http_status: int = 200) -> TokenGrant:
    """The token in an `/oauth/token` answer, or raise: StopRun when it will not get better."""
    if not 200 <= http_status < 300:
        raise _token_refused(body, http_status)
    answer = _load_object(body, "token response", http_status)
    inner = answer.get("data")
    source = inner if isinstance(inner, dict) and _token_of(answer) is None else answer
    token = _token_of(source)
    if token is None:
        raise _token_missing(answer, http_status)
    expires_in = _as_float(source.get("expires_in"))
    if expires_in is None or expires_in <= 0:
        expires_in = DEFAULT_EXPIRES_IN
    return TokenGrant(token=token, expires_in=expires_in)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), else None."""
    if value is None or not value.strip():
        return None
    seconds = _as_float(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _page(data: object, http_status: int) -> Page:
    if not isinstance(data, dict):
        raise ProtocolError(
            f"successful response without a `data` object (got {_kind(data)})",
            http_status=http_status,
        )
    total = _as_int(data.get("total_search_result_count"))
    if total is not None and total < 0:
        total = None
    messages = data.get("patent_messages")
    if messages is None and total == 0:
        return Page(hits=(), total=0)
    if not isinstance(messages, list):
        raise ProtocolError(
            f"`data.patent_messages` is not a list (got {_kind(messages)})",
            http_status=http_status,
        )
    hits = _hits(messages, http_status)
    if total is None:
        if hits:
            raise ProtocolError(
                "response has hits but no usable `data.total_search_result_count`",
                http_status=http_status,
            )
        total = 0
    return Page(hits=hits, total=total)


def _hits(messages: list[object], http_status: int) -> tuple[Hit, ...]:
    """A page's hits. One loop with the type checks inline: this runs for every hit of
    every page, and a call per field cost more than the JSON parse of the page."""
    hits = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise ProtocolError(f"hit {index} is not an object", http_status=http_status)
        patent_id = message.get("patent_id")
        if not isinstance(patent_id, str) or not patent_id.strip():
            raise ProtocolError(
                f"hit {index} has no `patent_id` string (got {_kind(patent_id)})",
                http_status=http_status,
            )
        patent_pn = message.get("patent_pn")
        title = message.get("title")
        score = message.get("score")
        url = message.get("url")
        fields = (
            patent_id,
            patent_pn if isinstance(patent_pn, str) else None,
            title if isinstance(title, str) else None,
            score if type(score) is float and math.isfinite(score) else _as_float(score),
            url if isinstance(url, str) else None,
        )
        hits.append(_new_hit(Hit, fields))  # Hit(*fields) without its Python-level __new__
    return tuple(hits)


_new_hit: Callable[[type[Hit], tuple[Any, ...]], Hit] = tuple.__new__


def _error_for_failed_status(
    body: bytes, http_status: int, retry_after: float | None
) -> PatSnapError:
    """Classify by the body's error_code when it has one, else by the HTTP status."""
    answer = _try_load_object(body)
    code = _as_int(answer.get("error_code")) if answer is not None else None
    if answer is not None and code:
        return error_for_code(
            code, _message(answer), http_status=http_status, retry_after=retry_after
        )
    return error_for_http_status(http_status, retry_after=retry_after)


def _token_refused(body: bytes, http_status: int) -> PatSnapError:
    answer = _try_load_object(body)
    code = _as_int(answer.get("error_code")) if answer is not None else None
    if answer is not None and code:
        return _final(error_for_code(code, _message(answer), http_status=http_status))
    if http_status in (400, 401, 403):
        return StopRun(
            f"the token endpoint rejected the client credentials (HTTP {http_status}); "
            "check PATSNAP_CLIENT_ID and PATSNAP_CLIENT_SECRET",
            code=TOKEN_REJECTED_CODE,
            http_status=http_status,
        )
    return _final(error_for_http_status(http_status))


def _token_missing(answer: dict[str, Any], http_status: int) -> PatSnapError:
    code = _as_int(answer.get("error_code"))
    if code:
        return _final(error_for_code(code, _message(answer), http_status=http_status))
    keys = ", ".join(sorted(str(key) for key in answer)) or "none"
    return StopRun(
        f"the token endpoint answered without a `token` (fields: {keys}); check "
        "PATSNAP_BASE_URL and the client credentials",
        http_status=http_status,
    )


def _final(error: PatSnapError) -> PatSnapError:
    """A rejection by the token endpoint itself cannot be cured by another refresh."""
    if isinstance(error, Reauthenticate):
        return StopRun(
            f"the token endpoint rejected the client credentials: {error.message}; "
            "check PATSNAP_CLIENT_ID and PATSNAP_CLIENT_SECRET",
            code=error.code if error.code is not None else TOKEN_REJECTED_CODE,
            http_status=error.http_status,
        )
    return error


def _load_object(body: bytes, what: str, http_status: int) -> dict[str, Any]:
    if not body.strip():
        raise ProtocolError(f"empty {what} body", http_status=http_status)
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ProtocolError(
            f"{what} is not valid JSON ({len(body)} bytes; truncated or not JSON)",
            http_status=http_status,
        ) from None
    if not isinstance(value, dict):
        raise ProtocolError(
            f"{what} is not a JSON object (got {_kind(value)})", http_status=http_status
        )
    return value


def _try_load_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(body) if body.strip() else None
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _token_of(source: dict[str, Any]) -> str | None:
    for key in ("token", "access_token"):
        value = source.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _message(answer: dict[str, Any]) -> str | None:
    message = answer.get("error_msg")
    return message if isinstance(message, str) and message.strip() else None


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return None


def _as_float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _as_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _kind(value: object) -> str:
    """A field's JSON type for messages; never its value, which could be anything."""
    if value is None:
        return "nothing"
    return _KINDS.get(type(value), type(value).__name__)
