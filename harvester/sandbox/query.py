"""The sandbox's own reading of the request parameters (independent of the client's checks).

`parse_query` turns the query string of `GET /image-search/results` into a `Query`, or
raises `InvalidParameter` naming the parameter, which the server answers with 68300004.
Stricter where the API page is silent: a repeated parameter or a malformed number is
rejected, never guessed at. Unknown parameters are ignored, as gateways do; so is `order`
without `field` (similarity stays high to low); a blank filter counts as absent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from harvester.sandbox.loc import LocExpr, parse_loc
from harvester.sandbox.params import (
    LEGAL_STATUS,
    LIMIT_DEFAULT,
    LIMIT_MAX,
    LIMIT_MIN,
    OFFSET_MAX,
    ORDER_DEFAULT,
    ORDERS,
    SIMPLE_LEGAL_STATUS,
    SORT_FIELDS,
)

__all__ = ["Filters", "InvalidParameter", "Query", "parse_query"]

SEARCH_ID_MAX = 256  # longer than any id PatSnap issues

_INTEGER = re.compile(r"-?\d{1,10}")
_DATE = re.compile(r"\d{8}")
_AUTHORITY = re.compile(r"[A-Z]{2}")
_KNOWN = frozenset(
    {
        "search_id",
        "loc",
        "assignees",
        "legal_status",
        "country",
        "simple_legal_status",
        "main_field",
        "apply_start_time",
        "apply_end_time",
        "public_start_time",
        "public_end_time",
        "limit",
        "offset",
        "field",
        "order",
    }
)


class InvalidParameter(ValueError):
    """A parameter the API answers with 68300004; the message names it."""

    def __init__(self, name: str, rule: str) -> None:
        super().__init__(f"Invalid parameter! {name}: {rule}")
        self.name = name


@dataclass(slots=True, frozen=True)
class Filters:
    """What narrows a search's hits; hashable so a filtered result can be cached."""

    country: frozenset[str] | None = None
    legal_status: frozenset[str] | None = None
    simple_legal_status: frozenset[str] | None = None
    loc: LocExpr | None = None
    assignees: str | None = None  #: lower-cased substring of an assignee
    main_field: tuple[str, ...] | None = None  #: lower-cased terms, all must occur
    apply_start: str | None = None  #: yyyyMMdd, inclusive bounds
    apply_end: str | None = None
    public_start: str | None = None
    public_end: str | None = None

    @property
    def active(self) -> bool:
        """Whether any filter is set."""
        return self != _NO_FILTERS


_NO_FILTERS = Filters()


@dataclass(slots=True, frozen=True)
class Query:
    """One request for a page of a search."""

    search_id: str
    offset: int = 0
    limit: int = LIMIT_DEFAULT
    filters: Filters = _NO_FILTERS
    field: str | None = None  #: APD, PBD or ISD; None sorts by similarity
    order: str = ORDER_DEFAULT

    @property
    def billing_key(self) -> str:
        """`search_id|offset|limit`: what a page is paid for."""
        return f"{self.search_id}|{self.offset}|{self.limit}"


def _integer(name: str, text: str, low: int, high: int) -> int:
    rule = f"an integer {low} <= {name} <= {high}"
    if not _INTEGER.fullmatch(text):
        raise InvalidParameter(name, rule)
    value = int(text)
    if not low <= value <= high:
        raise InvalidParameter(name, rule)
    return value


def _date(name: str, text: str) -> str:
    rule = "a date as yyyyMMdd"
    if not _DATE.fullmatch(text):
        raise InvalidParameter(name, rule)
    try:
        date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise InvalidParameter(name, rule) from None
    return text


def _codes(name: str, text: str, valid: Callable[[str], bool]) -> frozenset[str]:
    items = [item.strip() for item in text.split(",")]
    if not all(items) or not all(valid(item) for item in items):
        raise InvalidParameter(name, "a comma-separated list of known codes")
    return frozenset(items)


def _is_authority(code: str) -> bool:
    return _AUTHORITY.fullmatch(code) is not None


def _single_values(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in pairs:
        if name not in _KNOWN:
            continue
        if name in values:
            raise InvalidParameter(name, "given more than once")
        values[name] = value
    return values


def _filters(values: dict[str, str]) -> Filters:
    # A blank filter is treated as absent, like a blank form field.
    present = {name: text.strip() for name, text in values.items() if text.strip()}
    country = present.get("country")
    legal = present.get("legal_status")
    simple = present.get("simple_legal_status")
    loc_text = present.get("loc")
    loc: LocExpr | None = None
    if loc_text is not None:
        try:
            loc = parse_loc(loc_text)
        except ValueError as exc:
            raise InvalidParameter("loc", str(exc)) from None
    main = present.get("main_field")
    assignees = present.get("assignees")
    dates = {
        name: _date(name, present[name])
        for name in ("apply_start_time", "apply_end_time", "public_start_time", "public_end_time")
        if name in present
    }
    return Filters(
        country=_codes("country", country, _is_authority) if country else None,
        legal_status=_codes("legal_status", legal, LEGAL_STATUS.__contains__) if legal else None,
        simple_legal_status=(
            _codes("simple_legal_status", simple, SIMPLE_LEGAL_STATUS.__contains__)
            if simple
            else None
        ),
        loc=loc,
        assignees=assignees.lower() if assignees else None,
        main_field=tuple(main.lower().split()) if main else None,
        apply_start=dates.get("apply_start_time"),
        apply_end=dates.get("apply_end_time"),
        public_start=dates.get("public_start_time"),
        public_end=dates.get("public_end_time"),
    )


def parse_query(pairs: Iterable[tuple[str, str]]) -> Query:
    """The request in `pairs` (the query string's name/value pairs); raises InvalidParameter."""
    values = _single_values(pairs)
    search_id = values.get("search_id", "")
    if not search_id.strip():
        raise InvalidParameter("search_id", "required")
    if len(search_id) > SEARCH_ID_MAX:
        raise InvalidParameter("search_id", f"at most {SEARCH_ID_MAX} characters")
    limit = _integer("limit", values.get("limit", str(LIMIT_DEFAULT)), LIMIT_MIN, LIMIT_MAX)
    offset = _integer("offset", values.get("offset", "0"), 0, OFFSET_MAX)
    field = values.get("field")
    if field is not None and field not in SORT_FIELDS:
        raise InvalidParameter("field", "one of " + ", ".join(sorted(SORT_FIELDS)))
    order = values.get("order", ORDER_DEFAULT)
    if order not in ORDERS:
        raise InvalidParameter("order", "asc or desc")
    return Query(
        search_id=search_id,
        offset=offset,
        limit=limit,
        filters=_filters(values),
        field=field,
        order=order,
    )
