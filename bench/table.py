"""The one table: a row per figure, each a ratio measured side by side in the same run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Context", "Row", "render", "verdict"]


@dataclass(slots=True, frozen=True)
class Context:
    """What every figure gets: a work directory, and the tools installed for it (or why not)."""

    workdir: Path  #: out/bench: logs and outputs, kept for a look after the run
    peers_python: Path | None  #: bench/.peers/bin/python, the peers' own venv
    peers_problems: dict[str, str]  #: package -> why pip did not install it
    nginx: Path | None  #: the nginx binary, when installed
    nginx_problem: str  #: why it is missing, else ""


@dataclass(slots=True, frozen=True)
class Row:
    """One line of the table."""

    figure: str  #: "1 CPU efficiency"
    measure: str  #: what the ratio divides
    value: str  #: the ratio as shown
    target: str  #: "≥ 0.6", or "" where the issue sets none
    met: bool | None  #: None where there is no target (or nothing was measured)
    detail: str  #: the side-by-side numbers behind it
    limits: str = ""  #: for a missed target: what limits it


def verdict(row: Row) -> str:
    """yes, **no**, or blank where nothing is targeted."""
    return "" if row.met is None else ("yes" if row.met else "**no**")


def render(rows: Sequence[Row]) -> str:
    """The table as Markdown (it reads as plain text in a terminal too)."""
    lines = [
        "| figure | ratio | value | target | met | side by side |",
        "| --- | --- | ---: | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row.figure} | {row.measure} | {row.value} | {row.target} | {verdict(row)} "
            f"| {row.detail} |"
        )
    return "\n".join(lines)
