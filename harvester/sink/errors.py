"""The sink's errors, named for what the caller can do about them::

    SinkError                 base
    ├── OutputLocked          another run holds the output directory (exit 4)
    ├── OutputError           the disk said no (full, read-only, permission, I/O); resumable
    ├── CheckpointCorrupt     the checkpoint cannot be trusted; never silently recreated
    ├── CheckpointMismatch    the job changed since the checkpoint was made (use --fresh)
    └── UnknownSearch         the engine sent a search the job does not have (a bug)

OS and SQLite exceptions are mapped here, at one boundary (`output_errors`).
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "CheckpointCorrupt",
    "CheckpointMismatch",
    "OutputError",
    "OutputLocked",
    "SinkError",
    "UnknownSearch",
    "output_errors",
    "sqlite_errors",
]


class SinkError(Exception):
    """Base of every error the sink raises."""


class OutputLocked(SinkError):
    """Another run holds the output directory's lock."""

    def __init__(self, out_dir: Path, pid: int | None) -> None:
        self.pid = pid
        holder = f"pid {pid}" if pid is not None else "an unknown process"
        super().__init__(
            f"output directory {out_dir} is in use by another run ({holder}); "
            "wait for it to finish or choose another --out"
        )


class OutputError(SinkError):
    """Writing the output failed (disk full, read-only, permission, I/O); the checkpoint
    keeps the last commit, so running again resumes from there."""


class CheckpointCorrupt(SinkError):
    """The checkpoint is not one, is truncated, or fails SQLite's integrity check."""


class CheckpointMismatch(SinkError):
    """The job differs from the one the checkpoint was made for; `changes` says how."""

    def __init__(self, out_dir: Path, changes: Sequence[str]) -> None:
        self.changes = list(changes)
        listed = "; ".join(self.changes[:10])
        more = f" (and {len(self.changes) - 10} more)" if len(self.changes) > 10 else ""
        super().__init__(
            f"{out_dir} holds a run of a different job: {listed}{more}. "
            "HINT: run the old job to finish it, choose another --out, or pass --fresh "
            "to delete that run's files and start over"
        )


class UnknownSearch(SinkError):
    """The engine sent pages or an end for search ids the job's fingerprint lacks."""

    def __init__(self, search_ids: Sequence[str]) -> None:
        self.search_ids = list(dict.fromkeys(search_ids))
        super().__init__(f"not searches of this job: {', '.join(self.search_ids[:5])}")


_ADVICE = {
    errno.ENOSPC: "no space left on the device: free space, then run again to resume",
    errno.EDQUOT: "disk quota exceeded: free space, then run again to resume",
    # A resume lives in this directory: another --out would start over and pay again.
    errno.EROFS: "read-only file system: make the output directory writable again, then run "
    "the same command to resume",
    errno.EACCES: "permission denied: make the output directory writable again, then run the "
    "same command to resume",
    errno.EPERM: "operation not permitted: fix the output directory's permissions, then run "
    "the same command to resume",
    errno.EIO: "I/O error from the device: check the disk, then run again to resume",
}

_SQLITE_ADVICE = {
    "SQLITE_FULL": _ADVICE[errno.ENOSPC],
    "SQLITE_READONLY": "checkpoint cannot be written (read-only): make the output directory "
    "writable again, then run the same command to resume",
    "SQLITE_CANTOPEN": "checkpoint cannot be opened: check the directory and permissions",
    "SQLITE_PERM": _ADVICE[errno.EPERM],
}


def _sqlite_code(exc: sqlite3.Error) -> str:
    name = getattr(exc, "sqlite_errorname", "") or ""
    # extended names such as SQLITE_IOERR_WRITE map to their primary code
    for primary in ("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM"):
        if name.startswith(primary):
            return primary
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return "CORRUPT"
    return name


@contextmanager
def output_errors(path: Path) -> Iterator[None]:
    """Map OSError and sqlite3 errors inside to OutputError or CheckpointCorrupt naming `path`."""
    try:
        with sqlite_errors(path):
            yield
    except OSError as exc:
        advice = _ADVICE.get(exc.errno or 0, exc.strerror or "operating system error")
        raise OutputError(f"cannot write {exc.filename or path}: {advice}") from exc


@contextmanager
def sqlite_errors(path: Path) -> Iterator[None]:
    """Map sqlite3 errors inside (of the checkpoint at `path`) to OutputError or
    CheckpointCorrupt; others pass. For a transaction's statements, whose code around
    them maps its own OS errors (the shard files) with their own paths."""
    try:
        yield
    except sqlite3.Error as exc:
        code = _sqlite_code(exc)
        if code == "CORRUPT":
            raise CheckpointCorrupt(
                f"checkpoint {path} is damaged ({exc}); it cannot be trusted. HINT: move it "
                "aside and run with --fresh, or restore it from a backup"
            ) from exc
        if code.startswith("SQLITE_IOERR"):
            raise OutputError(f"cannot write {path}: {_ADVICE[errno.EIO]}") from exc
        if code in _SQLITE_ADVICE:
            raise OutputError(f"cannot write {path}: {_SQLITE_ADVICE[code]}") from exc
        raise
