"""`--metrics-file`: Prometheus text-format metrics for node_exporter's textfile collector.

    metrics = MetricsFile(Path("/var/lib/node_exporter/textfile/harvester.prom"),
                          job="nightly", out_dir=out_dir, started_at=time.time())
    tg.start_soon(metrics.every, harvest.snapshot)          # while the run goes, every 10 s
    metrics.write_final(harvest.stats, result.totals, exit_code=code)

The file is replaced atomically (temporary file + rename), so the collector never reads
half of it. Counters `*_total` count this process's run; gauges describe the output
directory (searches by status, records) and the run. The last success time is carried
over from the previous file, so it survives failed runs for alerting.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from harvester.engine.events import HarvestStats
from harvester.sink import SearchStatus, SinkError, read_status

__all__ = ["PREFIX", "STATUSES", "MetricsFile", "OutputFigures", "RunFigures", "render"]

PREFIX = "patsnap_harvester_"
#: Every status is written (0 when none), so an alert on one never sees a missing series.
STATUSES = tuple(SearchStatus)  # with pending
_LAST_SUCCESS = f"{PREFIX}last_success_timestamp_seconds"


@dataclass(slots=True, frozen=True)
class RunFigures:
    """This process's counters, copied from the engine's HarvestStats."""

    calls: int
    pages: int  #: calls answered with a page
    errors: dict[str, int]  #: error code (or class) -> calls answered with it
    retries: int
    hits: int  #: hits fetched, before dedupe
    slowdowns: int
    rate: float  #: requests/s the throttle allows now
    creations: int = 0  #: searches created from images
    uploads: int = 0  #: images uploaded

    @classmethod
    def of(cls, stats: HarvestStats) -> RunFigures:
        """A copy of the counters (call it on the event loop's thread)."""
        return cls(
            stats.calls,
            stats.pages,
            dict(stats.errors),
            stats.retries,
            stats.hits,
            stats.slowdowns,
            stats.current_rate,
            stats.creations,
            stats.uploads,
        )


@dataclass(slots=True, frozen=True)
class OutputFigures:
    """The output directory's state: searches by status (with pending), records."""

    by_status: dict[str, int]
    records: int
    duplicates: int

    @classmethod
    def of_totals(cls, totals: Mapping[str, Any]) -> OutputFigures:
        """From a manifest's, FinishResult's or StatusReport's totals."""
        by_status: dict[str, int] = {status.value: 0 for status in STATUSES}
        by_status.update(totals.get("by_status") or {})
        by_status[SearchStatus.PENDING] = int(totals.get("pending") or 0)
        return cls(by_status, int(totals.get("records") or 0), int(totals.get("duplicates") or 0))


def _labels(labels: Mapping[str, str]) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return ",".join(f'{name}="{escape(value)}"' for name, value in labels.items())


def render(
    labels: Mapping[str, str],
    run: RunFigures,
    output: OutputFigures | None,
    *,
    started_at: float,
    duration_s: float,
    running: bool,
    last_success: float | None = None,
    exit_code: int | None = None,
) -> str:
    """The metrics as Prometheus text format (HELP and TYPE before each family)."""
    base = _labels(labels)
    lines: list[str] = []

    def family(name: str, kind: str, text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP {PREFIX}{name} {text}")
        lines.append(f"# TYPE {PREFIX}{name} {kind}")
        for extra, value in samples:
            inner = ",".join(filter(None, (base, extra)))
            lines.append(f"{PREFIX}{name}{{{inner}}} {value:.15g}")

    errors = sum(run.errors.values())
    family(
        "calls_total",
        "counter",
        "API calls by outcome, this run.",
        [('outcome="ok"', run.pages), ('outcome="error"', errors)],
    )
    family(
        "errors_total",
        "counter",
        "API calls answered with an error, by code, this run.",
        [(_labels({"code": code}), n) for code, n in sorted(run.errors.items())],
    )
    family("retries_total", "counter", "Calls that were retries, this run.", [("", run.retries)])
    family("hits_total", "counter", "Hits fetched before dedupe, this run.", [("", run.hits)])
    family(
        "creations_total",
        "counter",
        "Searches created from images, this run.",
        [("", run.creations)],
    )
    family("uploads_total", "counter", "Images uploaded, this run.", [("", run.uploads)])
    family(
        "slowdowns_total",
        "counter",
        "Rate slow-downs on 67200001/429, this run.",
        [("", run.slowdowns)],
    )
    family(
        "rate_requests_per_second",
        "gauge",
        "Request rate the throttle allows now.",
        [("", run.rate)],
    )
    if output is not None:
        family(
            "searches",
            "gauge",
            "Searches of the job by status in the output directory.",
            [(_labels({"status": s}), n) for s, n in output.by_status.items()],
        )
        family(
            "records", "gauge", "Records written to the output directory.", [("", output.records)]
        )
        family(
            "duplicates",
            "gauge",
            "Records dropped by dedupe in the output directory.",
            [("", output.duplicates)],
        )
    family("running", "gauge", "1 while the run goes, 0 when it has ended.", [("", int(running))])
    family(
        "run_start_timestamp_seconds",
        "gauge",
        "When this run started (Unix time).",
        [("", started_at)],
    )
    family(
        "run_duration_seconds", "gauge", "How long this run has taken so far.", [("", duration_s)]
    )
    if exit_code is not None:
        family(
            "exit_code",
            "gauge",
            "The exit code of the last run (0 ok, 1 partial, ...).",
            [("", exit_code)],
        )
    if last_success is not None:
        family(
            "last_success_timestamp_seconds",
            "gauge",
            "When a run last ended with exit code 0 (Unix time).",
            [("", last_success)],
        )
    return "\n".join(lines) + "\n"


def previous_last_success(path: Path, labels: Mapping[str, str]) -> float | None:
    """The last success time in an existing metrics file with these labels, if any."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    pattern = re.compile(rf"{_LAST_SUCCESS}\{{{re.escape(_labels(labels))}\}} (\S+)")
    for line in text.splitlines():
        if found := pattern.fullmatch(line):
            try:
                return float(found.group(1))
            except ValueError:
                return None
    return None


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` by `text` through a hidden temporary file (the collector reads *.prom)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class MetricsFile:
    """One run's metrics file: written at the start, every `interval` s, and at the end."""

    __slots__ = ("_clock", "_last_success", "labels", "out_dir", "path", "started_at")

    def __init__(
        self,
        path: Path,
        *,
        job: str,
        out_dir: Path,
        started_at: float,
        partition: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.labels = {"job": job} | ({"partition": partition} if partition else {})
        self.out_dir = out_dir
        self.started_at = started_at
        self._clock = clock
        self._last_success = previous_last_success(path, self.labels)

    def write(
        self,
        run: RunFigures,
        output: OutputFigures | None,
        *,
        running: bool,
        exit_code: int | None = None,
    ) -> None:
        """Render and replace the file (OSError if the directory is not writable)."""
        text = render(
            self.labels,
            run,
            output,
            started_at=self.started_at,
            duration_s=max(0.0, self._clock() - self.started_at),
            running=running,
            last_success=self._last_success,
            exit_code=exit_code,
        )
        write_atomic(self.path, text)

    def write_live(self, run: RunFigures) -> OutputFigures | None:
        """A write during the run; the directory's figures come from its checkpoint, read-only
        (blocking: call it in a worker thread). Returns those figures.

        No checkpoint yet (the run is creating it): the file is written without them. A
        checkpoint that cannot be read (CheckpointCorrupt): written without them too, then
        the SinkError is raised, so the run hears of it instead of a silent gap."""
        problem: SinkError | None = None
        output: OutputFigures | None = None
        try:
            output = OutputFigures.of_totals(read_status(self.out_dir).totals)
        except FileNotFoundError:
            pass  # the next write has it
        except SinkError as exc:
            problem = exc
        self.write(run, output, running=True)
        if problem is not None:
            raise problem
        return output

    def write_final(
        self, stats: HarvestStats, totals: Mapping[str, Any] | None, *, exit_code: int
    ) -> None:
        """The closing write, with the run's final totals and exit code."""
        if exit_code == 0:
            self._last_success = self._clock()
        output = None if totals is None else OutputFigures.of_totals(totals)
        self.write(RunFigures.of(stats), output, running=False, exit_code=exit_code)

    async def every(
        self,
        snapshot: Callable[[], HarvestStats],
        interval: float = 10.0,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        """Write now and every `interval` s until cancelled; a failed write (OSError) or an
        unreadable checkpoint (SinkError) is reported to `on_error` and the run goes on.
        When cancelled it writes `running 0` with the last figures, so a run that dies of
        an error does not look alive (a normal end then overwrites that with write_final)."""
        output: OutputFigures | None = None
        try:
            while True:
                figures = RunFigures.of(snapshot())
                try:
                    output = await anyio.to_thread.run_sync(self.write_live, figures)
                except (OSError, SinkError) as exc:
                    if on_error is not None:
                        on_error(exc)
                await anyio.sleep(interval)
        except anyio.get_cancelled_exc_class():
            with contextlib.suppress(OSError):
                self.write(RunFigures.of(snapshot()), output, running=False)
            raise
