"""What a search inherits and overrides: created_at, limit and filters, layered.

`[defaults]` < a `[[search]]` entry < one JSON line of an ids_file: each layer is a table
of the same keys, checked the same way, laid over the one below.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from harvester.api.params import FILTERS, LIMIT_MAX
from harvester.jobs.fields import (
    Checked,
    check_created_at,
    check_filter_value,
    check_limit,
    check_ranges,
    did_you_mean,
)

__all__ = ["Layer", "Layering", "Report"]

#: report(key, message): a problem with `key` of the table being applied
Report = Callable[[str, str], None]


@dataclass(slots=True, frozen=True)
class Layer:
    """The created_at, limit and filters a search gets unless it says otherwise."""

    created_at: datetime | None = None
    limit: int = LIMIT_MAX
    filters: tuple[tuple[str, str], ...] = ()  #: normalized, sorted by name


@dataclass(slots=True)
class Layering:
    """Lays tables over layers; one per load, remembering checks of repeated filter values.

    100,000 JSON lines tend to repeat a handful of filter values: the cache is what keeps
    such an ids_file loading in well under a second.
    """

    _values: dict[tuple[str, str | int], Checked[str]] = field(default_factory=dict)
    _ranges: dict[tuple[tuple[str, str], ...], tuple[str, str] | None] = field(default_factory=dict)

    def _filter(self, name: str, value: object) -> Checked[str]:
        if isinstance(value, bool) or not isinstance(value, str | int):
            return check_filter_value(name, value)
        checked = self._values.get((name, value))
        if checked is None:
            checked = self._values[name, value] = check_filter_value(name, value)
        return checked

    def _reversed_range(self, filters: tuple[tuple[str, str], ...]) -> tuple[str, str] | None:
        if filters not in self._ranges:
            self._ranges[filters] = check_ranges(dict(filters))
        return self._ranges[filters]

    def apply(
        self,
        table: Mapping[str, object],
        below: Layer,
        report: Report,
        *,
        other_keys: Collection[str] = (),
        created_at: bool = True,
        elsewhere: Mapping[str, str] | None = None,
    ) -> Layer:
        """`table` laid over `below`; every bad key is reported and the one below kept for it.

        `other_keys` are the caller's to check; `elsewhere` maps keys that belong in another
        table to its name, for a hint.
        """
        when, limit = below.created_at, below.limit
        filters = dict(below.filters)
        own_filters = False
        for key, value in table.items():
            if key in other_keys:
                continue
            if key == "created_at" and created_at:
                moment, message = check_created_at(value)
                when = moment or when
            elif key == "limit":
                size, message = check_limit(value)
                limit = size or limit
            elif key in FILTERS:
                text, message = self._filter(key, value)
                if text:
                    filters[key] = text
                    own_filters = True
                elif text == "":
                    filters.pop(key, None)  # "" takes back a default
            elif elsewhere and key in elsewhere:
                message = f"does not belong here: it goes in {elsewhere[key]}"
            else:
                allowed = [*other_keys, *(["created_at"] if created_at else []), "limit", *FILTERS]
                message = f"unknown key{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}"
            if message is not None:
                report(key, message)
        merged = tuple(sorted(filters.items()))
        if own_filters:
            reversed_range = self._reversed_range(merged)
            if reversed_range is not None:
                report(*reversed_range)
                merged = below.filters
        return Layer(when, limit, merged)
