"""The report's five charts, as SVG, from a Story.

Time charts share one axis: the run's active time, segments (the first run and each
resume) laid end to end with the resumes marked, so a night with a pause still fits.
Timeline buckets are summed into at most `COLUMNS` columns, which bounds the page's
size whatever the run's length.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

from harvester.runreport.story import Story
from harvester.runreport.svg import Plot, figure, nice_ticks
from harvester.runreport.timeline import Segment

__all__ = ["COLUMNS", "all_charts", "finishes"]

COLUMNS = 450
WIDTH = 920
LEFT, RIGHT = 56, 16
PLOT_W = WIDTH - LEFT - RIGHT
STATUS_CSS = {
    "complete": "s-complete",
    "empty": "s-empty",
    "truncated": "s-truncated",
    "expired": "s-expired",
    "failed": "s-failed",
    "pending": "s-pending",
}
CODE_CSS = [f"c{i}" for i in range(8)]
#: Steps of the time axis's ticks, in seconds.
_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800)


@dataclass(slots=True)
class Column:
    """The buckets that fall into one column of the time axis, summed."""

    sent: int = 0
    answered: int = 0
    pages: int = 0
    retries: int = 0
    slowdowns: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    in_flight: int | None = None  #: the most seen
    p50: float = 0.0  #: answered-weighted sums, divided by `weight`
    p90: float = 0.0
    weight: int = 0
    rate: float | None = None  #: the rate in force at the column's end
    seen: bool = False  #: inside a run segment (so its zero counts are real zeros)


@dataclass(slots=True)
class TimeAxis:
    """Run time (segments end to end), its columns and where each segment starts."""

    span: float
    offsets: list[float]
    columns: list[Column]

    @property
    def step(self) -> float:
        """Seconds per column."""
        return self.span / len(self.columns)

    def ticks(self) -> list[tuple[float, str]]:
        """Tick positions in seconds at a round step of time, labelled m:ss or h:mm."""
        step = next((s for s in _TIME_STEPS if s * 8 >= self.span), _TIME_STEPS[-1])
        return [(float(t), _clock(t)) for t in range(0, int(self.span) + 1, step)]


def time_axis(story: Story) -> TimeAxis:
    """Sum the timeline into columns over the run's active time."""
    offsets = time_axis_offsets(story)  # whole seconds: a short run gets one column a second
    span = max(offsets[-1] + _seconds(story.segments[-1]) if offsets else 0.0, 1.0)
    count = max(1, min(COLUMNS, int(span)))
    columns = [Column() for _ in range(count)]
    step = span / count
    for segment, offset in zip(story.segments, offsets, strict=True):
        # a second with no line is a quiet second of a running segment, not a gap
        first, last = int(offset / step), int((offset + segment.duration) / step)
        for column in columns[first : min(last + 1, count)]:
            column.seen = True
        rate = _float(segment.settings.get("rate"))
        for bucket in segment.buckets:
            index = min(count - 1, int((offset + bucket["t"]) / step))
            column = columns[index]
            column.seen = True
            column.sent += bucket.get("s", 0)
            column.answered += bucket.get("a", 0)
            column.pages += bucket.get("p", 0)
            column.retries += bucket.get("r", 0)
            column.slowdowns += bucket.get("d", 0)
            column.errors.update(bucket.get("e", {}))
            if "f" in bucket or column.in_flight is None:
                column.in_flight = max(column.in_flight or 0, bucket.get("f", 0))
            if "l" in bucket:
                weight = max(1, bucket.get("a", 1))
                column.p50 += bucket["l"][0] * weight
                column.p90 += bucket["l"][1] * weight
                column.weight += weight
            rate = _float(bucket.get("q", rate))
            column.rate = rate
    return TimeAxis(span, offsets, columns)


def all_charts(story: Story) -> list[tuple[str, str, str]]:
    """(id, title, svg) of every chart, in page order."""
    axis = time_axis(story)
    return [
        ("rate", "Calls per second against the configured rate", _rate(story, axis)),
        ("latency", "Latency (p50, p90) and calls in flight", _latency(story, axis)),
        ("errors", "Errors by code and retries", _errors(story, axis)),
        ("deadlines", "Each search's finish against its deadline", _deadlines(story, axis)),
        ("shards", "Records and bytes per shard", _shards(story)),
    ]


# --- the charts ---------------------------------------------------------------------------


def _rate(story: Story, axis: TimeAxis) -> str:
    step = axis.step
    sent = [(_mid(axis, i), c.sent / step) for i, c in enumerate(axis.columns) if c.seen]
    in_force = [(_mid(axis, i), c.rate) for i, c in enumerate(axis.columns) if c.rate is not None]
    configured = [_float(s.settings.get("rate")) for s in story.segments]
    top = max([v for _, v in sent] + [v or 0 for _, v in in_force] + [c or 0 for c in configured])
    plot = _time_plot(axis, max(top * 1.15, 1.0), "calls/s")
    for segment, offset, rate in zip(story.segments, axis.offsets, configured, strict=True):
        if rate:
            end = offset + _seconds(segment)
            plot.hline(rate, offset, end, "configured", f"configured rate {rate:g}/s")
    plot.line([(x, v) for x, v in in_force if v is not None], "in-force", "rate in force")
    plot.line(sent, "sent", "calls sent per second")
    for i, column in enumerate(axis.columns):
        if column.slowdowns:
            plot.bar(
                i * step,
                (i + 1) * step,
                plot.y_range[1] * 0.93,
                plot.y_range[1],
                "slowdown",
                f"{column.slowdowns} slow-down(s) at {_clock(i * step)}",
            )
    _resumes(plot, story, axis)
    if not any(c.seen for c in axis.columns):
        plot.note("no timeline recorded")
    legend = [
        ("sent", "calls sent/s"),
        ("configured", "configured rate"),
        ("in-force", "rate in force"),
        ("slowdown", "slow-down"),
    ]
    return figure(WIDTH, 250, [plot], legend, "calls per second against the configured rate")


def _latency(story: Story, axis: TimeAxis) -> str:
    p50 = [(_mid(axis, i), c.p50 / c.weight) for i, c in enumerate(axis.columns) if c.weight]
    p90 = [(_mid(axis, i), c.p90 / c.weight) for i, c in enumerate(axis.columns) if c.weight]
    flight = [
        (_mid(axis, i), float(c.in_flight))
        for i, c in enumerate(axis.columns)
        if c.in_flight is not None
    ]
    top = max([v for _, v in p90] + [1.0])
    upper = _time_plot(axis, top * 1.15, "latency ms", height=110, labels=False)
    upper.line(p90, "p90", "p90 latency (ms)")
    upper.line(p50, "p50", "p50 latency (ms)")
    lower = _time_plot(
        axis, max([v for _, v in flight] + [1.0]) * 1.15, "in flight", height=70, top=170
    )
    lower.line(flight, "flight", "calls sent, not yet answered")
    _resumes(upper, story, axis)
    _resumes(lower, story, axis, labels=False)
    if not p50:
        upper.note("no answered calls in the timeline")
    legend = [("p50", "p50 latency"), ("p90", "p90 latency"), ("flight", "calls in flight")]
    return figure(WIDTH, 285, [upper, lower], legend, "latency and calls in flight")


def _errors(story: Story, axis: TimeAxis) -> str:
    step = axis.step
    codes = Counter[str]()
    for column in axis.columns:
        codes.update(column.errors)
    order = [code for code, _ in codes.most_common()]
    css = {code: CODE_CSS[min(i, len(CODE_CSS) - 1)] for i, code in enumerate(order)}
    heights = [sum(c.errors.values()) for c in axis.columns]
    retries = [(_mid(axis, i), c.retries) for i, c in enumerate(axis.columns) if c.seen]
    top = max(heights + [r for _, r in retries] + [1])
    per = "per second" if step <= 1.5 else f"per {step:.0f} s"
    plot = _time_plot(axis, top * 1.15, f"errors and retries {per}")
    for i, column in enumerate(axis.columns):
        base = 0
        for code in order:
            if n := column.errors.get(code, 0):
                plot.bar(
                    i * step,
                    (i + 1) * step,
                    base,
                    base + n,
                    css[code],
                    f"{n} x {code} at {_clock(i * step)}",
                )
                base += n
    plot.line([(x, float(r)) for x, r in retries], "retries", "retries")
    _resumes(plot, story, axis)
    if not order:
        plot.note("no errors")
    legend = [(css[code], f"{code} ({codes[code]:,})") for code in order[: len(CODE_CSS)]]
    legend.append(("retries", "retries"))
    return figure(WIDTH, 250, [plot], legend, "errors by code and retries")


def finishes(story: Story) -> list[tuple[int, float, float]]:
    """(job index, run-time x, seconds left before its deadline) of each search whose end
    the timeline saw, in job order."""
    offsets = time_axis_offsets(story)
    ends: dict[int, tuple[float, float]] = {}  # job index -> (run-time x, epoch seconds)
    for segment, offset in zip(story.segments, offsets, strict=True):
        for bucket in segment.buckets:
            for index in bucket.get("x", ()):
                middle = bucket["t"] + bucket["w"] / 2
                ends[index] = (offset + middle, segment.start + middle)
    found = []
    for index, row in enumerate(story.searches):
        deadline = _epoch(row.get("deadline"))
        if index in ends and deadline is not None:
            x, wall = ends[index]
            found.append((index, x, deadline - wall))
    return found


def time_axis_offsets(story: Story) -> list[float]:
    """Where each segment starts on the time axis (segments end to end, whole seconds)."""
    offsets, span = [], 0.0
    for segment in story.segments:
        offsets.append(span)
        span += _seconds(segment)
    return offsets


def _deadlines(story: Story, axis: TimeAxis) -> str:
    """x: when the search ended (run time); y: seconds left before its deadline."""
    points = [
        (x, margin, str(story.searches[i].get("status")), str(story.searches[i].get("search_id")))
        for i, x, margin in finishes(story)
    ]
    margins = [m for _, m, _, _ in points] or [0.0]
    # a search whose window closed long before the run would flatten every other dot:
    # the axis stops at one window either side, and such dots sit on its edge
    window = 60 * (_float(story.settings.get("validity_minutes")) or 20.0)
    low = max(min(min(margins), 0.0), -window)
    high = min(max(max(margins), 1.0), window)
    pad = (high - low) * 0.08
    plot = _time_plot(axis, high + pad, "seconds before deadline", low=low - pad)
    plot.hline(0, 0, axis.span, "zero", "the deadline")
    seen: set[tuple[int, int, str]] = set()
    for x, margin, status, search_id in sorted(points, key=lambda p: p[2] in ("expired", "failed")):
        cell = (round(plot.x(x)), round(plot.y(margin)), status)
        if cell in seen:
            continue  # one dot per pixel and status keeps a 10,000-search page small
        seen.add(cell)
        bad = status in ("expired", "failed")
        plot.dot(
            x,
            margin,
            STATUS_CSS.get(status, "s-pending"),
            f"{search_id}: {status}, {margin:,.0f} s before its deadline",
            r=4.0 if bad else 2.2,
        )
    _resumes(plot, story, axis)
    missing = len(story.searches) - len(points)
    if not points:
        plot.note("no search ended in the timeline")
    present = Counter(status for _, _, status, _ in points)
    legend = [(STATUS_CSS[s], f"{s} ({present[s]:,})") for s in STATUS_CSS if present[s]]
    if missing:
        legend.append(("s-none", f"{missing:,} without an end time in the timeline"))
    return figure(WIDTH, 250, [plot], legend, "each search's finish against its deadline")


def _shards(story: Story) -> str:
    shards = story.shards
    rows = max(1, len(shards))
    bar_h = max(6.0, min(22.0, 300.0 / rows))
    height = int(rows * bar_h + 60)
    half = (PLOT_W - 90) / 2
    records = [float(s.get("records", 0)) for s in shards]
    sizes = [float(s.get("bytes", 0)) for s in shards]
    left = Plot(LEFT + 70, 22, half, rows * bar_h, (0, max([*records, 1.0]) * 1.1), (0, rows))
    right = Plot(LEFT + 90 + half, 22, half, rows * bar_h, (0, max([*sizes, 1.0]) * 1.1), (0, rows))
    for plot, values, title in ((left, records, "records"), (right, sizes, "bytes")):
        ticks = nice_ticks(0, plot.x_range[1] / 1.1, 4)
        plot.axes([(t, _short(t)) for t in ticks], title, y_ticks=0)
        for i, value in enumerate(values):
            name = str(shards[i].get("path", i))
            y0 = rows - i - 0.85
            _hbar(plot, value, y0, y0 + 0.7, f"{name}: {value:,.0f} {title}")
    for i, shard in enumerate(shards):
        y = left.y(rows - i - 0.5) + 4
        left.parts.append(
            f'<text x="{LEFT + 64}" y="{y:.1f}" class="yt">{escape(str(shard["path"]))}</text>'
        )
    if not shards:
        left.note("no shards")
    return figure(WIDTH, height, [left, right], [], "records and bytes per shard")


# --- helpers ----------------------------------------------------------------------------


def _time_plot(
    axis: TimeAxis,
    high: float,
    title: str,
    *,
    low: float = 0.0,
    height: int = 170,
    top: int = 22,
    labels: bool = True,
) -> Plot:
    plot = Plot(LEFT, top, PLOT_W, height, (0, axis.span), (low, high))
    plot.axes(axis.ticks() if labels else [], title)
    return plot


def _resumes(plot: Plot, story: Story, axis: TimeAxis, *, labels: bool = True) -> None:
    """A marker where each run segment starts; resumes stand out."""
    if len(story.segments) < 2:
        return
    for number, (segment, offset) in enumerate(zip(story.segments, axis.offsets, strict=True)):
        started = _wall(segment.start)
        text = ("run 1" if number == 0 else f"resume {number}") if labels else ""
        css = "run-start" if number == 0 else "resume"
        plot.vmark(offset, text, css, f"{text or 'run'}: {segment.run_id}, started {started}")


def _hbar(plot: Plot, value: float, y0: float, y1: float, title: str) -> None:
    if value:
        plot.bar(0, value, y0, y1, "shard", title)


def _seconds(segment: Segment) -> float:
    """A segment's length on the time axis."""
    return float(max(1, math.ceil(segment.duration)))


def _mid(axis: TimeAxis, index: int) -> float:
    return (index + 0.5) * axis.step


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}h" if hours else f"{rest // 60}:{rest % 60:02d}"


def _short(value: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:g}{unit}"
    return f"{value:g}"


def _wall(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _epoch(stamp: object) -> float | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
