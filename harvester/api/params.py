"""Request parameters of `GET /image-search/results`, checked before any call is paid for.

Pure functions, no I/O. `check_filter` answers the allowed form of one filter in words a
person can act on; `build_query` turns a request into query parameters or raises
`ParamError`. Rules follow the API page: limit 1..100, offset 0..1000, yyyyMMdd dates,
field APD|PBD|ISD, order asc|desc, comma-separated code lists, LOC expressions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime

from harvester.api.errors import UsageError

__all__ = [
    "FILTERS",
    "LIMIT_MAX",
    "LIMIT_MIN",
    "OFFSET_MAX",
    "ParamError",
    "build_query",
    "check_filter",
    "normalize_filters",
]

LIMIT_MIN = 1
LIMIT_MAX = 100
LIMIT_DEFAULT = 10  # the API's default; the harvester asks for LIMIT_MAX unless told
OFFSET_MAX = 1000

LEGAL_STATUS = frozenset(
    [
        "1",
        "2",
        "3",
        "8",
        "11",
        "13",
        "14",
        "15",
        "16",
        "21",
        "22",
        "23",
        "24",
        "30",
        "222",
        "223",
        "224",
        "225",
    ]
)
SIMPLE_LEGAL_STATUS = frozenset(["0", "1", "2", "220", "221", "999"])
SORT_FIELDS = frozenset({"APD", "PBD", "ISD"})
ORDERS = frozenset({"asc", "desc"})

_COUNTRY = re.compile(r"[A-Z]{2,4}")
_LOC_CODE = re.compile(r"\d{2}-\d{2}")
_LOC_TOKEN = re.compile(r"\s*(\(|\)|\d{2}-\d{2}|AND\b|OR\b|NOT\b|[^\s()]+)")


class ParamError(UsageError):
    """A request parameter the API would reject; `field` names it, `expected` the rule."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        super().__init__(f"{field}={value!r} is not allowed: expected {expected}")
        self.field = field
        self.value = value
        self.expected = expected


def _code_list(
    allowed: frozenset[str] | None, pattern: re.Pattern[str] | None, what: str
) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        items = [item.strip() for item in value.split(",")]
        for item in items:
            if not item:
                return f"a comma-separated list of {what} with no empty items"
            if allowed is not None and item not in allowed:
                return f"a comma-separated list of {what} ({', '.join(sorted(allowed, key=int))})"
            if pattern is not None and not pattern.fullmatch(item):
                return f"a comma-separated list of {what}"
        return None

    return check


def _date(value: str) -> str | None:
    expected = "a date as yyyyMMdd, e.g. 20200101"
    if not re.fullmatch(r"\d{8}", value):
        return expected
    try:
        datetime.strptime(value, "%Y%m%d")
    except ValueError:
        return expected
    return None


def _loc(value: str) -> str | None:
    """LOC codes (dd-dd) joined by AND/OR/NOT, with balanced parentheses."""
    expected = "LOC codes like 01-01 joined by AND, OR, NOT, e.g. (01-01 OR 01-02)"
    tokens = [t for t in _LOC_TOKEN.findall(value) if t.strip()]
    if not tokens:
        return expected
    depth = 0
    want_operand = True
    for token in tokens:
        if token == "(":
            if not want_operand:
                return expected
            depth += 1
        elif token == ")":
            if want_operand or depth == 0:
                return expected
            depth -= 1
        elif token in ("AND", "OR"):
            if want_operand:
                return expected
            want_operand = True
        elif token == "NOT":
            # "NOT 01-01" at the start or "01-01 NOT 01-02" (PatSnap reads it as AND NOT)
            want_operand = True
        elif _LOC_CODE.fullmatch(token):
            if not want_operand:
                return expected
            want_operand = False
        else:
            return expected
    if want_operand or depth != 0:
        return expected
    return None


def _text(value: str) -> str | None:
    return "a non-empty text" if not value.strip() else None


def _choice(allowed: frozenset[str]) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value in allowed else " or ".join(sorted(allowed))

    return check


#: Every filter of the API page, with its check (None when the value is allowed).
FILTERS: Mapping[str, Callable[[str], str | None]] = {
    "loc": _loc,
    "assignees": _text,
    "legal_status": _code_list(LEGAL_STATUS, None, "legal status codes"),
    "country": _code_list(None, _COUNTRY, "authority codes such as CN,US"),
    "simple_legal_status": _code_list(SIMPLE_LEGAL_STATUS, None, "simple legal status codes"),
    "main_field": _text,
    "apply_start_time": _date,
    "apply_end_time": _date,
    "public_start_time": _date,
    "public_end_time": _date,
    "field": _choice(SORT_FIELDS),
    "order": _choice(ORDERS),
}

_RANGES = (("apply_start_time", "apply_end_time"), ("public_start_time", "public_end_time"))


def check_filter(name: str, value: object) -> str | None:
    """What is expected of filter `name`, or None when `value` is allowed."""
    check = FILTERS.get(name)
    if check is None:
        return "one of the API's filters: " + ", ".join(FILTERS)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return "a string"
    return check(str(value))


def normalize_filters(filters: Mapping[str, object]) -> dict[str, str]:
    """Filters as query strings, checked one by one and as date ranges; raises ParamError."""
    out: dict[str, str] = {}
    for name, value in filters.items():
        expected = check_filter(name, value)
        if expected is not None:
            raise ParamError(name, value, expected)
        out[name] = str(value).strip()
    for start, end in _RANGES:
        if start in out and end in out and out[start] > out[end]:
            raise ParamError(start, out[start], f"a date not after {end}={out[end]}")
    return out


def build_query(
    search_id: str, *, offset: int, limit: int, filters: Mapping[str, object]
) -> dict[str, str]:
    """Query parameters for one page; raises ParamError for anything the API would reject."""
    if not isinstance(search_id, str) or not search_id.strip():
        raise ParamError("search_id", search_id, "a non-empty search task id")
    if isinstance(limit, bool) or not isinstance(limit, int) or not LIMIT_MIN <= limit <= LIMIT_MAX:
        raise ParamError("limit", limit, f"an integer {LIMIT_MIN}..{LIMIT_MAX}")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= OFFSET_MAX:
        raise ParamError("offset", offset, f"an integer 0..{OFFSET_MAX}")
    query = {"search_id": search_id, "limit": str(limit), "offset": str(offset)}
    query.update(normalize_filters(filters))
    return query
