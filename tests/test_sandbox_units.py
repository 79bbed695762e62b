"""The sandbox's pure parts: LOC expressions, parameter parsing, bucket, data, flags, CLI."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester.sandbox import (
    ALL_FAULTS,
    ManualClock,
    SandboxConfig,
    add_arguments,
    config_from_args,
)
from harvester.sandbox.dataset import Dataset
from harvester.sandbox.loc import loc_matches, parse_loc
from harvester.sandbox.lru import BoundedLRU
from harvester.sandbox.query import InvalidParameter, parse_query
from harvester.sandbox.ratelimit import TokenBucket
from harvester.sandbox.stats import SandboxStats

CODES = st.sampled_from(["01-01", "01-02", "14-03", "99-00"])


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        ("(01-01 OR 01-02)", ["01-01", "01-02"], ["14-03"]),
        ("01-01 AND 01-02", [], ["01-01", "01-02"]),
        ("NOT 14-03", ["01-01"], ["14-03"]),
        ("(01-01 OR 14-03) NOT 14-03", ["01-01"], ["14-03", "01-02"]),
        ("01-01 OR 01-02 AND NOT 01-02", ["01-01"], ["01-02"]),  # AND binds tighter
        ("NOT (01-01 OR 01-02)", ["14-03"], ["01-01", "01-02"]),
    ],
)
def test_loc_expressions_match_the_codes_they_name(
    text: str, inside: list[str], outside: list[str]
) -> None:
    expr = parse_loc(text)
    assert all(loc_matches(expr, code) for code in inside)
    assert not any(loc_matches(expr, code) for code in outside)


@pytest.mark.parametrize(
    "text", ["", "01-01 01-02", "(01-01", "01-01)", "01-01 OR", "or 01-01", "()", "1-1", "01_01"]
)
def test_malformed_loc_expressions_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_loc(text)


@given(CODES, CODES, CODES)
def test_loc_operators_follow_boolean_logic(a: str, b: str, code: str) -> None:
    assert loc_matches(parse_loc(f"{a} OR {b}"), code) == (code in (a, b))
    assert loc_matches(parse_loc(f"{a} NOT {b}"), code) == (code == a and code != b)
    assert loc_matches(parse_loc(f"NOT ({a} OR {b})"), code) == (code not in (a, b))


def test_query_reads_defaults_and_normalizes_filters() -> None:
    query = parse_query([("search_id", "S-1"), ("country", " CN, US "), ("apikey", "ignored")])
    assert (query.search_id, query.offset, query.limit, query.field, query.order) == (
        "S-1",
        0,
        10,
        None,
        "desc",
    )
    assert query.filters.country == frozenset({"CN", "US"})
    assert query.billing_key == "S-1|0|10"
    blank = parse_query([("search_id", "S-1"), ("loc", " "), ("assignees", "")])
    assert not blank.filters.active


@given(st.integers(min_value=-5, max_value=1200), st.integers(min_value=-5, max_value=120))
def test_offset_and_limit_ranges_match_the_api_page(offset: int, limit: int) -> None:
    pairs = [("search_id", "S"), ("offset", str(offset)), ("limit", str(limit))]
    if 0 <= offset <= 1000 and 1 <= limit <= 100:
        assert (parse_query(pairs).offset, parse_query(pairs).limit) == (offset, limit)
    else:
        with pytest.raises(InvalidParameter):
            parse_query(pairs)


def test_token_bucket_admits_a_burst_then_one_call_per_interval() -> None:
    clock = ManualClock(0.0)
    bucket = TokenBucket(rate=4, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [0.0, 0.0, 0.0, 0.25]
    clock.advance(0.25)
    assert bucket.take() == 0.0 and bucket.take() == 0.25
    clock.advance(100)
    assert [bucket.take() for _ in range(4)] == [0.0, 0.0, 0.0, 0.25]


def test_bounded_lru_forgets_the_least_recently_used() -> None:
    cache: BoundedLRU[str, int] = BoundedLRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == (1, None, 3, 2)


def test_totals_follow_the_documented_mix() -> None:
    dataset = Dataset(0)
    totals = [dataset.total(f"C8C1EC5B{n:08X}-1-D") for n in range(4000)]
    empty = sum(t == 0 for t in totals) / len(totals)
    small = sum(0 < t < 100 for t in totals) / len(totals)
    middle = sum(100 <= t <= 1100 for t in totals) / len(totals)
    large = sum(t > 1100 for t in totals) / len(totals)
    assert abs(empty - 0.1) < 0.03 and abs(small - 0.3) < 0.03
    assert abs(middle - 0.4) < 0.03 and abs(large - 0.2) < 0.03
    assert max(totals) <= 5000


def test_patents_span_the_authorities_and_statuses_of_the_api_page() -> None:
    dataset = Dataset(1)
    patents = [dataset.hit("SBX-3000-mix", rank).patent for rank in range(3000)]
    countries = Counter(p.country for p in patents)
    assert countries.most_common(1)[0][0] == "CN" and len(countries) >= 8
    assert {p.simple_legal_status for p in patents} >= {"0", "1", "2"}
    assert all(p.issue_date is None for p in patents if p.simple_legal_status == "2")
    assert all(p.apply_date < p.public_date for p in patents)


def test_stats_clear_keeps_the_same_object_and_counts_in_flight() -> None:
    stats = SandboxStats()
    stats.bill("a|0|100")
    stats.bill("a|0|100")
    stats.fault("drop")
    stats.in_flight = 2
    assert stats.as_dict()["pages_billed_twice"] == 1 and stats.as_dict()["faults"] == 1
    stats.clear()
    assert stats.billed == 0 and stats.billed_by_key == {} and stats.faults_by_kind == {}
    assert stats.in_flight == 2


@pytest.mark.parametrize(
    "bad",
    [
        {"rate": 0.0},
        {"burst": 0},
        {"fault_rate": 1.5},
        {"faults": ("meteor",)},
        {"auth_error_status": 500},
        {"validity_s": 0.0},
    ],
)
def test_config_rejects_impossible_settings(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SandboxConfig(**bad)  # type: ignore[arg-type]


def test_config_repr_hides_secrets() -> None:
    text = repr(SandboxConfig(client_secret="s3cret-value", api_key="sk-hidden-value"))
    assert "s3cret-value" not in text and "sk-hidden-value" not in text


def test_every_flag_has_help_and_flags_build_the_config() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert all(action.help for action in parser._actions if action.dest != "help")
    flags = {
        "--port": "0",
        "--seed": "9",
        "--rate": "5",
        "--burst": "2",
        "--quota": "10",
        "--validity": "30",
        "--fault-rate": "0.1",
        "--faults": "drop,slow",
        "--token-lifetime": "60",
        "--api-key": "sk-x",
        "--latency": "0.01",
        "--jitter": "0.005",
    }
    args = parser.parse_args([item for pair in flags.items() for item in pair])
    config = config_from_args(args)
    assert (config.seed, config.rate, config.burst, config.quota) == (9, 5.0, 2, 10)
    assert (config.validity_s, config.fault_rate, config.faults) == (30.0, 0.1, ("drop", "slow"))
    assert (config.token_lifetime_s, config.api_key, config.latency_s) == (60.0, "sk-x", 0.01)
    assert config.jitter_s == 0.005
    assert config_from_args(parser.parse_args([])).faults == ALL_FAULTS
    with pytest.raises(SystemExit):
        parser.parse_args(["--faults", "meteor"])


def test_module_runs_standalone_and_prints_its_url() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "harvester.sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("PatSnap sandbox listening on http://127.0.0.1:")
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 143
        if process.stdout is not None:
            process.stdout.close()


def test_the_sandbox_reads_the_api_page_on_its_own_and_agrees_with_the_client() -> None:
    # Two independent copies of the page's table, on purpose: the sandbox shares no code
    # with the client. They must say the same; when they differ, read the page again.
    from harvester.api import params as client
    from harvester.sandbox import params as sandbox

    names = ("LIMIT_MIN", "LIMIT_MAX", "LIMIT_DEFAULT", "OFFSET_MAX", "LEGAL_STATUS")
    names += ("SIMPLE_LEGAL_STATUS", "SORT_FIELDS", "ORDERS")
    for name in names:
        assert getattr(sandbox, name) == getattr(client, name), name
    package = Path(sandbox.__file__).parent
    for module in package.glob("*.py"):
        code = [line for line in module.read_text().splitlines() if "import" in line]
        assert not [line for line in code if "harvester.api" in line], module.name


def test_building_the_cli_does_not_load_the_sandbox_server() -> None:
    # every command builds the sandbox's --help; only `harvester sandbox` runs the server
    code = (
        "import sys\nfrom harvester.cli.parser import build_parser\nbuild_parser()\n"
        "print(sorted(m for m in sys.modules if m in ('aiohttp.web', 'harvester.sandbox.server')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_latency_jitter_is_seeded_and_stays_within_its_band() -> None:
    from harvester.sandbox.state import SandboxState

    def delays(seed: int) -> list[float]:
        state = SandboxState(SandboxConfig(seed=seed, latency_s=0.5, jitter_s=0.2))
        return [state.delay() for _ in range(400)]

    first = delays(3)
    assert first == delays(3) and first != delays(4)
    assert all(0.3 <= d <= 0.7 for d in first)
    assert min(first) < 0.33 and max(first) > 0.67  # it spreads over the whole band
    assert abs(sum(first) / len(first) - 0.5) < 0.03
    fixed = SandboxState(SandboxConfig(latency_s=0.25))
    assert {fixed.delay() for _ in range(5)} == {0.25}
    clamped = SandboxState(SandboxConfig(latency_s=0.05, jitter_s=0.2))
    assert min(clamped.delay() for _ in range(200)) == 0.0
