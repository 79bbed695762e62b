"""A list file (an ids_file, an images_file): one entry a line, read the same way for both.

The bytes are UTF-8 (a BOM allowed); blank lines and lines starting with `#` are skipped;
each entry line goes to the kind's own reader with its `file:line` source. A problem
names that line; at most MAX_PROBLEMS_PER_FILE are listed per file (a wrong file, say,
must not bury every other problem), and a file that lists nothing is a problem too.
A JSON object line is read by `json_object_line`, its keys' problems by `LineProblems`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from harvester.jobs.collect import Collector, at

__all__ = ["MAX_PROBLEMS_PER_FILE", "LineProblems", "json_object_line", "read_list_file"]

#: Past this many problems in one list file, the rest are counted, not listed.
MAX_PROBLEMS_PER_FILE = 50

#: Reads one entry line: (the stripped line, its source `file:N`, its line number N).
LineReader = Callable[[str, str, int], None]


def read_list_file(
    file: Path, data: bytes, kind: str, into: Collector, read_line: LineReader, empty: str
) -> None:
    """Give each entry line of `data` (the bytes of `file`, an `kind` such as "ids_file")
    to `read_line`; add the file's own problems to `into`, `empty` if it lists nothing."""
    shown = str(file)
    start = len(into.problems)
    before = len(into.searches)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        bad_line = data[: error.start].count(b"\n") + 1
        into.problem(at(shown, bad_line), kind, "is not UTF-8 text")
        return
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if line and line[0] != "#":
            read_line(line, f"{shown}:{number}", number)
    extra = len(into.problems) - start - MAX_PROBLEMS_PER_FILE
    if extra > 0:
        del into.problems[start + MAX_PROBLEMS_PER_FILE :]
        into.problem(shown, kind, f"{extra} more problems in this file are not listed")
    if len(into.searches) == before and len(into.problems) == start:
        into.problem(shown, kind, empty)


def json_object_line(
    line: str, source: str, field: str, into: Collector, not_object: str
) -> dict[str, Any] | None:
    """The JSON object on a line, or None with the problem added (`not_object` says what
    the line may be instead)."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        into.problem(source, field, f"is not valid JSON: {error}")
        return None
    if not isinstance(obj, dict):
        into.problem(source, field, not_object)
        return None
    return obj


class LineProblems:
    """Problems with the keys of one JSON line, named `field.key`; `failed` once one is."""

    __slots__ = ("_field", "_into", "_source", "failed")

    def __init__(self, into: Collector, source: str, field: str) -> None:
        self._into = into
        self._source = source
        self._field = field
        self.failed = False

    def report(self, key: str, message: str) -> None:
        """A problem with `key` of this line."""
        self.failed = True
        self._into.problem(self._source, f"{self._field}.{key}", message)
