"""One run per output directory: an flock on a lock file inside it.

flock belongs to the open file, so the kernel drops it when the holder dies, even by
SIGKILL: a stale lock file never blocks the next run. The holder's pid is written into
the file only to name it in the error.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from harvester.sink.errors import OutputLocked, output_errors

__all__ = ["LOCK_NAME", "DirLock", "probe"]

LOCK_NAME = "_harvester.lock"


class DirLock:
    """An exclusive lock on an output directory, held until `release()`."""

    __slots__ = ("_fd", "path")

    def __init__(self, out_dir: Path) -> None:
        """Take the lock or raise OutputLocked naming the holder's pid."""
        self.path = out_dir / LOCK_NAME
        with output_errors(self.path):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise OutputLocked(out_dir, pid) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd: int | None = fd
        with output_errors(self.path):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        """Release the lock (idempotent). The file stays: unlinking it would race."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the last descriptor drops the flock


def probe(out_dir: Path) -> tuple[bool, int | None]:
    """(held, pid): whether a run holds `out_dir` now, and its pid if it wrote one."""
    try:
        fd = os.open(out_dir / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return False, None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True, _read_pid(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False, None
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None
