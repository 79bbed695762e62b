"""Stable pseudo-random draws: the same parts give the same number in every process.

Everything the sandbox invents (totals, hits, faults, which status an error gets) comes
from these, keyed by the seed and what is being decided, so a test repeats exactly.
"""

from __future__ import annotations

import hashlib

__all__ = ["draw", "uniform"]

_UNIT = float(1 << 53)


def draw(*parts: object, size: int = 16) -> int:
    """A (8 * size)-bit integer fixed by `parts` (blake2b of their text, stable across runs)."""
    data = "\x1f".join(map(str, parts)).encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=size).digest(), "big")


def uniform(*parts: object) -> float:
    """A float in [0, 1) fixed by `parts`."""
    return (draw(*parts) >> 75) / _UNIT
