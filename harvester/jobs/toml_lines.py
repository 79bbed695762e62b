"""Line numbers of TOML tables and keys, which tomllib does not give.

A small scanner over the text: it follows table headers (counting `[[array]]` tables),
records the line of each key, and skips multi-line strings and arrays so that their
contents are never mistaken for keys. It trusts tomllib to have accepted the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["KeyPath", "LineIndex", "scan_lines"]

#: ("search", 2, "limit"): the key `limit` of the third [[search]] table (0-based there)
KeyPath = tuple[str | int, ...]

_KEY_PART = re.compile(r"\s*(?:([A-Za-z0-9_-]+)|\"((?:[^\"\\]|\\.)*)\"|'([^']*)')\s*")
# A value that closes on its own line: a number, bool, date or a one-line string.
_SIMPLE_VALUE = re.compile(
    r"""\s*(?:"(?:[^"\\]|\\.)*"|'[^']*'|[^"'\[{\s#][^"'\[{#]*?)\s*(?:\#.*)?""",
)


@dataclass(slots=True)
class LineIndex:
    """Maps key paths to 1-based line numbers; `line_of` falls back to the nearest parent."""

    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, *path: str | int) -> int | None:
        """The line of `path`, else of its longest declared prefix, else None."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def _parse_key(text: str, pos: int) -> tuple[list[str], int] | None:
    """A dotted key starting at `pos`: its parts and the position after it."""
    parts: list[str] = []
    while True:
        match = _KEY_PART.match(text, pos)
        if match is None or match.end() == pos:
            return None
        bare, basic, literal = match.groups()
        parts.append(bare if bare is not None else (basic if basic is not None else literal))
        pos = match.end()
        if pos < len(text) and text[pos] == ".":
            pos += 1
            continue
        return parts, pos


@dataclass(slots=True)
class _State:
    depth: int = 0  #: open [ and { of a value spanning lines
    closing: str = ""  #: the delimiter of an open multi-line string


def _scan_value(text: str, pos: int, state: _State) -> None:
    """Advance over a value (or its continuation), tracking brackets and open strings."""
    i, n = pos, len(text)
    while i < n:
        if state.closing:
            end = text.find(state.closing, i)
            if end < 0:
                return
            while state.closing == '"""' and _escaped(text, end):
                end = text.find(state.closing, end + 1)
                if end < 0:
                    return
            i = end + 3
            state.closing = ""
            continue
        char = text[i]
        if char == "#":
            return
        if char in "\"'":
            if text.startswith(char * 3, i):
                state.closing = char * 3
                i += 3
                continue
            i = _skip_string(text, i, char)
            continue
        if char in "[{":
            state.depth += 1
        elif char in "]}":
            state.depth -= 1
        i += 1


def _escaped(text: str, at: int) -> bool:
    backslashes = 0
    while at - backslashes - 1 >= 0 and text[at - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def _skip_string(text: str, start: int, quote: str) -> int:
    i = start + 1
    while i < len(text):
        if text[i] == "\\" and quote == '"':
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    return i


def scan_lines(text: str) -> LineIndex:
    """Index every table header and key of a TOML document that tomllib accepted."""
    index = LineIndex()
    counts: dict[tuple[str, ...], int] = {}
    table: KeyPath = ()
    state = _State()
    for number, line in enumerate(text.splitlines(), start=1):
        if state.closing or state.depth > 0:
            _scan_value(line, 0, state)
            continue
        stripped = line.lstrip()
        if not stripped or stripped[0] == "#":
            continue
        if stripped[0] == "[":
            table = _header(stripped, counts)
            index.lines.setdefault(table, number)
            continue
        parsed = _parse_key(line, 0)
        if parsed is None:
            continue
        parts, pos = parsed
        index.lines.setdefault((*table, *parts), number)
        value_at = pos + 1  # after "="
        if not _SIMPLE_VALUE.fullmatch(line, value_at):
            _scan_value(line, value_at, state)
    return index


def _header(stripped: str, counts: dict[tuple[str, ...], int]) -> KeyPath:
    """The key path of a `[table]` or `[[array]]` header, array tables carrying their index."""
    is_array = stripped.startswith("[[")
    parsed = _parse_key(stripped, 2 if is_array else 1)
    parts = parsed[0] if parsed else []
    path: list[str | int] = []
    for end, part in enumerate(parts, start=1):
        path.append(part)
        seen = counts.get(tuple(parts[:end]))
        last = end == len(parts)
        if is_array and last:
            counts[tuple(parts)] = (seen or 0) + 1
            path.append(counts[tuple(parts)] - 1)
        elif seen is not None:
            path.append(seen - 1)  # a sub-table of the latest element of an array table
    return tuple(path)
