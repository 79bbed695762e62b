"""Checks of single values in a job file; each returns the value or a message of what is allowed.

A check answers `(value, None)` when the raw value is good and `(None, message)` when it
is not; the message says what is wrong and what is allowed, in words for the user.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Literal, TypeVar

from harvester.api.params import LIMIT_MAX, LIMIT_MIN, ParamError, normalize_filters

__all__ = [
    "Checked",
    "check_concurrency",
    "check_created_at",
    "check_filter_value",
    "check_limit",
    "check_name",
    "check_ranges",
    "check_search_id",
    "choice_check",
    "did_you_mean",
    "float_check",
    "int_check",
    "show",
]

T = TypeVar("T")

#: (value, None) when good, (None, what is allowed) when not
Checked = tuple[T | None, str | None]

NAME_PATTERN = re.compile(r"[a-z0-9_-]{1,64}")
SEARCH_ID_MAX = 128
# Visible ASCII without quotes, brackets, braces, commas or backslashes: a quoted CSV cell
# or a JSON array pasted as an id would otherwise cost a failed call per id.
SEARCH_ID_PATTERN = re.compile(rf"[!#-&(-+\--Z^-z|~]{{1,{SEARCH_ID_MAX}}}")


def show(value: object) -> str:
    """A value as the user wrote it, short enough for one line."""
    if isinstance(value, datetime | date):
        text = value.isoformat()
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = repr(value)
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, list):
        text = "an array"
    else:
        text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean "rate"?)' when `word` is close to one of `choices`, else ''."""
    import difflib  # only a job file with a mistake needs it: not at every start-up

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.7)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _number_rule(integer: bool, low: float, high: float | None, low_open: bool) -> str:
    kind = "an integer" if integer else "a number"
    if high is None:
        return f"{kind} {'>' if low_open else '>='} {low:g}"
    if integer and not low_open:
        return f"{kind} {low:g}..{high:g}"
    return f"{kind} {'>' if low_open else '>='} {low:g} and <= {high:g}"


def _number_message(
    value: object, integer: bool, low: float, high: float | None, low_open: bool
) -> str | None:
    rule = _number_rule(integer, low, high, low_open)
    message = f"must be {rule}, got {show(value)}"
    if isinstance(value, bool) or not isinstance(value, int if integer else int | float):
        return message
    if not math.isfinite(value) or value < low or (low_open and value == low):
        return message
    if high is not None and value > high:
        return message
    return None


def int_check(low: int, high: int | None = None) -> Callable[[object], Checked[int]]:
    """A check for an integer in low..high (no upper bound when high is None)."""

    def check(value: object) -> Checked[int]:
        message = _number_message(value, True, low, high, False)
        return (value, None) if message is None and isinstance(value, int) else (None, message)

    return check


def float_check(
    low: float, high: float | None = None, *, low_open: bool = False
) -> Callable[[object], Checked[float]]:
    """A check for a finite number (int or float) in low..high; `low_open` excludes low."""

    def check(value: object) -> Checked[float]:
        message = _number_message(value, False, low, high, low_open)
        if message is None and isinstance(value, int | float):
            return float(value), None
        return None, message

    return check


def choice_check(choices: Collection[str]) -> Callable[[object], Checked[str]]:
    """A check for one of `choices`."""

    def check(value: object) -> Checked[str]:
        if isinstance(value, str) and value in choices:
            return value, None
        allowed = " or ".join(repr(choice) for choice in choices)
        return None, f"must be {allowed}, got {show(value)}{did_you_mean(str(value), choices)}"

    return check


def check_concurrency(value: object) -> Checked[int | Literal["auto"]]:
    """Calls in flight: "auto" (rate x observed latency) or a number 1..256 that pins it."""
    if value == "auto":
        return "auto", None
    if isinstance(value, str) and value.strip().isdigit():  # from a flag
        value = int(value)
    number, _ = _CONCURRENCY(value)
    if number is None:
        return None, f'must be "auto" or an integer 1..256, got {show(value)}'
    return number, None


_CONCURRENCY = int_check(1, 256)


def check_name(value: object) -> Checked[str]:
    """A job name: it becomes part of the output path, so only [a-z0-9_-], 1..64 chars."""
    if isinstance(value, str) and NAME_PATTERN.fullmatch(value):
        return value, None
    return (
        None,
        f"must be 1..64 of the characters a-z 0-9 _ - (it is part of a path), got {show(value)}",
    )


def check_search_id(value: object) -> Checked[str]:
    """A search_id as PatSnap issues it: 1..128 visible ASCII chars, no quotes or brackets."""
    if isinstance(value, str) and SEARCH_ID_PATTERN.fullmatch(value):
        return value, None
    allowed = (
        f"a search_id of 1..{SEARCH_ID_MAX} visible ASCII characters, without whitespace, "
        "quotes, brackets, braces, commas or backslashes"
    )
    return None, f"must be {allowed}, got {show(value)}"


def check_limit(value: object) -> Checked[int]:
    """Hits per page: the API allows 1..100."""
    return _LIMIT(value)


_LIMIT = int_check(LIMIT_MIN, LIMIT_MAX)


def check_created_at(value: object) -> Checked[datetime]:
    """When PatSnap created the search: RFC 3339 text or a TOML datetime, with a timezone."""
    when: datetime
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            return None, (
                f"must be a date-time with a timezone like 2026-11-24T20:00:00Z, got {show(value)}"
            )
    else:
        return None, (
            f"must be a date-time with a timezone like 2026-11-24T20:00:00Z, got {show(value)}"
        )
    if when.tzinfo is None or when.utcoffset() is None:
        return None, f"has no timezone: add Z or an offset like +08:00, got {show(value)}"
    return when.astimezone(UTC), None


def check_filter_value(name: str, value: object) -> Checked[str]:
    """One API filter by the rules of `api.params`; "" is allowed and means "not set"."""
    if value == "":
        return "", None
    try:
        return normalize_filters({name: value})[name], None
    except ParamError as error:
        return None, f"must be {error.expected}, got {show(value)}"


def check_ranges(filters: Mapping[str, str]) -> tuple[str, str] | None:
    """(filter name, message) when a date range of normalized filters is reversed."""
    try:
        normalize_filters(filters)
    except ParamError as error:
        return error.field, f"must be {error.expected}, got {show(error.value)}"
    return None
