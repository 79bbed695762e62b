"""A job's fingerprint: what its output depends on, to refuse resuming a changed job.

Output depends on the dedupe scope, the shard count, and each search's id, limit, filters
and created_at; not on rate, concurrency, burst, validity or grace, which may change
between attempts. The shape stays small for 100,000 searches: each distinct (limit, filters)
pair is stored once, and a search maps its id to `[query index, created_at or null]`::

    {"format": 1, "dedupe": "search", "shards": 4,
     "queries": [{"limit": 100, "filters": {"country": "CN,US"}}],
     "searches": {"SBX-57-a": [0, null], ...}, "sha256": "..."}

Searches are keyed (and sorted) by id, so reordering a job file does not change it; the
sink reads the ids from the keys of "searches".
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

import orjson

__all__ = ["FORMAT", "describe_changes", "job_fingerprint"]


# What a fingerprint reads of the job model, as protocols: the model builds fingerprints
# (Job.fingerprint), so this module must not import it back.
class _Layout(Protocol):
    @property
    def dedupe(self) -> str: ...
    @property
    def shards(self) -> int: ...


class _Query(Protocol):
    @property
    def search_id(self) -> str: ...
    @property
    def created_at(self) -> datetime | None: ...
    @property
    def limit(self) -> int: ...
    @property
    def filters(self) -> tuple[tuple[str, str], ...]: ...


FORMAT = 1
_SHOWN = 20  # at most this many ids or changed searches are listed by describe_changes

# id -> (limit, filters, created_at)
_Rows = dict[str, tuple[object, dict[str, object], object]]


def job_fingerprint(settings: _Layout, searches: Iterable[_Query]) -> dict[str, object]:
    """The canonical, JSON-able fingerprint of a job (see the module docstring)."""
    queries: dict[tuple[int, tuple[tuple[str, str], ...]], int] = {}
    rows: dict[str, list[object]] = {}
    for search in sorted(searches, key=lambda s: s.search_id):
        query = queries.setdefault((search.limit, search.filters), len(queries))
        when = search.created_at
        rows[search.search_id] = [query, None if when is None else _iso(when.isoformat())]
    body: dict[str, object] = {
        "format": FORMAT,
        "dedupe": settings.dedupe,
        "shards": settings.shards,
        "queries": [{"limit": limit, "filters": dict(filters)} for limit, filters in queries],
        "searches": rows,
    }
    body["sha256"] = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return body


def _iso(text: str) -> str:
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def describe_changes(old: Mapping[str, object], new: Mapping[str, object]) -> list[str]:
    """What changed from fingerprint `old` to `new`, one line each; [] when nothing did."""
    if old.get("sha256") is not None and old.get("sha256") == new.get("sha256"):
        return []
    if old.get("format") != new.get("format"):
        return [f"fingerprint format {old.get('format')!r} -> {new.get('format')!r}"]
    lines = [
        f"{key}: {old.get(key)!r} -> {new.get(key)!r}"
        for key in ("dedupe", "shards")
        if old.get(key) != new.get(key)
    ]
    try:
        before, after = _rows(old), _rows(new)
    except (KeyError, TypeError, ValueError, IndexError) as error:
        return [*lines, f"a fingerprint is malformed ({error!r}); cannot compare searches"]
    lines += _listing("searches added", [i for i in after if i not in before])
    lines += _listing("searches removed", [i for i in before if i not in after])
    changed = [
        _search_change(search_id, before[search_id], row)
        for search_id, row in after.items()
        if search_id in before and before[search_id] != row
    ]
    if len(changed) > _SHOWN:
        changed[_SHOWN:] = [f"... and {len(changed) - _SHOWN} more searches changed"]
    return lines + changed


def _rows(fingerprint: Mapping[str, object]) -> _Rows:
    queries = fingerprint["queries"]
    searches = fingerprint["searches"]
    if not isinstance(queries, Sequence) or not isinstance(searches, Mapping):
        raise TypeError("queries must be an array and searches an object")
    shapes = [(query["limit"], dict(query["filters"])) for query in queries]
    return {
        str(search_id): (shapes[index][0], shapes[index][1], when)
        for search_id, (index, when) in searches.items()
    }


def _listing(what: str, ids: list[str]) -> list[str]:
    if not ids:
        return []
    shown = ", ".join(sorted(ids)[:_SHOWN])
    more = f" and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else ""
    return [f"{what} ({len(ids)}): {shown}{more}"]


def _search_change(
    search_id: str,
    before: tuple[object, dict[str, object], object],
    after: tuple[object, dict[str, object], object],
) -> str:
    parts: list[str] = []
    if before[0] != after[0]:
        parts.append(f"limit {before[0]!r} -> {after[0]!r}")
    old_filters, new_filters = before[1], after[1]
    for name in sorted(old_filters.keys() | new_filters.keys()):
        if name not in new_filters:
            parts.append(f"filter {name} removed (was {old_filters[name]!r})")
        elif name not in old_filters:
            parts.append(f"filter {name} added {new_filters[name]!r}")
        elif old_filters[name] != new_filters[name]:
            parts.append(f"filter {name} {old_filters[name]!r} -> {new_filters[name]!r}")
    if before[2] != after[2]:
        parts.append(f"created_at {_when(before[2])} -> {_when(after[2])}")
    return f"search {search_id}: " + "; ".join(parts)


def _when(value: object) -> str:
    return "(the run's start)" if value is None else str(value)
