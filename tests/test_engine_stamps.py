"""Stamps gives the text iso() gives, for every time a run can stamp."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from harvester.engine.stamps import Stamps, iso

EDGES = [
    0.0,
    1.0,
    1767225600.0,
    1767225600.0005,
    1767225600.9994999,
    1767225600.9995,
    1767225600.9999995,
    1767225600.99999949,
    1767225599.9999996,
    4102444799.999,
]


def test_iso_is_utc_with_a_z_to_the_millisecond() -> None:
    assert iso(1767225600.5) == "2026-01-01T00:00:00.500Z"


def test_stamps_match_iso_at_the_edges_of_a_second_and_a_millisecond() -> None:
    stamps = Stamps()
    for epoch in EDGES + [math.nextafter(e, math.inf) for e in EDGES]:
        assert stamps(epoch) == iso(epoch), epoch


@given(st.lists(st.floats(min_value=0.0, max_value=4102444800.0), min_size=1, max_size=20))
def test_stamps_match_iso_in_any_order(epochs: list[float]) -> None:
    stamps = Stamps()
    for epoch in sorted(epochs) + epochs:
        assert stamps(epoch) == iso(epoch)
