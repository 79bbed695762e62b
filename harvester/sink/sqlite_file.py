"""Opening the checkpoint's SQLite file and proving it is a sound checkpoint of ours.

An SQLite error about the disk or the directory is passed on (the caller maps it to an
OutputError); anything that says the file itself is not what it should be becomes
CheckpointCorrupt, with a HINT: a damaged checkpoint is never recreated silently.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from harvester.sink.errors import CheckpointCorrupt, output_errors
from harvester.sink.identity import JobIdentity
from harvester.sink.schema import APPLICATION_ID, SCHEMA_VERSION

__all__ = ["HINT", "META_KEYS", "connect"]

#: The meta table's keys: the stored JobIdentity.
META_KEYS = ("job_name", "job_sha256", "fingerprint", "fingerprint_sha256", "shards", "dedupe")

HINT = (
    "It cannot be trusted, and is never recreated silently. HINT: restore it from a "
    "backup, or move the directory aside (or pass --fresh) to start over"
)


def connect(path: Path, mode: str, *, full: bool) -> tuple[sqlite3.Connection, JobIdentity]:
    """Open the checkpoint at `path` (SQLite URI `mode`) and read its identity; `full` also
    runs SQLite's quick_check."""
    uri = f"{path.resolve().as_uri()}?mode={mode}"
    with output_errors(path):
        db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        try:
            return db, _check(db, path, full=full)
        except BaseException:
            db.close()
            raise


# SQLite errors that say nothing about the file's contents (the disk, the directory)
_NOT_DAMAGE = (
    "SQLITE_CANTOPEN",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_READONLY",
    "SQLITE_PERM",
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_NOMEM",
)


def _check(db: sqlite3.Connection, path: Path, *, full: bool) -> JobIdentity:
    """Prove `db` is a sound checkpoint of ours and read its identity."""
    try:
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        if app_id != APPLICATION_ID:
            raise CheckpointCorrupt(
                f"{path} is an SQLite file but not a harvester checkpoint. {HINT}"
            )
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise CheckpointCorrupt(
                f"checkpoint {path} has format {version}; this harvester reads {SCHEMA_VERSION}"
            )
        if full:
            verdict = [row[0] for row in db.execute("PRAGMA quick_check")]
            if verdict != ["ok"]:
                raise CheckpointCorrupt(
                    f"checkpoint {path} fails SQLite's integrity check "
                    f"({'; '.join(verdict[:3])}). {HINT}"
                )
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", "").startswith(_NOT_DAMAGE):
            raise
        raise CheckpointCorrupt(
            f"checkpoint {path} is not readable as one ({exc}). {HINT}"
        ) from exc
    missing = [key for key in META_KEYS if key not in meta]
    if missing:
        raise CheckpointCorrupt(f"checkpoint {path} lacks {', '.join(missing)}. {HINT}")
    return JobIdentity(
        meta["job_name"],
        meta["job_sha256"],
        meta["fingerprint"].encode(),
        meta["fingerprint_sha256"],
        int(meta["shards"]),
        meta["dedupe"],
    )
