"""How the sink keeps the fingerprint it is given: canonical bytes, their digest, the ids.

The job's fingerprint is defined, and its changes described, in one place:
`harvester.jobs.fingerprint` (the caller hands `Sink.open` both). The sink only stores
it canonically, compares the bytes, and reads the search ids out of it:
`fingerprint["searches"]` is a mapping keyed by search id, or a list of ids, or of
mappings with "id".
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

__all__ = ["canonical", "digest", "search_ids"]


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


def _search_map(fingerprint: Mapping[str, Any]) -> dict[str, object]:
    ids = search_ids(fingerprint)
    searches = fingerprint["searches"]
    if isinstance(searches, Mapping):
        return {sid: searches[sid] for sid in ids}
    return {
        sid: (None if isinstance(item, str) else item)
        for sid, item in zip(ids, searches, strict=True)
    }
