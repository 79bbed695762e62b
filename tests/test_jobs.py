"""Job files: every problem reported at once with file:line and field; good files load."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from harvester.api.params import check_filter
from harvester.jobs import (
    Job,
    JobFileError,
    Problem,
    describe_changes,
    load_job,
    validate_job,
)
from harvester.jobs.toml_lines import scan_lines
from harvester.sink import CheckpointMismatch, Sink

FIXTURES = Path(__file__).parent / "fixtures" / "jobs"
EXAMPLE = Path(__file__).parent.parent / "jobs" / "example.toml"
_EXPECT = re.compile(r"#\s*expect:\s*(\S+)")


def _line_and_field(problem: Problem) -> tuple[int | None, str]:
    _, _, line = problem.location.rpartition(":")
    return (int(line) if line.isdigit() else None), problem.field


def _marked(path: Path) -> set[tuple[int | None, str]]:
    """The `# expect: field` markers of a fixture, with their line numbers."""
    lines = path.read_text().splitlines()
    return {
        (number, match[1])
        for number, text in enumerate(lines, start=1)
        if (match := _EXPECT.search(text))
    }


def _problems(path: Path) -> list[Problem]:
    with pytest.raises(JobFileError) as caught:
        load_job(path)
    return caught.value.problems


def _write(tmp_path: Path, text: str, name: str = "job.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


MARKED = sorted(p.name for p in FIXTURES.glob("*.toml") if _marked(p))


@pytest.mark.parametrize("name", MARKED)
def test_each_marked_problem_is_reported_at_its_line_and_field(name: str) -> None:
    path = FIXTURES / name
    # problems in an ids_file the fixture names are asserted by their own tests
    problems = [p for p in _problems(path) if p.location.startswith(str(path))]
    assert {_line_and_field(p) for p in problems} == _marked(path)
    assert len(problems) == len(_marked(path))


def test_problem_reads_as_path_line_field_message() -> None:
    problem = Problem("jobs/x.toml:7", "job.rate", "must be a number > 0, got -1")
    assert str(problem) == "jobs/x.toml:7: job.rate: must be a number > 0, got -1"


def test_job_file_error_lists_every_problem_one_per_line() -> None:
    problems = _problems(FIXTURES / "bad-settings.toml")
    text = str(JobFileError(problems))
    assert text.splitlines() == [str(p) for p in problems]
    assert validate_job(FIXTURES / "bad-settings.toml") == problems


def test_problems_come_in_file_order() -> None:
    lines = [_line_and_field(p)[0] for p in _problems(FIXTURES / "bad-settings.toml")]
    assert lines == sorted(lines)  # type: ignore[type-var]


def test_setting_messages_say_what_is_allowed() -> None:
    messages = {p.field: p.message for p in _problems(FIXTURES / "bad-settings.toml")}
    assert messages["job.rate"] == "must be a number > 0 and <= 1000, got -1"
    assert messages["job.concurrency"] == 'must be "auto" or an integer 1..256, got 0'
    assert messages["job.shards"] == "must be an integer 1..1024, got 2000"
    assert messages["job.burst"] == "must be an integer >= 1, got 1.5"
    assert messages["job.validity_minutes"] == "must be a number > 0, got 0"
    assert messages["job.grace_seconds"] == "must be a number >= 0, got nan"
    assert 'did you mean "job"' in messages["job.dedupe"]
    assert 'did you mean "rate"' in messages["job.rat"]
    assert "[defaults]" in messages["job.country"]


def test_unsafe_name_is_refused_because_it_becomes_a_path() -> None:
    [problem] = _problems(FIXTURES / "unsafe-name.toml")
    assert "a-z 0-9 _ -" in problem.message and "'../../etc/cron.d'" in problem.message


def test_missing_name_defaults_to_a_valid_file_stem(tmp_path: Path) -> None:
    path = _write(tmp_path, '[[search]]\nid = "A-1"\n', "nightly-designs.toml")
    assert load_job(path).settings.name == "nightly-designs"


def test_filter_problems_carry_the_api_rule_text() -> None:
    messages = {p.field: p.message for p in _problems(FIXTURES / "bad-filters.toml")}
    assert messages["search[1].country"].startswith(f"must be {check_filter('country', 'cn,')}")
    assert messages["search[1].loc"].startswith(f"must be {check_filter('loc', '(01-01 OR')}")
    assert messages["search[3].field"].startswith(f"must be {check_filter('field', 'XYZ')}")
    assert 'did you mean "country"' in messages["defaults.contry"]
    assert "goes in [job]" in messages["defaults.rate"]


def test_reversed_date_range_across_defaults_and_search_is_reported_on_the_search() -> None:
    messages = {p.field: p.message for p in _problems(FIXTURES / "bad-filters.toml")}
    assert "not after apply_end_time=20200101" in messages["search[2].apply_start_time"]


def test_duplicate_ids_name_both_locations() -> None:
    path = FIXTURES / "duplicate-ids.toml"
    ids = FIXTURES / "duplicate-ids.txt"
    found = [(p.location, p.field, p.message) for p in _problems(path)]
    assert found == [
        (f"{path}:11", "search[3].id", f"duplicate search id 'SBX-1-a': also declared at {path}:5"),
        (
            f"{ids}:2",
            "ids_file line 2.id",
            f"duplicate search id 'SBX-2-b': also declared at {path}:8",
        ),
        (
            f"{ids}:3",
            "ids_file line 3.id",
            f"duplicate search id 'SBX-3-c': also declared at {ids}:1",
        ),
    ]


def test_naive_created_at_asks_for_a_timezone() -> None:
    messages = {p.field: p.message for p in _problems(FIXTURES / "naive-created-at.toml")}
    assert "add Z or an offset" in messages["search[1].created_at"]
    assert "add Z or an offset" in messages["search[2].created_at"]
    assert "like 2026-11-24T20:00:00Z" in messages["search[3].created_at"]


def test_missing_ids_file_names_the_resolved_path() -> None:
    problems = _problems(FIXTURES / "missing-ids-file.toml")
    resolved = (FIXTURES / "no-such-ids.txt").absolute()
    assert problems[0].message == f"file not found: {resolved}"


def test_bad_json_lines_are_each_reported_with_their_line() -> None:
    ids = FIXTURES / "bad-json-line-ids.jsonl"
    problems = _problems(FIXTURES / "bad-json-line.toml")
    assert all(p.location.startswith(str(ids)) for p in problems)
    assert [_line_and_field(p) for p in problems] == [
        (2, "ids_file line 2.limit"),
        (3, "ids_file line 3"),
        (4, "ids_file line 4.id"),
        (5, "ids_file line 5.created_at"),
        (6, "ids_file line 6.colour"),
        (7, "ids_file line 7.apply_start_time"),  # start from [defaults], end from the line
        (8, "ids_file line 8.id"),
        (9, "ids_file line 9.id"),  # a JSON array is not an id
        (10, "ids_file line 10.id"),
    ]
    assert "not valid JSON" in problems[1].message
    assert "add Z or an offset" in problems[3].message


def test_toml_syntax_error_gives_tomllib_line_and_column() -> None:
    [problem] = _problems(FIXTURES / "syntax-error.toml")
    assert _line_and_field(problem) == (5, "toml")
    assert "column 6" in problem.message


def test_missing_job_file_is_one_problem(tmp_path: Path) -> None:
    [problem] = _problems(tmp_path / "nope.toml")
    assert problem.field == "job file" and "not found" in problem.message


def test_job_without_searches_is_refused() -> None:
    [problem] = _problems(FIXTURES / "no-searches.toml")
    assert problem.location == str(FIXTURES / "no-searches.toml")
    assert "no searches" in problem.message


def test_id_and_ids_file_in_one_search_is_refused_with_the_fix() -> None:
    problems = _problems(FIXTURES / "id-and-ids-file.toml")
    assert "start a new [[search]]" in problems[0].message


def test_good_job_loads_settings_searches_and_layered_filters() -> None:
    path = FIXTURES / "good.toml"
    job = load_job(path)
    assert job.settings.name == "good-job_1"
    assert job.settings.validity_minutes == 0.5
    assert (job.settings.rate, job.settings.burst) == (12.5, 2)
    assert (job.settings.concurrency, job.settings.shards) == (16, 8)
    assert (job.settings.dedupe, job.settings.grace_seconds) == ("job", 0.0)
    ids = FIXTURES / "good-ids.txt"
    got = {s.search_id: s for s in job.searches}
    assert [s.search_id for s in job.searches] == [
        "SBX-57-first",
        "SBX-250-second",
        "SBX-1-a",
        "SBX-2-b",
        "SBX-3-c",
        "SBX-4-d",
    ]
    first = got["SBX-57-first"]
    assert first.created_at == datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert (first.limit, first.filter_dict(), first.source) == (
        50,
        {"country": "CN,US"},
        f"{path}:17",
    )
    second = got["SBX-250-second"]
    assert second.limit == 100
    assert second.filters == (("loc", "(01-01 OR 01-02)"),)  # country = "" took the default back
    plain = got["SBX-2-b"]
    assert plain.source == f"{ids}:4"
    assert plain.created_at == datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
    assert plain.filter_dict() == {"country": "CN,US", "order": "asc"}
    own = got["SBX-3-c"]
    assert (own.limit, own.filter_dict()) == (10, {"country": "EP", "order": "asc"})
    late = got["SBX-4-d"]
    assert late.created_at == datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
    assert late.filter_dict() == {"country": "CN,US"}


def test_sha256_covers_the_job_file_then_each_ids_file() -> None:
    job = load_job(FIXTURES / "good.toml")
    data = (FIXTURES / "good.toml").read_bytes() + (FIXTURES / "good-ids.txt").read_bytes()
    assert job.sha256 == hashlib.sha256(data).hexdigest()


def test_top_level_ids_file_takes_defaults_and_comes_first() -> None:
    job = load_job(FIXTURES / "top-level-ids-file.toml")
    assert job.searches[0].search_id == "SBX-1-a"
    assert job.searches[0].limit == 20
    assert job.searches[-1].search_id == "SBX-9-z"


def test_ids_file_with_crlf_and_bom_loads(tmp_path: Path) -> None:
    (tmp_path / "ids.txt").write_bytes(b"\xef\xbb\xbfA-1\r\nB-2\r\n\r\n# note\r\n")
    job = load_job(_write(tmp_path, '[job]\nname = "x"\n[[search]]\nids_file = "ids.txt"\n'))
    assert [s.search_id for s in job.searches] == ["A-1", "B-2"]


def test_empty_ids_file_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "ids.txt").write_text("# nothing today\n")
    path = _write(tmp_path, '[job]\nname = "x"\n[[search]]\nids_file = "ids.txt"\n')
    [problem] = _problems(path)
    assert problem.location == str(tmp_path / "ids.txt") and "no search ids" in problem.message


def test_a_wrong_ids_file_lists_fifty_problems_and_counts_the_rest(tmp_path: Path) -> None:
    (tmp_path / "ids.txt").write_text("not an id\n" * 200)
    path = _write(tmp_path, '[job]\nname = "x"\n[[search]]\nids_file = "ids.txt"\n')
    problems = _problems(path)
    assert len(problems) == 51
    assert problems[-1].message == "150 more problems in this file are not listed"


def test_overrides_win_over_the_job_file(tmp_path: Path) -> None:
    job = load_job(
        FIXTURES / "good.toml",
        overrides={"rate": 50, "concurrency": "4", "shards": None, "burst": 3},
    )
    assert (job.settings.rate, job.settings.concurrency) == (50.0, 4)
    assert (job.settings.shards, job.settings.burst) == (8, 3)
    auto = load_job(FIXTURES / "good.toml", overrides={"concurrency": "auto", "max_concurrency": 9})
    assert (auto.settings.concurrency, auto.settings.max_concurrency) == ("auto", 9)


def test_concurrency_is_auto_by_default_and_a_ceiling_bounds_it(tmp_path: Path) -> None:
    path = _write(tmp_path, '[job]\nname = "x"\n[[search]]\nid = "A-1"\n')
    job = load_job(path)
    assert (job.settings.concurrency, job.settings.max_concurrency) == ("auto", 64)
    text = '[job]\nname = "x"\nconcurrency = "lots"\nmax_concurrency = 0\n'
    bad = _write(tmp_path, text + '[[search]]\nid = "A-1"\n')
    messages = {p.field: p.message for p in _problems(bad)}
    assert messages["job.concurrency"] == "must be \"auto\" or an integer 1..256, got 'lots'"
    assert messages["job.max_concurrency"] == "must be an integer 1..256, got 0"


def test_bad_overrides_are_reported_as_flags() -> None:
    with pytest.raises(JobFileError) as caught:
        load_job(FIXTURES / "good.toml", overrides={"rate": -1, "shards": "many", "colour": 1})
    found = {(p.location, p.field): p.message for p in caught.value.problems}
    assert found[("command line", "--rate")] == "must be a number > 0 and <= 1000, got -1"
    assert found[("command line", "--shards")].startswith("must be an integer 1..1024")
    assert found[("command line", "--colour")] == "is not a job setting"


def test_example_job_is_valid_and_mixes_kinds_of_searches() -> None:
    job = load_job(EXAMPLE)
    assert job.settings.name == "example"
    assert (job.settings.rate, job.settings.concurrency, job.settings.shards) == (20.0, "auto", 4)
    assert job.settings.max_concurrency == 64
    assert len(job.searches) >= 10
    ids = [s.search_id for s in job.searches]
    assert "SBX-0-empty" in ids and "SBX-2400-phones" in ids
    assert any(not i.startswith("SBX-") for i in ids)


# --- fingerprint -------------------------------------------------------------------------


def _job(tmp_path: Path, searches: str, job: str = "") -> Job:
    text = f'[job]\nname = "fp"\n{job}\n[defaults]\ncountry = "CN,US"\n{searches}'
    return load_job(_write(tmp_path, text))


ONE_TWO = '[[search]]\nid = "A"\n[[search]]\nid = "B"\nloc = "01-01"\n'


def test_fingerprint_is_json_and_ignores_order_and_speed_settings(tmp_path: Path) -> None:
    first = _job(tmp_path, ONE_TWO).fingerprint()
    swapped = '[[search]]\nid = "B"\nloc = "01-01"\n[[search]]\nid = "A"\n'
    again = _job(tmp_path, swapped, "rate = 99\nconcurrency = 2").fingerprint()
    assert orjson.loads(orjson.dumps(first)) == first
    assert again == first
    assert describe_changes(first, again) == []


def test_fingerprint_changes_say_what_changed(tmp_path: Path) -> None:
    old = _job(tmp_path, ONE_TWO).fingerprint()
    new_text = (
        '[[search]]\nid = "B"\nloc = "01-02"\nlimit = 50\ncountry = "US"\n'
        '[[search]]\nid = "C"\ncreated_at = "2026-11-24T20:00:00Z"\n'
    )
    new = _job(tmp_path, new_text, "shards = 8\ndedupe = 'job'").fingerprint()
    assert new["sha256"] != old["sha256"]
    stored = orjson.loads(
        orjson.dumps(old, option=orjson.OPT_SORT_KEYS)
    )  # as a checkpoint keeps it
    assert describe_changes(stored, new) == [
        "dedupe: 'search' -> 'job'",
        "shards: 4 -> 8",
        "searches added (1): C",
        "searches removed (1): A",
        "search B: limit 100 -> 50; filter country 'CN,US' -> 'US'; filter loc '01-01' -> '01-02'",
    ]


def test_fingerprint_tells_created_at_and_added_or_removed_filters(tmp_path: Path) -> None:
    old = _job(tmp_path, '[[search]]\nid = "A"\n').fingerprint()
    text = '[[search]]\nid = "A"\ncountry = ""\nloc = "01-01"\ncreated_at = 2026-01-01T00:00:00Z\n'
    new = _job(tmp_path, text).fingerprint()
    assert describe_changes(old, new) == [
        "search A: filter country removed (was 'CN,US'); filter loc added '01-01'; "
        "created_at (the run's start) -> 2026-01-01T00:00:00Z"
    ]


def test_fingerprint_stays_compact_and_describe_changes_stays_short(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("".join(f"ID-{i}\n" for i in range(1000)))
    (tmp_path / "new.txt").write_text("".join(f"ID-{i}\n" for i in range(500, 1500)))
    base = '[job]\nname = "fp"\n[[search]]\nids_file = "{}"\n'
    old = load_job(_write(tmp_path, base.format("old.txt"), "a.toml")).fingerprint()
    new = load_job(_write(tmp_path, base.format("new.txt"), "b.toml")).fingerprint()
    assert len(old["queries"]) == 1  # type: ignore[arg-type]
    lines = describe_changes(old, new)
    assert len(lines) == 2
    assert lines[0].startswith("searches added (500): ") and lines[0].endswith(" and 480 more")


def test_describe_changes_survives_a_malformed_fingerprint(tmp_path: Path) -> None:
    new = _job(tmp_path, ONE_TWO).fingerprint()
    old = {**new, "sha256": "x", "searches": {"A": [7, None]}}
    assert "malformed" in describe_changes(old, new)[-1]
    assert describe_changes({"format": 0}, new) == ["fingerprint format 0 -> 1"]


# --- line scanner and speed --------------------------------------------------------------


def test_line_scanner_skips_multiline_values_and_counts_array_tables() -> None:
    text = (
        'top = 1\n[job]\nname = "x"\nnote = """\nfake = 1\n[[search]]\n"""\n'
        'list = [\n  "a",\n  { b = 2 },\n]\n[[search]]\nid = "A"\n[[search]]\n'
        "'quoted key' = 2\nx.y = 3\n[search.sub]\nz = 4\n"
    )
    index = scan_lines(text)
    assert index.line_of("top") == 1
    assert index.line_of("job", "note") == 4
    assert index.line_of("job", "fake") == 2  # inside a string: falls back to [job]
    assert index.line_of("job", "list") == 8
    assert index.line_of("search", 0, "id") == 13
    assert index.line_of("search", 1) == 14
    assert index.line_of("search", 1, "quoted key") == 15
    assert index.line_of("search", 1, "x", "y") == 16
    assert index.line_of("search", 1, "sub", "z") == 18
    assert index.line_of("search", 2) is None


def test_hundred_thousand_ids_load_in_file_order(tmp_path: Path) -> None:
    # Load speed is a benchmark figure (make bench), not a timed assertion here.
    (tmp_path / "ids.txt").write_text("".join(f"{i:032X}-1-D\n" for i in range(100_000)))
    path = _write(tmp_path, '[job]\nname = "big"\n[[search]]\nids_file = "ids.txt"\n')
    job = load_job(path)
    assert len(job.searches) == 100_000
    assert job.searches[-1].search_id == f"{99_999:032X}-1-D"
    assert job.searches[-1].source.endswith("ids.txt:100000")


def test_a_resume_with_another_dedupe_lists_the_change_once(tmp_path: Path) -> None:
    def open_for(job: Job) -> Sink:
        return Sink.open(
            tmp_path / "out",
            job_name=job.settings.name,
            job_sha256=job.sha256,
            fingerprint=job.fingerprint(),
            shards=job.settings.shards,
            dedupe=job.settings.dedupe,
            describe_changes=describe_changes,
        )

    open_for(_job(tmp_path, ONE_TWO)).close()
    with pytest.raises(CheckpointMismatch) as info:
        open_for(_job(tmp_path, ONE_TWO, "dedupe = 'job'"))
    assert info.value.changes == ["dedupe: search -> job"]
