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


#: Modules whose tests lean on the real clock (a rate, a window, give_up_after, a run still
#: going while another command looks): `make test` runs them on their own, after the rest
#: has run on both cores, so a busy neighbour does not decide them.
TIMING_MODULES = frozenset(
    {
        "test_e2e_output",
        "test_e2e_unreachable",
        "test_harvest_calls",
        "test_harvest_deadlines",
        "test_harvest_latency",
        "test_harvest_rate",
        "test_images",
    }
)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of TIMING_MODULES `timing` (before -m selects)."""
    for item in items:
        if item.path.stem in TIMING_MODULES:
            item.add_marker(pytest.mark.timing)
