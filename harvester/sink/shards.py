"""The shard files: append a gzip member per commit, fsync, cut back to the last commit.

Byte offsets are the whole protocol: the checkpoint records each shard's committed size
in the same transaction that marks its records written, so anything past that size is a
tail of an uncommitted batch and recovery truncates it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from harvester.sink.errors import CheckpointCorrupt, output_errors
from harvester.sink.records import gzip_member

__all__ = ["EMPTY_MEMBER", "ShardSet", "shard_name"]

#: A gzip member of no data: a new shard starts with it, so it is a valid gzip file at once.
EMPTY_MEMBER = gzip_member(b"")


def shard_name(shard: int) -> str:
    """File name of a shard, e.g. part-00003.jsonl.gz."""
    return f"part-{shard:05d}.jsonl.gz"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_dir(path: Path) -> None:
    """Make a file's creation or rename in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ShardSet:
    """The open shard files of one output directory; only the writer touches them."""

    __slots__ = ("_committed", "_fds", "_paths", "_size")

    def __init__(self, out_dir: Path, committed: Sequence[int]) -> None:
        """Open every shard and cut it back to its committed size (recovery)."""
        self._paths = [out_dir / shard_name(i) for i in range(len(committed))]
        self._committed = list(committed)  #: sizes the checkpoint vouches for
        self._size = list(committed)  #: sizes after appends not yet committed
        self._fds: list[int] = []
        created = False
        try:
            for path, size in zip(self._paths, self._committed, strict=True):
                created |= self._open_one(path, size)
            if created:
                with output_errors(out_dir):
                    fsync_dir(out_dir)
        except BaseException:
            self.close()
            raise

    def _open_one(self, path: Path, size: int) -> bool:
        with output_errors(path):
            exists = path.exists()
            if not exists and size != len(EMPTY_MEMBER):
                raise CheckpointCorrupt(
                    f"{path} is missing but the checkpoint says it holds {size} committed "
                    "bytes: the output was moved or deleted. HINT: restore it, or start "
                    "over with --fresh"
                )
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            self._fds.append(fd)
            actual = os.fstat(fd).st_size if exists else size
            if actual < size:
                raise CheckpointCorrupt(
                    f"{path} has {actual} bytes, fewer than the {size} the checkpoint "
                    "committed: the file was cut or replaced. HINT: restore it, or start "
                    "over with --fresh"
                )
            if not exists:
                _write_all(fd, EMPTY_MEMBER)
                os.fsync(fd)
            elif actual > size:  # the tail of a batch that never committed
                os.ftruncate(fd, size)
                os.fsync(fd)
            os.lseek(fd, size, os.SEEK_SET)
        return not exists

    @property
    def paths(self) -> list[Path]:
        """Shard paths, by shard number."""
        return list(self._paths)

    def append(self, members: Mapping[int, bytes]) -> dict[int, int]:
        """Append one gzip member to each given shard and fsync; returns the new sizes."""
        for shard, member in members.items():
            with output_errors(self._paths[shard]):
                _write_all(self._fds[shard], member)
            self._size[shard] += len(member)
        for shard in members:
            with output_errors(self._paths[shard]):
                os.fsync(self._fds[shard])
        return {shard: self._size[shard] for shard in members}

    def committed(self, sizes: Mapping[int, int]) -> None:
        """The checkpoint now vouches for these sizes."""
        for shard, size in sizes.items():
            self._committed[shard] = size

    def rollback(self) -> None:
        """Cut every shard back to its committed size after a failed commit."""
        # every shard, not just the grown ones: a write may have failed half-way
        for shard, fd in enumerate(self._fds):
            with output_errors(self._paths[shard]):
                os.ftruncate(fd, self._committed[shard])
                os.lseek(fd, self._committed[shard], os.SEEK_SET)
            self._size[shard] = self._committed[shard]

    def close(self) -> None:
        """Close the files (idempotent)."""
        fds, self._fds = self._fds, []
        for fd in fds:
            os.close(fd)
