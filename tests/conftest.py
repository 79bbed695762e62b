"""Shared fixtures of the harvest integration tests: the sandbox's data set for the seed
they use. The helpers behind them (job files, the CLI as a subprocess, reading shards,
the rate figure) live in `tests/test_harvest_support.py`, importable by `make bench` too.
"""

from __future__ import annotations

import pytest

from harvester.sandbox.dataset import Dataset
from tests.test_harvest_support import SEED


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    """The data set every sandbox with seed SEED serves (read directly, no server)."""
    return Dataset(SEED)
