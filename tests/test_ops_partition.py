"""`run --partition I/N` and `merge`: N workers split a job; together they equal one run."""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvester.cli import main
from harvester.jobs import load_job
from harvester.ops import (
    BadPartition,
    MergeConflict,
    NotPublishable,
    Partition,
    merge_runs,
    parse_partition,
    partition_job,
    partition_of,
    publish,
)
from tests.test_harvest_support import read_records
from tests.test_ops_support import (
    comparable,
    harvester,
    sandbox,
    search_ids,
    searches_in,
    write_job,
)

# --- pure ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "index", "count"), [("1/1", 1, 1), ("2/4", 2, 4), (" 3 / 3 ", 3, 3)]
)
def test_parse_partition_reads_one_based_i_of_n(text: str, index: int, count: int) -> None:
    assert parse_partition(text) == Partition(index, count)


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "2", "a/b", "-1/2", "1/2/3", ""])
def test_parse_partition_refuses_anything_but_i_of_n(text: str) -> None:
    with pytest.raises(BadPartition, match="--partition"):
        parse_partition(text)


@given(st.lists(st.text(min_size=1), unique=True), st.integers(1, 9))
def test_every_search_id_belongs_to_exactly_one_partition(ids: list[str], count: int) -> None:
    for search_id in ids:
        assert 1 <= partition_of(search_id, count) <= count
        assert partition_of(search_id, count) == partition_of(search_id, count)


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_partitions_of_a_job_are_disjoint_cover_it_and_fingerprint_only_their_share(
    tmp_path: Path, count: int
) -> None:
    job = load_job(write_job(tmp_path))
    shares = [partition_job(job, Partition(i, count)) for i in range(1, count + 1)]
    seen = [s.search_id for share in shares for s in share.searches]
    assert sorted(seen) == sorted(s.search_id for s in job.searches)
    for share in shares:
        ids = {s.search_id for s in share.searches}
        assert set(share.fingerprint()["searches"]) == ids  # type: ignore[call-overload]
        assert share.sha256 == job.sha256  # the same job file: merge checks it
        assert share.settings.rate == job.settings.rate
    if count > 1:
        assert len({share.fingerprint()["sha256"] for share in shares}) == count


def test_without_a_rate_flag_a_worker_takes_its_share_of_the_job_rate(tmp_path: Path) -> None:
    job = load_job(write_job(tmp_path, rate=30))
    assert partition_job(job, Partition(1, 3), rate_given=False).settings.rate == 10
    assert partition_job(job, Partition(1, 3), rate_given=True).settings.rate == 30


def test_plan_with_a_partition_counts_only_that_share(tmp_path: Path) -> None:
    job = write_job(tmp_path)
    share = [i for i in search_ids() if partition_of(i, 2) == 2]
    out = io.StringIO()
    code = main(["plan", str(job), "--partition", "2/2", "--out", str(tmp_path / "o")], out)
    assert code == 0
    assert f"{len(share)} searches" in out.getvalue()


def test_a_bad_partition_flag_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", "job.toml", "--partition", "3/2"])
    assert exit_.value.code == 2
    assert "I must be between 1 and N" in capsys.readouterr().err


# --- workers against the sandbox ---------------------------------------------------------


@pytest.fixture(scope="module")
def harvested(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One single run and two partition workers (default output dirs) of the same job."""
    root = tmp_path_factory.mktemp("partition")
    job = write_job(root)
    with sandbox() as box:
        single = harvester(["run", job, "--out", root / "single"], env=box.env(), cwd=root)
        assert single.returncode == 0, single.stderr
        for part in ("1/2", "2/2"):
            worker = harvester(["run", job, "--partition", part], env=box.env(), cwd=root)
            assert worker.returncode == 0, worker.stderr
    (day,) = (root / "out" / "opsjob").iterdir()
    return {
        "single": root / "single",
        "1": day / "part=1-of-2",
        "2": day / "part=2-of-2",
        "root": root,
    }


def test_two_workers_together_harvest_exactly_the_records_of_one_run(
    harvested: dict[str, Path],
) -> None:
    one, two = read_records(harvested["1"]), read_records(harvested["2"])
    assert one and two
    assert comparable(one + two) == comparable(read_records(harvested["single"]))


def test_no_search_is_in_both_workers_and_together_they_hold_the_job(
    harvested: dict[str, Path],
) -> None:
    one, two = set(searches_in(harvested["1"])), set(searches_in(harvested["2"]))
    assert one and two and not one & two
    assert one | two == set(search_ids())
    assert all(partition_of(i, 2) == 1 for i in one)


def test_a_worker_records_its_partition_and_its_share_of_the_rate(
    harvested: dict[str, Path],
) -> None:
    settings = orjson.loads((harvested["2"] / "manifest.json").read_bytes())["settings"]
    assert settings["partition"] == "2/2"
    assert settings["rate"] == 200  # the job's 400 req/s, halved


def test_merge_sums_the_workers_into_one_run_description(
    harvested: dict[str, Path], tmp_path: Path
) -> None:
    target = tmp_path / "merged.json"
    out = io.StringIO()
    code = main(["merge", str(harvested["2"]), str(harvested["1"]), "--out", str(target)], out)
    assert code == 0, out.getvalue()
    merged = orjson.loads(target.read_bytes())
    single = orjson.loads((harvested["single"] / "manifest.json").read_bytes())
    assert merged["partitions"] == 2 and merged["complete"] is True
    assert [run["partition"] for run in merged["runs"]] == ["1/2", "2/2"]
    assert merged["job_sha256"] == single["job_sha256"]
    for key in ("searches", "records", "duplicates", "pages", "by_status"):
        assert merged["totals"][key] == single["totals"][key], key


def test_merge_reads_the_published_copies_too(harvested: dict[str, Path], tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    copies = [publish(harvested[i], str(lake)).destination for i in ("1", "2")]
    assert all("/part=" in copy for copy in copies)
    merged = merge_runs(copies)
    assert merged["totals"]["searches"] == len(search_ids())


def restamp(run: Path, **changes: object) -> None:
    """Change manifest fields and re-sign _SUCCESS, as a different but intact run would be."""
    manifest = orjson.loads((run / "manifest.json").read_bytes()) | changes
    body = orjson.dumps(manifest)
    (run / "manifest.json").write_bytes(body)
    stamp = orjson.loads((run / "_SUCCESS").read_bytes())
    stamp["manifest_sha256"] = hashlib.sha256(body).hexdigest()
    (run / "_SUCCESS").write_bytes(orjson.dumps(stamp))


@pytest.mark.parametrize(
    ("case", "error", "message"),
    [
        ("repeated", MergeConflict, "repeated 1/2, missing 2/2"),
        ("missing", MergeConflict, "missing 2/2"),
        ("mixed", MergeConflict, "some runs are partitions"),
        ("other_job", MergeConflict, "different jobs"),
        ("unfinished", NotPublishable, "no _SUCCESS"),
    ],
)
def test_merge_refuses_runs_that_do_not_make_one_job(
    harvested: dict[str, Path], tmp_path: Path, case: str, error: type[Exception], message: str
) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    shutil.copytree(harvested["1"], one)
    shutil.copytree(harvested["2"], two)
    sources = {
        "repeated": [one, harvested["1"]],
        "missing": [one],
        "mixed": [one, harvested["single"]],
        "other_job": [one, two],
        "unfinished": [one, two],
    }[case]
    if case == "other_job":
        restamp(two, job_sha256="0" * 64)
    if case == "unfinished":
        (two / "_SUCCESS").unlink()
    with pytest.raises(error, match=message):
        merge_runs([str(s) for s in sources])
    err = io.StringIO()
    assert main(["merge", *map(str, sources)], io.StringIO(), err) == 2
    assert message in err.getvalue()
