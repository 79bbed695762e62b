"""An ids_file: one search per line, a plain search_id or a JSON object.

Blank lines and lines starting with `#` are skipped. A JSON line looks like
`{"id": "...", "created_at": "2026-11-24T20:00:00Z", "limit": 50, "country": "US"}`;
its keys are laid over the `[[search]]` entry that names the file, which is laid over
`[defaults]`. Plain lines are the fast path: 100,000 of them load in a fraction of a second.
"""

from __future__ import annotations

from pathlib import Path

from harvester.jobs.collect import Collector
from harvester.jobs.entry import Layer, Layering
from harvester.jobs.fields import SEARCH_ID_PATTERN, check_search_id
from harvester.jobs.list_file import LineProblems, json_object_line, read_list_file
from harvester.jobs.model import Search

__all__ = ["read_ids_file"]


def read_ids_file(
    file: Path, data: bytes, base: Layer, into: Collector, layering: Layering
) -> None:
    """Add the searches of an ids_file's bytes to `into`; problems name `file` and the line."""

    def read_line(line: str, source: str, number: int) -> None:
        if line[0] == "{":
            _json_line(line, source, number, base, into, layering)
        elif SEARCH_ID_PATTERN.fullmatch(line):
            into.add(Search(line, base.created_at, base.limit, base.filters, source), _id(number))
        else:
            _, message = check_search_id(line)
            into.problem(source, _id(number), f"{message} (or a JSON object per line)")

    empty = "has no search ids: one search_id per line expected"
    read_list_file(file, data, "ids_file", into, read_line, empty)


def _id(number: int) -> str:
    return f"ids_file line {number}.id"


def _json_line(
    line: str, source: str, number: int, base: Layer, into: Collector, layering: Layering
) -> None:
    field = f"ids_file line {number}"
    obj = json_object_line(line, source, field, into, "must be a search_id or a JSON object")
    if obj is None:
        return
    problems = LineProblems(into, source, field)
    layer = layering.apply(obj, base, problems.report, other_keys=("id",))
    if "id" not in obj:
        problems.report("id", 'is missing: add "id": "<search_id>"')
        return
    search_id, message = check_search_id(obj["id"])
    if search_id is None:
        problems.report("id", message or "")
        return
    if not problems.failed:
        into.add(
            Search(search_id, layer.created_at, layer.limit, layer.filters, source), f"{field}.id"
        )
