"""Image entries: an image URL or a local JPG/PNG the harvester makes a search from.

A `[[search]]` with `image_url`, `image` or `images_file` becomes one `Search` per image,
keyed `image:<the value as written>`; its search_id is made by the run, just in time.
Local files are checked here, before any paid call: they exist, are JPG or PNG by their
first bytes, and are at most 4 MB (the upload call's rules).

An images_file holds one image a line: an http(s) URL, or a path relative to the images
file's folder; or a JSON object `{"image_url": ...}` / `{"image": ...}` with filters and
`limit`, laid over the entry that names the file. Blank lines and `#` lines are skipped.
"""

from __future__ import annotations

from pathlib import Path

from harvester.jobs.collect import Collector
from harvester.jobs.entry import Layer, Layering
from harvester.jobs.fields import show
from harvester.jobs.list_file import LineProblems, json_object_line, read_list_file
from harvester.jobs.model import IMAGE_KEY_PREFIX, Search

__all__ = [
    "IMAGE_MAX_BYTES",
    "IMAGE_URL_MAX",
    "check_image_file",
    "check_image_url",
    "image_search",
    "read_images_file",
]

IMAGE_MAX_BYTES = 4 * 1024 * 1024  #: the upload call's limit (4096 KB)
IMAGE_URL_MAX = 1000  #: longest image URL accepted
_JPEG = b"\xff\xd8\xff"
_PNG = b"\x89PNG\r\n\x1a\n"


def check_image_url(value: object) -> str | None:
    """None if `value` is an http(s) URL of at most 1,000 characters, else the problem."""
    expected = f"an http(s) URL of a JPG or PNG image, at most {IMAGE_URL_MAX} characters"
    if not isinstance(value, str):
        return f"must be {expected}, got {show(value)}"
    text = value.strip()
    lower = text.lower()
    if not (lower.startswith("http://") or lower.startswith("https://")) or len(text) < 9:
        return f"must be {expected}, got {show(value)}"
    if len(text) > IMAGE_URL_MAX:
        return f"must be {expected}; this one has {len(text)}"
    if any(ch.isspace() for ch in text):
        return f"must be {expected} without whitespace (escape spaces as %20)"
    return None


def check_image_file(path: Path) -> str | None:
    """None if `path` is a JPG or PNG of at most 4 MB, else what is wrong with it."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as file:
            head = file.read(8)
    except FileNotFoundError:
        return f"image file not found: {path.absolute()}"
    except IsADirectoryError:
        return f"is a folder, not an image file: {path.absolute()}"
    except OSError as error:
        return f"image file cannot be read ({error.strerror}): {path.absolute()}"
    if not (head.startswith(_JPEG) or head.startswith(_PNG)):
        return f"is not a JPG or PNG image (judged by its first bytes): {path.absolute()}"
    if size > IMAGE_MAX_BYTES:
        return f"is {size} bytes; images may be at most 4 MB ({IMAGE_MAX_BYTES}): {path.absolute()}"
    return None


def image_search(
    kind: str, value: object, layer: Layer, source: str, base_dir: Path
) -> tuple[Search | None, str | None]:
    """The Search of one image entry (`kind` "image_url" or "image"), or the problem."""
    if kind == "image_url":
        problem = check_image_url(value)
        if problem is not None or not isinstance(value, str):
            return None, problem
        url = value.strip()
        search = Search(IMAGE_KEY_PREFIX + url, None, layer.limit, layer.filters, source)
        return _with_image(search, url, url, None), None
    if not isinstance(value, str) or not value.strip():
        return None, f"must be a path relative to {base_dir}, got {show(value)}"
    path = base_dir / value
    problem = check_image_file(path)
    if problem is not None:
        return None, problem
    search = Search(IMAGE_KEY_PREFIX + value, None, layer.limit, layer.filters, source)
    return _with_image(search, value, None, path.absolute()), None


def _with_image(search: Search, image: str, url: str | None, path: Path | None) -> Search:
    return Search(
        search.search_id,
        search.created_at,
        search.limit,
        search.filters,
        search.source,
        image=image,
        image_url=url,
        image_path=path,
    )


def read_images_file(
    file: Path, data: bytes, base: Layer, into: Collector, layering: Layering
) -> None:
    """Add the images listed in an images_file's bytes to `into`; problems name file:line."""

    def read_line(line: str, source: str, number: int) -> None:
        field = f"images_file line {number}"
        layer, kind, value = base, "image", line
        if line[0] == "{":
            parsed = _json_line(line, source, field, base, into, layering)
            if parsed is None:
                return
            layer, kind, value = parsed
        elif line.lower().startswith(("http://", "https://")):
            kind = "image_url"
        search, problem = image_search(kind, value, layer, source, file.parent)
        if search is None:
            into.problem(source, f"{field}.{kind}", problem or "")
        else:
            into.add(search, f"{field}.{kind}")

    empty = "has no images: one image URL or path per line expected"
    read_list_file(file, data, "images_file", into, read_line, empty)


def _json_line(
    line: str, source: str, field: str, base: Layer, into: Collector, layering: Layering
) -> tuple[Layer, str, str] | None:
    not_object = "must be an image URL, a path, or a JSON object"
    obj = json_object_line(line, source, field, into, not_object)
    if obj is None:
        return None
    problems = LineProblems(into, source, field)
    kinds = [key for key in ("image_url", "image") if key in obj]
    other_keys = ("image_url", "image")
    layer = layering.apply(obj, base, problems.report, other_keys=other_keys, created_at=False)
    if len(kinds) != 1:
        problems.report("image", 'needs exactly one of "image_url" or "image"')
        return None
    value = obj[kinds[0]]
    if problems.failed:
        return None
    if not isinstance(value, str):
        problems.report(kinds[0], f"must be a string, got {show(value)}")
        return None
    return layer, kinds[0], value
