"""The checkpoint's record of searches made from images: uploads and creations.

An image's search is keyed in the checkpoint like any search (its key is the engine's
business), so its pages, dedupe and records work as for an id; these tables add what an
id does not have. They live beside the others in the same SQLite file and are written by
the writer in the same transactions as the pages, so a resume knows every search it
created (and reuses a live one) and every upload (and reuses its URL while valid).

    uploads    key -> url, expires_at, uploads   (one row per image; the latest URL)
    creations  (key, number) -> search_id, created_at

Both messages are sent by the engine on the writer's stream: `ImageUploaded` right after
the upload call answers, `SearchCreated` right before the page its creation answered.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "IMAGE_TABLES",
    "ImageProgress",
    "ImageUploaded",
    "SearchCreated",
    "annotate_lines",
    "ensure_tables",
    "image_progress",
    "record",
    "register_images",
]

IMAGE_TABLES = """
CREATE TABLE IF NOT EXISTS images (key TEXT PRIMARY KEY, image TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
    key TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    expires_at REAL NOT NULL,
    uploads INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS creations (
    key TEXT NOT NULL,
    number INTEGER NOT NULL,
    search_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (key, number)
) WITHOUT ROWID;
"""


@dataclass(slots=True, frozen=True)
class ImageUploaded:
    """An image was uploaded: its public URL is good until `expires_at` (epoch seconds)."""

    search_id: str  #: the search's key in the job
    url: str
    expires_at: float


@dataclass(slots=True, frozen=True)
class SearchCreated:
    """A search was created from the image; its window started at `created_at`."""

    search_id: str  #: the search's key in the job
    created_id: str  #: the search_id PatSnap made
    created_at: float  #: epoch seconds


@dataclass(slots=True, frozen=True)
class ImageProgress:
    """What a resume needs of one image: its upload, and its searches in creation order."""

    url: str | None = None
    url_expires_at: float | None = None
    uploads: int = 0
    creations: tuple[tuple[str, float], ...] = field(default=())  #: (search_id, created_at)


def ensure_tables(db: sqlite3.Connection) -> None:
    """Add the image tables to a checkpoint that lacks them (one made before images)."""
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'creations'"
    ).fetchone()
    if exists is None:
        db.executescript(f"BEGIN;{IMAGE_TABLES}COMMIT;")


def register_images(db: sqlite3.Connection, images: Mapping[str, str]) -> None:
    """Remember which searches are images (key -> the job's value), for searches.jsonl."""
    if not images:
        return
    ensure_tables(db)
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany("INSERT OR IGNORE INTO images VALUES (?, ?)", images.items())
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def record(db: sqlite3.Connection, message: ImageUploaded | SearchCreated) -> None:
    """Write one message (inside the writer's transaction; the tables are made if missing)."""
    if not _has_tables(db):
        for statement in filter(str.strip, IMAGE_TABLES.split(";")):
            db.execute(statement)
    if isinstance(message, ImageUploaded):
        db.execute(
            "INSERT INTO uploads VALUES (?, ?, ?, 1) ON CONFLICT (key) DO UPDATE SET"
            " url = excluded.url, expires_at = excluded.expires_at, uploads = uploads + 1",
            (message.search_id, message.url, message.expires_at),
        )
        return
    db.execute(
        "INSERT INTO creations SELECT ?, coalesce(max(number), 0) + 1, ?, ?"
        " FROM creations WHERE key = ?",
        (message.search_id, message.created_id, message.created_at, message.search_id),
    )


def image_progress(db: sqlite3.Connection) -> dict[str, ImageProgress]:
    """Every image's upload and creations so far, keyed like the searches."""
    if not _has_tables(db):
        return {}
    made: dict[str, list[tuple[str, float]]] = {}
    for key, search_id, created_at in db.execute(
        "SELECT key, search_id, created_at FROM creations ORDER BY key, number"
    ):
        made.setdefault(key, []).append((search_id, created_at))
    result: dict[str, ImageProgress] = {}
    uploads = {row[0]: row[1:] for row in db.execute("SELECT * FROM uploads")}
    for key in {*made, *uploads}:
        url, expires_at, count = uploads.get(key, (None, None, 0))
        result[key] = ImageProgress(url, expires_at, count, tuple(made.get(key, ())))
    return result


def annotate_lines(
    db: sqlite3.Connection, lines: Iterable[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """searches.jsonl lines, an image's with `image`, `search_ids`, `creations`, `uploads`
    (and `search_id` its latest search); other lines as they are."""
    if not _has_tables(db):
        yield from lines
        return
    images = dict(db.execute("SELECT key, image FROM images").fetchall())
    progress = image_progress(db)
    for line in lines:
        image = images.get(line["search_id"])
        if image is None:
            yield line
            continue
        state = progress.get(line["search_id"], ImageProgress())
        ids = [search_id for search_id, _ in state.creations]
        out = {"search_id": ids[-1] if ids else None, "image": image}
        out.update((k, v) for k, v in line.items() if k != "search_id")
        out.update(search_ids=ids, creations=len(ids), uploads=state.uploads)
        yield out


def _has_tables(db: sqlite3.Connection) -> bool:
    row = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'creations'"
    ).fetchone()
    return row is not None
