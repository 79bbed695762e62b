"""`--metrics-file`: Prometheus text format, written atomically, at the start, every few
seconds and at the end; the last success time survives failed runs."""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import anyio
import orjson
import pytest

from harvester.engine.events import HarvestStats
from harvester.ops.metrics import (
    PREFIX,
    STATUSES,
    MetricsFile,
    OutputFigures,
    RunFigures,
    render,
)
from harvester.sink import CHECKPOINT_NAME, CheckpointCorrupt
from tests.test_ops_support import harvester, sandbox, write_job

SAMPLE = re.compile(r'([a-z_]+)\{((?:[a-z_]+="(?:[^"\\]|\\.)*",?)*)\} (-?[0-9.e+]+)')


def parse(text: str) -> dict[tuple[str, str], float]:
    """Samples by (name, labels); checks HELP and TYPE come first for each family."""
    samples: dict[tuple[str, str], float] = {}
    described: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            described.add(line.split()[2])
        elif line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            assert name in described and kind in ("counter", "gauge")
            assert name.endswith("_total") == (kind == "counter")
        else:
            found = SAMPLE.fullmatch(line)
            assert found, f"not a sample line: {line!r}"
            assert found.group(1) in described
            samples[(found.group(1), found.group(2))] = float(found.group(3))
    return samples


def stats(calls: int = 12, pages: int = 9) -> HarvestStats:
    return HarvestStats(
        searches=5, calls=calls, pages=pages, retries=2, hits=800,
        errors=Counter({"67200001": 2, "Timeout": 1}), current_rate=4.5,
    )  # fmt: skip


def test_render_writes_every_family_with_help_type_and_the_job_label() -> None:
    totals = {"by_status": {"complete": 3, "failed": 1}, "pending": 1, "records": 70}
    text = render(
        {"job": "nightly"},
        RunFigures.of(stats()),
        OutputFigures.of_totals(totals),
        started_at=100.0,
        duration_s=12.5,
        running=True,
    )
    samples = parse(text)
    job = 'job="nightly"'
    assert samples[(f"{PREFIX}calls_total", f'{job},outcome="ok"')] == 9
    assert samples[(f"{PREFIX}calls_total", f'{job},outcome="error"')] == 3
    assert samples[(f"{PREFIX}errors_total", f'{job},code="67200001"')] == 2
    assert samples[(f"{PREFIX}retries_total", job)] == 2
    assert samples[(f"{PREFIX}records", job)] == 70
    assert samples[(f"{PREFIX}duplicates", job)] == 0
    assert samples[(f"{PREFIX}running", job)] == 1
    assert samples[(f"{PREFIX}run_duration_seconds", job)] == 12.5
    by_status = {s: samples[(f"{PREFIX}searches", f'{job},status="{s}"')] for s in STATUSES}
    assert by_status == {
        "complete": 3, "empty": 0, "truncated": 0, "expired": 0, "failed": 1, "pending": 1
    }  # fmt: skip
    assert all(name.startswith(PREFIX) and job in labels for name, labels in samples)
    assert (f"{PREFIX}exit_code", job) not in samples  # only once the run has ended


def test_label_values_are_escaped() -> None:
    run = RunFigures(1, 0, {'Odd"Error\\x': 1}, 0, 0, 0, 1.0)
    text = render({"job": "a\nb"}, run, None, started_at=0, duration_s=0, running=False)
    assert 'code="Odd\\"Error\\\\x"' in text
    assert 'job="a\\nb"' in text
    parse(text)


def test_the_last_success_time_survives_a_failed_run(tmp_path: Path) -> None:
    path = tmp_path / "harvester.prom"
    ok = MetricsFile(path, job="nightly", out_dir=tmp_path, started_at=900, clock=lambda: 1000)
    ok.write_final(stats(), {"records": 5}, exit_code=0)
    failed = MetricsFile(path, job="nightly", out_dir=tmp_path, started_at=1900, clock=lambda: 2000)
    failed.write_final(stats(), {"records": 5}, exit_code=3)
    samples = parse(path.read_text())
    assert samples[(f"{PREFIX}last_success_timestamp_seconds", 'job="nightly"')] == 1000
    assert samples[(f"{PREFIX}exit_code", 'job="nightly"')] == 3
    assert samples[(f"{PREFIX}run_duration_seconds", 'job="nightly"')] == 100
    other = MetricsFile(path, job="other", out_dir=tmp_path, started_at=0, clock=lambda: 1)
    other.write_final(stats(), None, exit_code=1)
    assert "last_success" not in path.read_text()  # another job's success is not ours


def test_each_write_replaces_the_file_by_rename_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "harvester.prom"
    metrics = MetricsFile(path, job="j", out_dir=tmp_path, started_at=0)
    metrics.write(RunFigures.of(stats()), None, running=True)
    first = os.stat(path).st_ino
    metrics.write(RunFigures.of(stats()), None, running=False)
    assert os.stat(path).st_ino != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["harvester.prom"]


class CountingMetrics(MetricsFile):
    """Signals after `wanted` live writes."""

    __slots__ = ("done", "wanted", "writes")

    def __init__(self, path: Path, out_dir: Path, wanted: int) -> None:
        super().__init__(path, job="j", out_dir=out_dir, started_at=0, partition="2-of-3")
        self.writes, self.wanted, self.done = 0, wanted, anyio.Event()

    def write_live(self, run: RunFigures) -> OutputFigures | None:
        output = super().write_live(run)
        self.writes += 1
        if self.writes == self.wanted:
            anyio.from_thread.run_sync(self.done.set)  # write_live runs in a worker thread
        return output


async def test_every_writes_at_once_then_periodically_with_live_counters(tmp_path: Path) -> None:
    metrics = CountingMetrics(tmp_path / "m.prom", tmp_path, wanted=3)
    live = stats(calls=0, pages=0)

    def snapshot() -> HarvestStats:
        live.pages += 1
        return live

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(metrics.every, snapshot, 0.01)
            await metrics.done.wait()
            samples = parse((tmp_path / "m.prom").read_text())
            tg.cancel_scope.cancel()
    labels = 'job="j",partition="2-of-3"'
    assert samples[(f"{PREFIX}running", labels)] == 1
    assert samples[(f"{PREFIX}calls_total", f'{labels},outcome="ok"')] >= 3
    # no checkpoint in out_dir yet: the directory's figures are simply left out
    assert (f"{PREFIX}records", labels) not in samples
    # cancelled (the run ended, or died of an error): the file no longer says running
    after = parse((tmp_path / "m.prom").read_text())
    assert after[(f"{PREFIX}running", labels)] == 0
    assert (f"{PREFIX}exit_code", labels) not in after


async def test_a_failed_periodic_write_is_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    metrics = MetricsFile(tmp_path / "missing" / "m.prom", job="j", out_dir=tmp_path, started_at=0)
    failures: list[OSError] = []
    enough = anyio.Event()

    def on_error(exc: OSError) -> None:
        failures.append(exc)
        if len(failures) == 2:
            enough.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(metrics.every, stats, 0.01, on_error)
            await enough.wait()
            tg.cancel_scope.cancel()
    assert all(isinstance(f, FileNotFoundError) for f in failures)


@pytest.mark.timeout(60)
def test_run_with_metrics_file_ends_with_the_manifest_figures(tmp_path: Path) -> None:
    job = write_job(tmp_path)
    prom = tmp_path / "textfile" / "harvester.prom"
    prom.parent.mkdir()
    with sandbox() as box:
        done = harvester(
            ["run", job, "--out", tmp_path / "out", "--metrics-file", prom],
            env=box.env(),
            cwd=tmp_path,
        )
    assert done.returncode == 0, done.stderr
    totals = orjson.loads((tmp_path / "out" / "manifest.json").read_bytes())["totals"]
    samples = parse(prom.read_text())
    job_label = 'job="opsjob"'
    assert samples[(f"{PREFIX}records", job_label)] == totals["records"]
    assert samples[(f"{PREFIX}duplicates", job_label)] == totals["duplicates"]
    assert samples[(f"{PREFIX}calls_total", f'{job_label},outcome="ok"')] == totals["pages"]
    for status in STATUSES:
        expected = totals["by_status"].get(status, 0) if status != "pending" else 0
        assert samples[(f"{PREFIX}searches", f'{job_label},status="{status}"')] == expected
    assert samples[(f"{PREFIX}running", job_label)] == 0
    assert samples[(f"{PREFIX}exit_code", job_label)] == 0
    assert (f"{PREFIX}last_success_timestamp_seconds", job_label) in samples
    assert sorted(p.name for p in prom.parent.iterdir()) == ["harvester.prom"]


async def test_a_corrupt_checkpoint_is_reported_not_left_out_in_silence(tmp_path: Path) -> None:
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"this is not an SQLite file" * 200)
    metrics = MetricsFile(tmp_path / "m.prom", job="j", out_dir=tmp_path, started_at=0)
    reported: list[Exception] = []
    seen = anyio.Event()

    def on_error(exc: Exception) -> None:
        reported.append(exc)
        seen.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(metrics.every, stats, 60.0, on_error)
            await seen.wait()
            tg.cancel_scope.cancel()
    assert isinstance(reported[0], CheckpointCorrupt)
    assert str(tmp_path / CHECKPOINT_NAME) in str(reported[0])
    samples = parse((tmp_path / "m.prom").read_text())
    assert (f"{PREFIX}running", 'job="j"') in samples  # the run's own figures still written
    assert (f"{PREFIX}records", 'job="j"') not in samples
