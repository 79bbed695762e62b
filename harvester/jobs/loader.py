"""Load a job file (TOML) into a `Job`, or report every problem in it at once."""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import TypeVar

from harvester.api.params import FILTERS
from harvester.jobs.collect import Collector, at
from harvester.jobs.entry import Layer, Layering
from harvester.jobs.fields import (
    Checked,
    check_concurrency,
    check_name,
    check_search_id,
    choice_check,
    did_you_mean,
    float_check,
    int_check,
    show,
)
from harvester.jobs.ids_file import read_ids_file
from harvester.jobs.images import image_search, read_images_file
from harvester.jobs.model import DEDUPE_SCOPES, Job, JobFileError, JobSettings, Problem, Search
from harvester.jobs.toml_lines import LineIndex, scan_lines

__all__ = ["load_job", "validate_job"]

T = TypeVar("T")

_TOP_LEVEL = ("job", "defaults", "search", "ids_file")
_SETTINGS = tuple(f.name for f in fields(JobSettings))
_TO_DEFAULTS = {key: "[defaults] or a [[search]]" for key in ("limit", *FILTERS)}
_TO_JOB = {key: "[job]" for key in _SETTINGS}
_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_ID_OR_FILE = (
    'needs one of id = "<search_id>", ids_file = "<path of a file of ids>", '
    'image_url = "<http(s) URL of a JPG/PNG>", image = "<path of a local JPG/PNG>" or '
    'images_file = "<path of a file of image URLs or paths>"'
)
_NO_CREATED_AT = "does not apply to an image: the run creates its search, and its window opens then"
#: The keys that say what a [[search]] harvests; an entry holds exactly one of them.
_KINDS = ("id", "ids_file", "image_url", "image", "images_file")


def load_job(path: Path | str, *, overrides: Mapping[str, object] | None = None) -> Job:
    """Read and check a job file; raise JobFileError listing every problem.

    `overrides` come from command-line flags (rate, concurrency, shards, burst, ...) and
    win over `[job]`; a None value means the flag was not given.
    """
    return _Loader(Path(path)).load(overrides or {})


def validate_job(path: Path | str) -> list[Problem]:
    """Every problem of a job file; [] when it loads."""
    try:
        load_job(path)
    except JobFileError as error:
        return error.problems
    return []


class _Loader:
    """One load of one job file; collects searches and problems as it goes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.shown = str(path)
        self.into = Collector()
        self.lines = LineIndex()
        self.digest = hashlib.sha256()
        self.layering = Layering()

    def where(self, *key: str | int) -> str:
        return at(self.shown, self.lines.line_of(*key))

    def problem(self, key: tuple[str | int, ...], field: str, message: str) -> None:
        self.into.problem(self.where(*key), field, message)

    def load(self, overrides: Mapping[str, object]) -> Job:
        doc = self._read()
        if doc is None:
            raise JobFileError(self.into.problems)
        self._check_top_level(doc)
        job = doc.get("job", {})
        settings = self._settings(job if isinstance(job, dict) else {}, overrides)
        defaults = self._defaults(doc.get("defaults", {}))
        if "ids_file" in doc:  # a top-level key: its ids take [defaults] only
            self._ids_file(doc["ids_file"], defaults, ("ids_file",), "ids_file")
        entries = doc.get("search", [])
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(entry, dict):  # anything else is reported by _check_top_level
                self._search(index, entry, defaults)
        if not self.into.searches and not self.into.problems:
            self.into.problem(self.shown, "search", f"no searches: a [[search]] {_ID_OR_FILE}")
        if self.into.problems:
            raise JobFileError(_in_file_order(self.into.problems))
        searches = tuple(self.into.searches)
        return Job(self.path, self.digest.hexdigest(), settings, searches)

    def _read(self) -> dict[str, object] | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            self.into.problem(self.shown, "job file", f"not found: {self.path.absolute()}")
            return None
        except OSError as error:
            self.into.problem(self.shown, "job file", f"cannot be read: {error.strerror}")
            return None
        self.digest.update(data)
        try:
            text = data.decode("utf-8")
            doc = tomllib.loads(text)
        except UnicodeDecodeError as error:
            line = data[: error.start].count(b"\n") + 1
            self.into.problem(at(self.shown, line), "job file", "is not UTF-8 text")
            return None
        except tomllib.TOMLDecodeError as error:
            found = _TOML_AT.search(str(error))
            reason = _TOML_AT.sub("", str(error))
            if found is None:
                self.into.problem(self.shown, "toml", f"not valid TOML: {reason}")
            else:
                where = at(self.shown, int(found[1]))
                self.into.problem(where, "toml", f"not valid TOML: {reason} (column {found[2]})")
            return None
        self.lines = scan_lines(text)
        return doc

    def _check_top_level(self, doc: Mapping[str, object]) -> None:
        allowed = "[job], [defaults], [[search]] and ids_file"
        for key, value in doc.items():
            if key not in _TOP_LEVEL:
                hint = did_you_mean(key, _TOP_LEVEL)
                self.problem((key,), key, f"unknown table or key{hint}; allowed: {allowed}")
            elif key in ("job", "defaults") and not isinstance(value, dict):
                self.problem((key,), key, f"must be a table: [{key}]")
            elif key == "search" and not (
                isinstance(value, list) and all(isinstance(item, dict) for item in value)
            ):
                self.problem((key,), key, "must be an array of tables: write [[search]]")

    def _settings(
        self, table: Mapping[str, object], overrides: Mapping[str, object]
    ) -> JobSettings:
        for key in table:
            if key not in _SETTINGS:
                if key in _TO_DEFAULTS or key == "ids_file":
                    hint = "; it goes in " + _TO_DEFAULTS.get(key, "a [[search]]")
                else:
                    hint = did_you_mean(key, _SETTINGS) + "; allowed: " + ", ".join(_SETTINGS)
                self.problem(("job", key), f"job.{key}", f"unknown key{hint}")
        for key in overrides:
            if key not in _SETTINGS:
                self.into.problem("command line", _flag(key), "is not a job setting")

        def setting(key: str, check: Callable[[object], Checked[T]], default: T) -> T:
            value = default
            if key in table:
                checked, message = check(table[key])
                if checked is None:
                    self.problem(("job", key), f"job.{key}", message or "")
                value = default if checked is None else checked
            raw = overrides.get(key)
            if raw is not None:
                checked, message = check(_from_flag(raw, default))
                if checked is None:
                    self.into.problem("command line", _flag(key), message or "")
                value = value if checked is None else checked
            return value

        named = "name" in table or overrides.get("name") is not None
        name = "job" if named else self._default_name()
        return JobSettings(
            name=setting("name", check_name, name),
            validity_minutes=setting("validity_minutes", float_check(0, low_open=True), 20.0),
            rate=setting("rate", float_check(0, 1000, low_open=True), 10.0),
            burst=setting("burst", int_check(1), 1),
            concurrency=setting("concurrency", check_concurrency, "auto"),
            max_concurrency=setting("max_concurrency", int_check(1, 256), 64),
            shards=setting("shards", int_check(1, 1024), 4),
            dedupe=setting("dedupe", choice_check(DEDUPE_SCOPES), "search"),
            grace_seconds=setting("grace_seconds", float_check(0), 30.0),
            give_up_after=setting("give_up_after", float_check(0, low_open=True), 60.0),
            recreate=setting("recreate", int_check(0, 10), 3),
        )

    def _default_name(self) -> str:
        """With no name in [job], the file's stem names the job, if it is a valid name."""
        name, _ = check_name(self.path.stem)
        if name is None:
            self.problem(
                ("job",),
                "job.name",
                f"is missing and the file name {self.path.stem!r} is not a valid job name: "
                'add name = "..." to [job] (1..64 of the characters a-z 0-9 _ -)',
            )
            return "job"
        return name

    def _defaults(self, table: object) -> Layer:
        if not isinstance(table, dict):
            return Layer()

        def report(key: str, message: str) -> None:
            self.problem(("defaults", key), f"defaults.{key}", message)

        return self.layering.apply(table, Layer(), report, created_at=False, elsewhere=_TO_JOB)

    def _search(self, index: int, table: Mapping[str, object], defaults: Layer) -> None:
        label = f"search[{index + 1}]"

        def report(key: str, message: str) -> None:
            self.problem(("search", index, key), f"{label}.{key}", message)

        own = self.layering.apply(table, defaults, report, other_keys=_KINDS, elsewhere=_TO_JOB)
        kinds = [key for key in _KINDS if key in table]
        if not kinds:
            self.problem(("search", index), label, _ID_OR_FILE)
            return
        if len(kinds) > 1:
            report(
                kinds[1],
                f"a [[search]] takes exactly one of {', '.join(_KINDS)}; this one has "
                f"{' and '.join(kinds)}: start a new [[search]] for each",
            )
            return
        kind = kinds[0]
        if kind == "ids_file":
            self._ids_file(table["ids_file"], own, ("search", index, "ids_file"), label)
        elif kind == "images_file":
            if "created_at" in table:
                report("created_at", _NO_CREATED_AT)
                return
            self._images_file(table["images_file"], own, ("search", index, "images_file"), label)
        elif kind in ("image_url", "image"):
            if "created_at" in table:
                report("created_at", _NO_CREATED_AT)
                return
            source = self.where("search", index, kind)
            search, message = image_search(kind, table[kind], own, source, self.path.parent)
            if search is None:
                report(kind, message or "")
            else:
                self.into.add(search, f"{label}.{kind}")
        else:
            search_id, message = check_search_id(table["id"])
            if search_id is None:
                report("id", message or "")
                return
            source = self.where("search", index, "id")
            search = Search(search_id, own.created_at, own.limit, own.filters, source)
            self.into.add(search, f"{label}.id")

    def _images_file(
        self, value: object, layer: Layer, key: tuple[str | int, ...], label: str
    ) -> None:
        data = self._list_file(value, key, f"{label}.images_file")
        if data is not None:
            read_images_file(self.path.parent / str(value), data, layer, self.into, self.layering)

    def _list_file(self, value: object, key: tuple[str | int, ...], field: str) -> bytes | None:
        """The bytes of an ids_file or images_file (added to the job's sha256), or None."""
        if not isinstance(value, str) or not value.strip():
            message = f"must be a path relative to the job file's folder, got {show(value)}"
            self.problem(key, field, message)
            return None
        file = self.path.parent / value
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            self.problem(key, field, f"file not found: {file.absolute()}")
            return None
        except OSError as error:
            self.problem(key, field, f"cannot be read ({error.strerror}): {file.absolute()}")
            return None
        self.digest.update(data)
        return data

    def _ids_file(
        self, value: object, layer: Layer, key: tuple[str | int, ...], label: str
    ) -> None:
        field = f"{label}.ids_file" if label != "ids_file" else label
        data = self._list_file(value, key, field)
        if data is not None:
            read_ids_file(self.path.parent / str(value), data, layer, self.into, self.layering)


def _in_file_order(problems: list[Problem]) -> list[Problem]:
    """Problems grouped by file (in the order files came up), by line within a file."""
    files: dict[str, int] = {}
    keys: list[tuple[int, float]] = []
    for problem in problems:
        path, _, line = problem.location.rpartition(":")
        if not line.isdigit():
            path, line = problem.location, ""
        number = int(line) if line else float("inf")  # whole-file problems last
        keys.append((files.setdefault(path, len(files)), number))
    order = sorted(range(len(problems)), key=keys.__getitem__)
    return [problems[i] for i in order]


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _from_flag(raw: object, default: object) -> object:
    """Flags may arrive as text; numbers are parsed, so "10" checks like 10."""
    if not isinstance(raw, str) or isinstance(default, str):
        return raw
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            continue
    return raw
