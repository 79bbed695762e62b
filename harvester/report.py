"""What a person sees: log events (text or JSON lines), a live progress line, the summary.

Everything here writes to a stream it is given (stderr for logs and progress, stdout for
the summary); `cli.py` decides which. Events carry plain values only: the engine never
hands a secret to an observer, and nothing here reads one.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

import orjson

from harvester.engine.events import HarvestStats

__all__ = [
    "JsonLogObserver",
    "ProgressLine",
    "RunSummary",
    "TextLogObserver",
    "counted",
    "terminal_width",
]

#: Events worth a line in a text log; page_done would drown them (it is in JSON logs).
NOTABLE = frozenset(
    {
        "retry",
        "slow_down",
        "search_expired",
        "search_failed",
        "search_closed",
        "run_stopping",
        "run_started",
        "progress",
        "api_unreachable",
        "token_rejected",
        "reauthenticate",
        "concurrency_limited",
    }
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonLogObserver:
    """One JSON object per event, per line: `{"ts": ..., "event": ..., fields...}`."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def event(self, name: str, /, **fields: object) -> None:
        """Write the event as a JSON line."""
        line = orjson.dumps({"ts": _now(), "event": name, **fields}, default=str)
        self._stream.write(line.decode() + "\n")
        self._stream.flush()


class TextLogObserver:
    """Notable events as `time event key=value ...` lines, for logs read by people."""

    def __init__(self, stream: TextIO, *, verbose: bool = False) -> None:
        self._stream = stream
        self._verbose = verbose
        self.live: ProgressLine | None = None  #: the live line on the same terminal, if any

    def event(self, name: str, /, **fields: object) -> None:
        """Write the event if it is notable (or always, when verbose)."""
        if not self._verbose and name not in NOTABLE:
            return
        if self.live is not None:
            self.live.clear()  # the next redraw puts it back, below this line
        parts = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        self._stream.write(f"{_now()} {name} {parts}".rstrip() + "\n")
        self._stream.flush()


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def latency_text(stats: HarvestStats) -> str:
    """`latency p50 0.48 s p90 0.66 s`, or `latency -` before the first answer."""
    if stats.latency_p50 is None or stats.latency_p90 is None:
        return "latency -"
    return f"latency p50 {stats.latency_p50:.2f} s p90 {stats.latency_p90:.2f} s"


def progress_text(stats: HarvestStats, rate: float, wall: float | None = None) -> str:
    """One line: searches, pages, hits, req/s, in flight, latency, retries, errors, ETA,
    soonest deadline."""
    wall = time.time() if wall is None else wall
    eta = stats.pages_left / stats.current_rate if stats.current_rate > 0 else math.inf
    errors = ",".join(f"{code}x{n}" for code, n in stats.errors.most_common(3)) or "none"
    deadline = (
        _duration(stats.soonest_deadline - wall) if stats.soonest_deadline is not None else "-"
    )
    return (
        f"searches {stats.done}/{stats.searches} | pages {stats.pages} (+{stats.pages_left} left)"
        f" | hits {stats.hits:,} | {rate:.1f} req/s"
        f" | in flight {stats.in_flight}/{stats.concurrency} | {latency_text(stats)}"
        f" | retries {stats.retries}"
        f" | errors {errors} | ETA {_duration(eta)} | soonest deadline in {deadline}"
    )


def terminal_width(stream: TextIO) -> int:
    """Columns of the terminal behind `stream` (COLUMNS wins, as for shutil; else 80)."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        columns = 0
    if "COLUMNS" in os.environ or columns <= 0:
        columns = shutil.get_terminal_size((columns or 80, 24)).columns
    return columns


class ProgressLine:
    """A live status line on a terminal, redrawn in place and cut to the terminal's width
    (a line that wrapped could not be redrawn with a carriage return)."""

    def __init__(
        self,
        stream: TextIO,
        snapshot: Callable[[], HarvestStats],
        clock: Callable[[], float] = time.monotonic,
        width: Callable[[], int] | None = None,
    ) -> None:
        self._stream = stream
        self._snapshot = snapshot
        self._clock = clock
        self._columns = width or (lambda: terminal_width(stream))
        self._width = 0
        self._samples: deque[tuple[float, int]] = deque()  # (time, answered) of the last 5 s

    def _rate(self, answered: int) -> float:
        """Answers per second over the last few seconds (what the account sees now)."""
        now = self._clock()
        self._samples.append((now, answered))
        while len(self._samples) > 2 and now - self._samples[0][0] > 5.0:
            self._samples.popleft()
        (t0, n0), (t1, n1) = self._samples[0], self._samples[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    def draw(self) -> None:
        """Redraw the line from a fresh snapshot."""
        stats = self._snapshot()
        # one column spare: writing the last column makes some terminals wrap at once
        room = max(10, self._columns() - 1)
        text = progress_text(stats, self._rate(stats.answered))
        if len(text) > room:
            text = text[: room - 3] + "..."
        pad = max(0, self._width - len(text))
        self._stream.write("\r" + text + " " * pad)
        self._stream.flush()
        self._width = len(text)

    def clear(self) -> None:
        """Remove the line before a log line or the summary is printed."""
        if self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0


@dataclass(slots=True, frozen=True)
class RunSummary:
    """What a finished (or stopped) run did, and what to do next: printed as text, or as
    the JSON `summary` event; both are made from these same facts."""

    job_name: str
    out_dir: str
    totals: Mapping[str, object]
    by_status: Mapping[str, int]
    stats: HarvestStats
    elapsed: float
    success: bool
    stop_reason: str | None
    advice: list[str]

    def text(self) -> str:
        """The short report printed when a run ends."""
        stats, totals = self.stats, self.totals
        statuses = (
            ", ".join(f"{n} {status}" for status, n in sorted(self.by_status.items())) or "none"
        )
        final = sum(self.by_status.values())
        total = totals.get("searches", final)
        # a stopped run must not read as done: say how many of the job's searches are final
        searches = f"{final}" if total == final else f"{final} of {total} final"
        state = "finished" if self.success else "stopped, resumable"
        lines = [
            f"harvester: job {self.job_name!r} {state} in {_duration(self.elapsed)}",
            f"  searches  {searches} ({statuses})",
            f"  records   {totals.get('records', 0):,} written,"
            f" {totals.get('duplicates', 0):,} duplicates dropped",
            f"  calls     {stats.calls:,} this run ({stats.retries:,} retries,"
            f" {stats.calls / max(self.elapsed, 1e-9):.1f}/s), {stats.pages:,} pages",
            f"  pool      up to {stats.peak_in_flight} in flight, {latency_text(stats)}",
        ]
        if stats.creations or stats.uploads:
            lines.append(
                f"  images    {counted(stats.creations, 'search', 'searches')} created, "
                f"{counted(stats.uploads, 'upload', 'uploads')}"
            )
        lines.append(f"  output    {self.out_dir}")
        if self.stop_reason:
            lines.append(f"  stopped   {self.stop_reason}")
        lines.extend(f"  next      {line}" for line in self.advice)
        return "\n".join(lines)

    def fields(self) -> dict[str, object]:
        """The same facts as plain values, for the JSON `summary` event."""
        stats, totals = self.stats, self.totals
        return {
            "job": self.job_name,
            "out": self.out_dir,
            "finished": self.success,
            "duration_s": round(self.elapsed, 3),
            "searches": totals.get("searches", sum(self.by_status.values())),
            "by_status": dict(self.by_status),
            "records": totals.get("records", 0),
            "duplicates": totals.get("duplicates", 0),
            "calls": stats.calls,
            "retries": stats.retries,
            "pages": stats.pages,
            "peak_in_flight": stats.peak_in_flight,
            "latency_p50": stats.latency_p50,
            "latency_p90": stats.latency_p90,
            "creations": stats.creations,
            "uploads": stats.uploads,
            "errors": dict(stats.errors),
            "stop_reason": self.stop_reason,
            "next": self.advice,
        }


def counted(n: int, one: str, many: str) -> str:
    """`1 upload`, `2 uploads`: a count with its noun in the right number."""
    return f"{n:,} {one if n == 1 else many}"


def is_terminal(stream: TextIO) -> bool:
    """Whether `stream` is an interactive terminal (progress line) or a log (events)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
