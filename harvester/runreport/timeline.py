"""The run's timeline: what the report's charts need, one compact line per second.

    timeline = Timeline.open(out_dir, run_id=..., settings={...}, search_ids=[...])
    observer = timeline.observing(observer)      # tallies search ends, forwards every event
    client = PatSnapClient(..., pace=timeline.paced(throttle.acquire))
    fetcher = timeline.timed(client)              # latency: from the paced send to the answer
    await timeline.every(harvest.snapshot)        # a task: one line per bucket
    timeline.end(exit_code=1, reason="...", stats=harvest.stats)

`_timeline.jsonl` in the output directory holds, per run segment, a header line
(`{"run": id, "start": epoch, ...settings}`), bucket lines
(`{"t": s since start, "w": width, "s": sent, "a": answered, "p": pages, "h": hits,
"r": retries, "d": slow-downs, "e": {code: n}, "f": most in flight, "l": [p50, p90] ms,
"x": [job index of each search that ended], "q": rate in force when it changed}`, zeros
left out) and an end line (`{"end": true, "t": ..., "exit": code, "reason": why}`). Each line is
flushed when written, so a kill -9 loses at most the last bucket; a resume appends a
new segment. Buckets start at 1 s and double in width after every `LINES_PER_WIDTH`
lines of a segment, so a long run stays a few hundred KB. The underscore keeps lake
globs off it; it lives beside the checkpoint, outside the writer's path.
"""

from __future__ import annotations

import contextvars
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import anyio
import orjson

from harvester.api.models import Created, Page, Upload
from harvester.engine.events import HarvestStats, Observer
from harvester.engine.harvest import Fetcher
from harvester.engine.images import ImageApi
from harvester.sink import TIMELINE_NAME
from harvester.sink.errors import output_errors

__all__ = ["LINES_PER_WIDTH", "Segment", "Timeline", "read_timeline"]

FORMAT = 1
LINES_PER_WIDTH = 900  #: bucket lines at one width before the width doubles
_END_EVENTS = frozenset({"search_done", "search_expired", "search_failed"})
#: The fetch this task is making: [when it left], set by the pacing wrapper (None: not yet).
_T = TypeVar("_T")

_CALL: contextvars.ContextVar[list[float | None] | None] = contextvars.ContextVar(
    "timeline_call", default=None
)


@dataclass(slots=True)
class _Tally:
    """What happened in the current bucket that HarvestStats does not count."""

    sent: int = 0
    in_flight: int = 0  #: the most calls out at once
    latencies: list[float] = field(default_factory=list)  #: seconds, of calls answered
    ended: list[int] = field(default_factory=list)  #: job indices of searches that ended


class Timeline:
    """Records one run segment into `_timeline.jsonl` (see the module docstring)."""

    def __init__(
        self,
        file: IO[bytes],
        *,
        start: float,
        search_index: Mapping[str, int],
        clock: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self._file = file
        self._start = start
        self._index = search_index
        self._clock = clock
        self._mono = mono
        self._tally = _Tally()
        self._in_flight = 0  #: calls sent and not yet answered, now
        self._last: dict[str, Any] = {}  #: HarvestStats counters at the previous line
        self._errors_last: Counter[str] = Counter()
        self._rate_written: float | None = None
        self._bucket = 0  #: bucket start, seconds since the segment's start
        self._width = 1
        self._lines_at_width = 0
        self._closed = False

    @classmethod
    def open(
        cls,
        out_dir: Path,
        *,
        run_id: str,
        settings: Mapping[str, object],
        search_ids: Sequence[str],
        clock: Callable[[], float] = time.time,
    ) -> Timeline:
        """Append a new segment to the directory's timeline (creating it if needed)."""
        path = out_dir / TIMELINE_NAME
        with output_errors(path):
            file = open(path, "ab")  # noqa: SIM115 - held for the run, closed by end()
            if file.tell() > 0 and not _ends_with_newline(path):
                file.write(b"\n")  # a kill -9 cut the last line: start ours on a fresh one
        start = clock()
        index = {search_id: i for i, search_id in enumerate(search_ids)}
        timeline = cls(file, start=start, search_index=index, clock=clock)
        timeline._write(
            {"run": run_id, "start": round(start, 3), "v": FORMAT, "searches": len(search_ids)}
            | dict(settings)
        )
        return timeline

    # --- hooks into the run -------------------------------------------------------------

    def observing(self, inner: Observer) -> Observer:
        """An observer that notes when each search ends, then hands every event to `inner`."""
        return _Observing(self, inner)

    def paced(self, pace: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """Wrap the client's pace hook: once it returns, the call is on its way."""

        async def paced() -> None:
            await pace()
            self._tally.sent += 1
            call = _CALL.get()
            if call is None:  # a paid call outside a page fetch: counted as sent, no more
                return
            if call[0] is None:  # not the same fetch sent again after a token refresh
                self._in_flight += 1
                self._tally.in_flight = max(self._tally.in_flight, self._in_flight)
            call[0] = self._mono()

        return paced

    def timed(self, fetcher: Fetcher) -> Fetcher:
        """Wrap the pool's fetcher so each answered call's latency is recorded."""
        return _Timed(self, fetcher)

    def _answered(self, latency: float) -> None:
        self._in_flight -= 1
        self._tally.latencies.append(latency)

    def _ended(self, search_id: object) -> None:
        index = self._index.get(str(search_id))
        if index is not None:
            self._tally.ended.append(index)

    # --- writing ------------------------------------------------------------------------

    @property
    def next_due(self) -> float:
        """When (epoch seconds) the current bucket ends and its line is due."""
        return self._start + self._bucket + self._width

    async def every(self, snapshot: Callable[[], HarvestStats]) -> None:
        """Write a bucket line at the end of every bucket, until cancelled."""
        while True:
            await anyio.sleep(max(0.0, self.next_due - self._clock()))
            self.sample(snapshot())

    def sample(self, stats: HarvestStats) -> None:
        """Close the current bucket: write its line (if anything happened) and start the next."""
        if self._closed:
            return
        line = self._line(stats)
        if len(line) > 2:
            self._write(line)
        self._bucket = max(self._bucket + self._width, int(self._clock() - self._start))
        self._lines_at_width += 1
        if self._lines_at_width >= LINES_PER_WIDTH:
            self._width, self._lines_at_width = self._width * 2, 0

    def _line(self, stats: HarvestStats) -> dict[str, Any]:
        now = {
            "a": stats.answered,
            "p": stats.pages,
            "h": stats.hits,
            "r": stats.retries,
            "d": stats.slowdowns,
        }
        line: dict[str, Any] = {"t": self._bucket, "w": self._width}
        tally, self._tally = self._tally, _Tally(in_flight=self._in_flight)
        if tally.sent:
            line["s"] = tally.sent
        for key, value in now.items():
            if delta := value - self._last.get(key, 0):
                line[key] = delta
        self._last = now
        errors = {k: n - self._errors_last[k] for k, n in stats.errors.items()}
        if errors := {k: n for k, n in sorted(errors.items()) if n}:
            line["e"] = errors
        self._errors_last = Counter(stats.errors)
        if tally.in_flight:
            line["f"] = tally.in_flight
        if tally.latencies:
            ordered = sorted(tally.latencies)
            line["l"] = [_ms(_pct(ordered, 0.5)), _ms(_pct(ordered, 0.9))]
        if tally.ended:
            line["x"] = tally.ended
        rate = round(stats.current_rate, 2)
        if rate != self._rate_written:  # the rate in force is written only when it changes
            line["q"] = self._rate_written = rate
        return line

    def end(self, *, exit_code: int | None, reason: str | None, stats: HarvestStats | None) -> None:
        """Close the segment: a last bucket (if `stats`), then the end line (exit code, why)."""
        if self._closed:
            return
        if stats is not None:
            self.sample(stats)
        self._closed = True
        t = round(self._clock() - self._start, 3)
        self._write({"end": True, "t": t, "exit": exit_code, "reason": reason})
        self._file.close()

    def _write(self, line: Mapping[str, Any]) -> None:
        try:
            self._file.write(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))
            self._file.flush()
        except (OSError, ValueError):
            pass  # the timeline is a picture of the run, never a reason to stop it


class _Observing:
    def __init__(self, timeline: Timeline, inner: Observer) -> None:
        self._timeline = timeline
        self._inner = inner

    def event(self, name: str, /, **fields: object) -> None:
        if name in _END_EVENTS:
            self._timeline._ended(fields.get("search_id"))
        self._inner.event(name, **fields)


class _Timed:
    """The client as the pool sees it, each call's latency noted (images' calls too)."""

    def __init__(self, timeline: Timeline, inner: Fetcher) -> None:
        self._timeline = timeline
        self._inner = inner

    async def fetch_page(
        self, search_id: str, *, offset: int, limit: int, filters: Mapping[str, str]
    ) -> Page:
        return await self._timed(
            self._inner.fetch_page(search_id, offset=offset, limit=limit, filters=filters)
        )

    async def create_search(
        self, url: str, *, offset: int = 0, limit: int, filters: Mapping[str, str]
    ) -> Created:
        api = self._images()
        return await self._timed(
            api.create_search(url, offset=offset, limit=limit, filters=filters)
        )

    async def upload_image(self, path: Path) -> Upload:
        return await self._timed(self._images().upload_image(path))

    def _images(self) -> ImageApi:
        if not isinstance(self._inner, ImageApi):
            raise TypeError("a job with images needs a fetcher that can upload and create")
        return self._inner

    async def _timed(self, call: Awaitable[_T]) -> _T:
        sent: list[float | None] = [None]
        token = _CALL.set(sent)
        try:
            return await call
        finally:
            _CALL.reset(token)
            if sent[0] is not None:  # None: it never left (the run stopped while it waited)
                self._timeline._answered(self._timeline._mono() - sent[0])


def _pct(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"


# --- reading ----------------------------------------------------------------------------


@dataclass(slots=True)
class Segment:
    """One run (or resume) as the timeline saw it."""

    run_id: str
    start: float  #: epoch seconds
    settings: dict[str, Any]
    buckets: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, Any] | None = None  #: None: still going, or killed

    @property
    def duration(self) -> float:
        """Seconds covered: to the end line, else to the end of the last bucket."""
        if self.end is not None:
            return float(self.end.get("t") or 0.0)
        last = self.buckets[-1] if self.buckets else {"t": 0, "w": 0}
        return float(last["t"] + last["w"])


def read_timeline(out_dir: Path) -> list[Segment]:
    """The segments of `out_dir`'s timeline, oldest first; a damaged line is skipped."""
    try:
        raw = (out_dir / TIMELINE_NAME).read_bytes()
    except FileNotFoundError:
        return []
    return list(_segments(raw.splitlines()))


def _segments(lines: list[bytes]) -> Iterator[Segment]:
    current: Segment | None = None
    for raw in lines:
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue  # a line cut by a kill -9
        if not isinstance(line, dict):
            continue
        if "run" in line:
            if current is not None:
                yield current
            settings = {k: v for k, v in line.items() if k not in ("run", "start", "v")}
            current = Segment(str(line["run"]), float(line.get("start", 0.0)), settings)
        elif current is None:
            continue
        elif "end" in line:
            current.end = line
        elif "t" in line:
            current.buckets.append(line)
    if current is not None:
        yield current
