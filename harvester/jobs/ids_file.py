"""An ids_file: one search per line, a plain search_id or a JSON object.

Blank lines and lines starting with `#` are skipped. A JSON line looks like
`{"id": "...", "created_at": "2026-11-24T20:00:00Z", "limit": 50, "country": "US"}`;
its keys are laid over the `[[search]]` entry that names the file, which is laid over
`[defaults]`. Plain lines are the fast path: 100,000 of them load in a fraction of a second.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from harvester.jobs.collect import Collector, at
from harvester.jobs.entry import Layer, Layering
from harvester.jobs.fields import SEARCH_ID_PATTERN, check_search_id
from harvester.jobs.model import Search

__all__ = ["MAX_PROBLEMS_PER_FILE", "read_ids_file"]

#: Past this many problems in one ids_file, the rest are counted, not listed.
MAX_PROBLEMS_PER_FILE = 50


def read_ids_file(
    file: Path, data: bytes, base: Layer, into: Collector, layering: Layering
) -> None:
    """Add the searches of an ids_file's bytes to `into`; problems name `file` and the line."""
    shown = str(file)
    start = len(into.problems)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        bad_line = data[: error.start].count(b"\n") + 1
        into.problem(at(shown, bad_line), "ids_file", "is not UTF-8 text")
        return
    searches_before = len(into.searches)
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line[0] == "#":
            continue
        source = f"{shown}:{number}"
        if line[0] == "{":
            _json_line(line, source, number, base, into, layering)
        elif SEARCH_ID_PATTERN.fullmatch(line):
            into.add(Search(line, base.created_at, base.limit, base.filters, source), _id(number))
        else:
            _, message = check_search_id(line)
            into.problem(source, _id(number), f"{message} (or a JSON object per line)")
    _cap_problems(into, start, shown)
    if len(into.searches) == searches_before and len(into.problems) == start:
        into.problem(shown, "ids_file", "has no search ids: one search_id per line expected")


def _id(number: int) -> str:
    return f"ids_file line {number}.id"


def _json_line(
    line: str, source: str, number: int, base: Layer, into: Collector, layering: Layering
) -> None:
    field = f"ids_file line {number}"
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        into.problem(source, field, f"is not valid JSON: {error}")
        return
    if not isinstance(obj, dict):
        into.problem(source, field, "must be a search_id or a JSON object")
        return
    failed = False

    def report(key: str, message: str) -> None:
        nonlocal failed
        failed = True
        into.problem(source, f"{field}.{key}", message)

    layer = layering.apply(obj, base, report, other_keys=("id",))
    if "id" not in obj:
        report("id", 'is missing: add "id": "<search_id>"')
        return
    search_id, message = check_search_id(obj["id"])
    if search_id is None:
        report("id", message or "")
        return
    if not failed:
        into.add(
            Search(search_id, layer.created_at, layer.limit, layer.filters, source), f"{field}.id"
        )


def _cap_problems(into: Collector, start: int, shown: str) -> None:
    """Keep a badly wrong file (the wrong file, say) from burying every other problem."""
    extra = len(into.problems) - start - MAX_PROBLEMS_PER_FILE
    if extra > 0:
        del into.problems[start + MAX_PROBLEMS_PER_FILE :]
        into.problem(shown, "ids_file", f"{extra} more problems in this file are not listed")
