"""Shared fixtures: the sandbox's data set for a seed, and a scratch folder for CLI runs.

The helpers behind them (job files, the CLI as a subprocess, reading shards) live in
`tests/test_harvest_support.py`, importable by `make bench` too.
"""

from __future__ import annotations

import pytest

from harvester.sandbox.dataset import Dataset

#: the sandbox seed of the harvest tests; expected hits are computed from the same seed
SEED = 11


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    """The data set every sandbox with seed SEED serves (read directly, no server)."""
    return Dataset(SEED)
