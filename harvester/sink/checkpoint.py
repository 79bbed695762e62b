"""The checkpoint: one SQLite file (WAL) that makes the output exactly-once.

It holds the job's searches and their state, every fetched page (so none is paid for
twice), the hits of pages whose search has not ended (staged), each shard's committed
size and the job-wide dedupe keys. Only the writer writes it, through one connection.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from harvester.sink.errors import (
    CheckpointCorrupt,
    CheckpointMismatch,
    OutputError,
    output_errors,
    sqlite_errors,
)
from harvester.sink.identity import LAYOUT, JobIdentity, SearchProgress, epoch_of, fingerprint_of
from harvester.sink.schema import APPLICATION_ID, SCHEMA, SCHEMA_VERSION
from harvester.sink.shards import fsync_dir
from harvester.sink.sqlite_file import HINT, META_KEYS, connect
from harvester.sink.vocabulary import SearchStatus

__all__ = [
    "CHECKPOINT_NAME",
    "LAYOUT",
    "Checkpoint",
    "CheckpointCorrupt",
    "CheckpointMismatch",
    "JobIdentity",
    "OutputError",
    "SearchProgress",
    "epoch_of",
    "fingerprint_of",
]

#: File name inside the output directory; "_" keeps data-lake globs and Spark away from it.
CHECKPOINT_NAME = "_checkpoint.sqlite"


T = TypeVar("T")

# ids per "IN (...)" query: well under SQLite's 32766 bound variables
_IN_CHUNK = 500


class Checkpoint:
    """An open checkpoint. Writes go through `transaction()`; reads are plain methods."""

    __slots__ = ("_db", "identity", "path")

    def __init__(self, path: Path, db: sqlite3.Connection, identity: JobIdentity) -> None:
        self.path = path
        self._db = db
        self.identity = identity

    # -- opening -----------------------------------------------------------------------

    @classmethod
    def create(
        cls, path: Path, identity: JobIdentity, search_ids: Sequence[str], shard_size: int
    ) -> Checkpoint:
        """Create a checkpoint atomically: built under a temporary name, then renamed."""
        tmp = path.with_name(path.name + ".new")
        with output_errors(tmp):
            for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
                leftover.unlink(missing_ok=True)
            db = sqlite3.connect(tmp, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                db.executescript(f"BEGIN;{SCHEMA}")
                meta = {key: getattr(identity, key) for key in META_KEYS}
                meta["fingerprint"] = identity.fingerprint.decode()
                db.executemany(
                    "INSERT INTO meta VALUES (?, ?)", [(k, str(v)) for k, v in meta.items()]
                )
                db.executemany(
                    "INSERT INTO searches (search_id) VALUES (?)", ((s,) for s in search_ids)
                )
                db.executemany(
                    "INSERT INTO shards VALUES (?, ?, 0)",
                    ((i, shard_size) for i in range(identity.shards)),
                )
                db.execute("COMMIT")
            finally:
                db.close()
            os.replace(tmp, path)
            fsync_dir(path.parent)
        return cls.open(path)

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False) -> Checkpoint:
        """Open and check a checkpoint; CheckpointCorrupt if it is not a sound one."""
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint at {path}")
        with output_errors(path):
            if path.stat().st_size == 0:
                raise CheckpointCorrupt(f"checkpoint {path} is empty (0 bytes). {HINT}")
        try:
            db, identity = connect(path, "ro" if readonly else "rw", full=not readonly)
        except OutputError:
            if not readonly:
                raise
            # A WAL file cannot be opened read-only where its -shm cannot be created (a
            # read-only directory); no run can be writing there, so read the file as is.
            db, identity = connect(path, "ro&immutable=1", full=False)
        try:
            if not readonly:
                with output_errors(path):
                    db.execute("PRAGMA journal_mode=WAL")
                    # FULL: a commit survives power loss too, so no paid page is lost
                    db.execute("PRAGMA synchronous=FULL")
            return cls(path, db, identity)
        except BaseException:
            db.close()
            raise

    @property
    def connection(self) -> sqlite3.Connection:
        """The writer's connection, for the image tables (sink/images.py)."""
        return self._db

    def close(self) -> None:
        """Close the connection (a clean close folds the WAL back into the file)."""
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit: BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any exception. An
        SQLite error of any statement inside (a disk that fills mid-way) is mapped like
        one of BEGIN or COMMIT: OutputError or CheckpointCorrupt, never a bare sqlite3 one."""
        with output_errors(self.path):
            self._db.execute("BEGIN IMMEDIATE")
        try:
            with sqlite_errors(self.path):
                yield
            with output_errors(self.path):
                self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                with suppress(sqlite3.Error):  # the original error says more
                    self._db.execute("ROLLBACK")
            raise

    # -- writer steps (inside a transaction) ---------------------------------------------

    def searches_named(self, search_ids: Collection[str]) -> dict[str, tuple[int, str | None]]:
        """search_id -> (sid, status) for those of `search_ids` the job has."""
        found: dict[str, tuple[int, str | None]] = {}
        for chunk in _chunks(list(search_ids)):
            marks = ",".join("?" * len(chunk))
            query = f"SELECT search_id, sid, status FROM searches WHERE search_id IN ({marks})"
            found.update((row[0], (row[1], row[2])) for row in self._db.execute(query, chunk))
        return found

    def recorded_offsets(self, sids: Collection[int]) -> dict[int, set[int]]:
        """sid -> offsets of the pages recorded so far, for the given searches."""
        offsets: dict[int, set[int]] = {}
        for chunk in _chunks(list(sids)):
            marks = ",".join("?" * len(chunk))
            query = f'SELECT sid, "offset" FROM pages WHERE sid IN ({marks})'
            for sid, offset in self._db.execute(query, chunk):
                offsets.setdefault(sid, set()).add(offset)
        return offsets

    def add_pages(self, pages: Sequence[tuple[int, int, int, int, int, str]]) -> None:
        """Record fetched pages new to the checkpoint: (sid, offset, limit, total, hits,
        harvested_at) each. A page recorded twice is an error, never silently ignored."""
        self._db.executemany("INSERT INTO pages VALUES (?, ?, ?, ?, ?, ?)", pages)

    def add_costs(self, costs: Sequence[tuple[int, int, int | None, int]]) -> None:
        """Add (calls, retries) to searches and remember the latest total seen, if any:
        (calls, retries, total or None, sid) each."""
        self._db.executemany(
            "UPDATE searches SET calls = calls + ?, retries = retries + ?,"
            " total = coalesce(?, total) WHERE sid = ?",
            costs,
        )

    def stage(self, pages: Sequence[tuple[int, int, bytes]]) -> None:
        """Keep pages' record lines, (sid, offset, staging blob) each, until their search ends."""
        if pages:
            self._db.executemany("INSERT INTO staged VALUES (?, ?, ?)", pages)

    def staged(self, sid: int) -> list[tuple[int, bytes]]:
        """(offset, staging blob) of a search's staged pages."""
        return self._db.execute(
            'SELECT "offset", data FROM staged WHERE sid = ? ORDER BY "offset"', (sid,)
        ).fetchall()

    def finalize(
        self,
        sid: int,
        status: str,
        total: int | None,
        reachable: int,
        error_code: int | None,
        error_msg: str | None,
        deadline: str,
        records: int,
        duplicates: int,
    ) -> None:
        """Mark a search final with its counters and drop its staged pages."""
        self._db.execute(
            "UPDATE searches SET status = ?, total = coalesce(?, total), reachable = ?,"
            " error_code = ?, error_msg = ?, deadline = ?, records = ?, duplicates = ?"
            " WHERE sid = ?",
            (status, total, reachable, error_code, error_msg, deadline, records, duplicates, sid),
        )
        self._db.execute("DELETE FROM staged WHERE sid = ?", (sid,))

    def claim_keys(self, patent_ids: Sequence[str]) -> set[str]:
        """Job-scope dedupe: take the distinct `patent_ids` new to the job; returns them."""
        taken: set[str] = set()
        for chunk in _chunks(patent_ids):
            marks = ",".join("?" * len(chunk))
            query = f"SELECT patent_id FROM job_keys WHERE patent_id IN ({marks})"
            taken.update(row[0] for row in self._db.execute(query, chunk))
        new = [pid for pid in patent_ids if pid not in taken]
        self._db.executemany("INSERT INTO job_keys VALUES (?)", ((pid,) for pid in new))
        return set(new)

    def set_shards(self, sizes: Mapping[int, int], added: Mapping[int, int]) -> None:
        """Record new committed shard sizes and the records each one gained."""
        self._db.executemany(
            "UPDATE shards SET size = ?, records = records + ? WHERE shard = ?",
            [(size, added.get(shard, 0), shard) for shard, size in sizes.items()],
        )

    # -- reads ---------------------------------------------------------------------------

    def shard_rows(self) -> list[tuple[int, int, int]]:
        """(shard, committed size, records) for every shard."""
        return self._db.execute("SELECT shard, size, records FROM shards ORDER BY shard").fetchall()

    def progress(self) -> dict[str, SearchProgress]:
        """Every search's state, keyed by search id, in job order."""
        offsets: dict[int, set[int]] = {}
        for sid, offset in self._db.execute('SELECT sid, "offset" FROM pages'):
            offsets.setdefault(sid, set()).add(offset)
        result: dict[str, SearchProgress] = {}
        for row in self._db.execute(
            "SELECT sid, search_id, total, status, records, duplicates, calls, retries,"
            " error_code, error_msg, deadline FROM searches ORDER BY sid"
        ):
            sid, search_id, *rest = row
            total, status, records, duplicates, calls, retries, code, msg, deadline = rest
            result[search_id] = SearchProgress(
                search_id,
                total,
                frozenset(offsets.get(sid, ())),
                status,
                records,
                duplicates,
                calls,
                retries,
                code,
                msg,
                deadline,
            )
        return result

    def search_lines(self) -> Iterator[dict[str, Any]]:
        """Each search as its searches.jsonl object, in job order."""
        query = (
            f"SELECT search_id, coalesce(status, '{SearchStatus.PENDING}'), s.total, reachable,"
            " (SELECT count(*) FROM pages p WHERE p.sid = s.sid), records, duplicates,"
            " calls, retries, error_code, error_msg, deadline FROM searches s ORDER BY sid"
        )
        keys = (
            "search_id",
            "status",
            "total",
            "reachable",
            "pages",
            "records",
            "duplicates",
            "calls",
            "retries",
            "error_code",
            "error_msg",
            "deadline",
        )
        for row in self._db.execute(query):
            yield dict(zip(keys, row, strict=True))

    def staged_pages(self) -> int:
        """How many pages wait, staged, for their search to end."""
        return int(self._db.execute("SELECT count(*) FROM staged").fetchone()[0])

    def first_run_start(self) -> str | None:
        """When the first run into this checkpoint started (ISO-8601), if any did."""
        row = self._db.execute("SELECT min(started_at) FROM runs").fetchone()
        return None if row is None else row[0]

    def add_run(self, run_id: str, started_at: str) -> None:
        """Remember that a run started (runs accumulate over resumes)."""
        with output_errors(self.path):
            self._db.execute("INSERT INTO runs VALUES (?, ?, NULL)", (run_id, started_at))

    def end_run(self, run_id: str, ended_at: str) -> list[tuple[str, str, str | None]]:
        """Mark a run ended; returns every run so far (id, start, end)."""
        with output_errors(self.path):
            self._db.execute("UPDATE runs SET ended_at = ? WHERE run_id = ?", (ended_at, run_id))
            return self._db.execute("SELECT * FROM runs ORDER BY started_at").fetchall()


def _chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """`values` in slices small enough for one "IN (...)" query."""
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]
