"""The job's fingerprint: what must not change between a run and its resume.

The caller builds it (job settings that shape the output, and every search with its
filters); the sink stores it canonically and compares. `fingerprint["searches"]` names
the searches: a mapping keyed by search id, or a list of ids, or of mappings with "id".
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

__all__ = ["canonical", "describe_changes", "digest", "search_ids"]


def canonical(fingerprint: Mapping[str, Any]) -> bytes:
    """The fingerprint as canonical JSON, the form stored and compared: sorted keys, and
    searches keyed by id, so listing the same searches in another order is no change."""
    normal = dict(fingerprint)
    normal["searches"] = _search_map(fingerprint)
    return orjson.dumps(normal, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)


def digest(fingerprint: Mapping[str, object]) -> str:
    """sha256 hex of the canonical fingerprint."""
    return hashlib.sha256(canonical(fingerprint)).hexdigest()


def search_ids(fingerprint: Mapping[str, Any]) -> list[str]:
    """The search ids a fingerprint names, in its order; ValueError if it names none."""
    searches = fingerprint.get("searches")
    if isinstance(searches, Mapping):
        ids = [key for key in searches if isinstance(key, str)]
        if len(ids) != len(searches):
            raise ValueError("the job fingerprint's search ids must be strings")
    elif isinstance(searches, Sequence) and not isinstance(searches, str | bytes):
        ids = [_id_of(item) for item in searches]
    else:
        raise ValueError("the job fingerprint must list its searches under 'searches'")
    if len(set(ids)) != len(ids):
        raise ValueError("the job fingerprint lists a search id twice")
    return ids


def _id_of(item: object) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping):
        for key in ("id", "search_id"):
            if isinstance(item.get(key), str):
                return str(item[key])
    raise ValueError(f"a fingerprint search has no id: {item!r:.80}")


def _short(value: object) -> str:
    text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode()
    return text if len(text) <= 60 else text[:57] + "..."


def _search_map(fingerprint: Mapping[str, Any]) -> dict[str, object]:
    ids = search_ids(fingerprint)
    searches = fingerprint["searches"]
    if isinstance(searches, Mapping):
        return {sid: searches[sid] for sid in ids}
    return {
        sid: (None if isinstance(item, str) else item)
        for sid, item in zip(ids, searches, strict=True)
    }


def _some(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:3])
    return shown + (", ..." if len(ids) > 3 else "")


def describe_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between two fingerprints, one line per change."""
    old, new = orjson.loads(canonical(old)), orjson.loads(canonical(new))
    changes: list[str] = []
    for key in sorted(set(old) | set(new)):
        if key == "searches":
            changes += _search_changes(old, new)
        elif key not in new:
            changes.append(f"{key}: removed (was {_short(old[key])})")
        elif key not in old:
            changes.append(f"{key}: added ({_short(new[key])})")
        elif old[key] != new[key]:
            changes.append(f"{key}: {_short(old[key])} -> {_short(new[key])}")
    return changes


def _search_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    before, after = old["searches"], new["searches"]
    changes: list[str] = []
    added = [sid for sid in after if sid not in before]
    removed = [sid for sid in before if sid not in after]
    altered = [sid for sid in after if sid in before and after[sid] != before[sid]]
    if added:
        changes.append(f"searches: {len(added)} added ({_some(added)})")
    if removed:
        changes.append(f"searches: {len(removed)} removed ({_some(removed)})")
    for sid in altered[:5]:
        changes.append(f"search {sid}: {_short(before[sid])} -> {_short(after[sid])}")
    if len(altered) > 5:
        changes.append(f"searches: {len(altered) - 5} more changed")
    return changes
