"""A few SVG drawing primitives for the report's charts: a plot frame with axes, lines,
steps, bars, dots, markers. Drawn on the server, so the page needs no script to show
its charts (an e-mail preview or a console that blocks JavaScript still shows them) and
the same data always gives the same bytes."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html import escape

__all__ = ["Plot", "figure", "nice_ticks"]

FONT = 11


def _n(value: float) -> str:
    """A coordinate, short."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (none for a count of 0)."""
    if count <= 0:
        return []
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= step * mult:
            step *= mult
            break
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _label(value: float) -> str:
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


@dataclass(slots=True)
class Plot:
    """A rectangle of an SVG with data ranges; methods add shapes in data coordinates."""

    left: float
    top: float
    width: float
    height: float
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    parts: list[str] = field(default_factory=list)

    def x(self, value: float) -> float:
        """Data x to pixels."""
        lo, hi = self.x_range
        return self.left + (value - lo) / ((hi - lo) or 1) * self.width

    def y(self, value: float) -> float:
        """Data y to pixels (up is more)."""
        lo, hi = self.y_range
        clipped = min(max(value, lo), hi)
        return self.top + self.height - (clipped - lo) / ((hi - lo) or 1) * self.height

    def axes(self, x_ticks: Iterable[tuple[float, str]], y_title: str, *, y_ticks: int = 4) -> None:
        """Frame, grid lines, tick labels and the y axis title."""
        bottom = self.top + self.height
        self.parts.append(
            f'<rect x="{_n(self.left)}" y="{_n(self.top)}" width="{_n(self.width)}" '
            f'height="{_n(self.height)}" class="frame"/>'
        )
        for value in nice_ticks(*self.y_range, y_ticks):
            if not self.y_range[0] <= value <= self.y_range[1]:
                continue
            y = _n(self.y(value))
            self.parts.append(
                f'<line x1="{_n(self.left)}" x2="{_n(self.left + self.width)}" y1="{y}" '
                f'y2="{y}" class="grid"/><text x="{_n(self.left - 4)}" y="{y}" '
                f'class="yt">{_label(value)}</text>'
            )
        for value, text in x_ticks:
            x = _n(self.x(value))
            self.parts.append(
                f'<line x1="{x}" x2="{x}" y1="{_n(bottom)}" y2="{_n(bottom + 4)}" class="tick"/>'
                f'<text x="{x}" y="{_n(bottom + 15)}" class="xt">{escape(text)}</text>'
            )
        self.parts.append(
            f'<text x="{_n(self.left)}" y="{_n(self.top - 6)}" class="axis">'
            f"{escape(y_title)}</text>"
        )

    def line(self, points: Sequence[tuple[float, float]], css: str, title: str = "") -> None:
        """A polyline through `points` (None-free), with an optional hover title."""
        if not points:
            return
        coords = " ".join(f"{_n(self.x(x))},{_n(self.y(y))}" for x, y in points)
        hover = f"<title>{escape(title)}</title>" if title else ""
        self.parts.append(f'<polyline points="{coords}" class="{css}">{hover}</polyline>')

    def bar(self, x0: float, x1: float, y0: float, y1: float, css: str, title: str = "") -> None:
        """A rectangle from (x0, y0) to (x1, y1) in data coordinates."""
        left, right = self.x(x0), max(self.x(x1), self.x(x0) + 0.8)
        top, bottom = self.y(y1), self.y(y0)
        hover = f"<title>{escape(title)}</title>" if title else ""
        self.parts.append(
            f'<rect x="{_n(left)}" y="{_n(top)}" width="{_n(right - left)}" '
            f'height="{_n(max(bottom - top, 0.5))}" class="{css}">{hover}</rect>'
        )

    def dot(self, x: float, y: float, css: str, title: str = "", r: float = 2.5) -> None:
        """A circle at (x, y)."""
        hover = f"<title>{escape(title)}</title>" if title else ""
        self.parts.append(
            f'<circle cx="{_n(self.x(x))}" cy="{_n(self.y(y))}" r="{_n(r)}" class="{css}">'
            f"{hover}</circle>"
        )

    def hline(self, y: float, x0: float, x1: float, css: str, title: str = "") -> None:
        """A horizontal line at data y from x0 to x1."""
        self.line([(x0, y), (x1, y)], css, title)

    def vmark(self, x: float, text: str, css: str, title: str = "") -> None:
        """A vertical marker across the plot, labelled at the top."""
        px = _n(self.x(x))
        hover = f"<title>{escape(title)}</title>" if title else ""
        self.parts.append(
            f'<g class="{css}"><line x1="{px}" x2="{px}" y1="{_n(self.top)}" '
            f'y2="{_n(self.top + self.height)}"/><text x="{_n(self.x(x) + 3)}" '
            f'y="{_n(self.top + 10)}">{escape(text)}</text>{hover}</g>'
        )

    def note(self, text: str) -> None:
        """A message in the middle of the plot (e.g. nothing to show)."""
        self.parts.append(
            f'<text x="{_n(self.left + self.width / 2)}" y="{_n(self.top + self.height / 2)}" '
            f'class="note">{escape(text)}</text>'
        )


def figure(
    width: int, height: int, plots: Sequence[Plot], legend: Sequence[tuple[str, str]], label: str
) -> str:
    """An <svg> holding `plots` and a legend row of (css class, text) at the bottom."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}">'
    ]
    for plot in plots:
        parts.extend(plot.parts)
    x = 50.0
    for css, text in legend:
        parts.append(
            f'<rect x="{_n(x)}" y="{height - 14}" width="10" height="10" class="{css} key"/>'
            f'<text x="{_n(x + 14)}" y="{height - 5}" class="legend">{escape(text)}</text>'
        )
        x += 24 + len(text) * 6.2
    parts.append("</svg>")
    return "".join(parts)
