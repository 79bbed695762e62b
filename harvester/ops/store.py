"""Where runs are published: a local directory or any fsspec URL (s3://, gs://, ...).

    store = open_store("s3://lake/patents")      # fsspec and s3fs imported only here
    store.put_file(Path("part-00000.jsonl.gz"), store.join("job=x", "part-00000.jsonl.gz"))

Foreign exceptions (OSError, botocore's) become DestinationError at this one boundary.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from harvester.ops.errors import DestinationError, MissingExtra, OpsError
from harvester.ops.verify import RunFile

__all__ = ["FsspecStore", "LocalStore", "Store", "is_url", "mapped_errors", "open_store"]

S3_HINT = "pip install '.[s3]' in the harvester's clone (it is on no package index)"


class Store(Protocol):
    """The few operations publish and merge need; paths are strings in the store's terms."""

    def join(self, *parts: str) -> str:
        """A path under the store's root."""

    def read(self, path: str) -> bytes | None:
        """The object's bytes, or None if there is none."""

    def matches(self, path: str, file: RunFile) -> bool:
        """True only if the object surely holds `file`'s bytes (when unsure: False)."""

    def size(self, path: str) -> int | None:
        """The object's size, or None if there is none."""

    def put_file(self, local: Path, path: str) -> None:
        """Upload a local file so that it appears whole or not at all."""

    def put_bytes(self, data: bytes, path: str) -> None:
        """Write `data` so that it appears whole or not at all."""

    def delete(self, path: str) -> None:
        """Remove the object if it is there."""

    def names(self, path: str) -> list[str]:
        """Names of the files directly under `path` ([] if none)."""

    def url(self, path: str) -> str:
        """The path as the user would write it, for messages."""


def is_url(dest: str) -> bool:
    """True for `scheme://...` destinations other than file://."""
    return "://" in dest and not dest.startswith("file://")


def open_store(dest: str, storage_options: Mapping[str, Any] | None = None) -> Store:
    """A local store for a path or file:// URL, else an fsspec store (needs the s3 extra)."""
    if not is_url(dest):
        return LocalStore(Path(dest.removeprefix("file://")))
    return FsspecStore(dest, storage_options or {})


_AGAIN = "Nothing half-written is visible; publish again once the destination works (it resumes)."


@contextlib.contextmanager
def mapped_errors(what: str, where: str, advice: str = _AGAIN) -> Iterator[None]:
    """Turn any failure of the destination into a DestinationError naming what and where."""
    try:
        yield
    except OpsError:
        raise
    except Exception as exc:  # s3fs/botocore raise more than OSError (e.g. NoCredentialsError)
        raise DestinationError(
            f"{what} {where} failed: {type(exc).__name__}: {exc}. {advice}"
        ) from exc


class LocalStore:
    """A directory on this machine; writes go through a hidden temporary file and a rename."""

    __slots__ = ("root",)

    def __init__(self, root: Path) -> None:
        self.root = root

    def join(self, *parts: str) -> str:
        return str(self.root.joinpath(*parts))

    def read(self, path: str) -> bytes | None:
        with mapped_errors("reading", path):
            try:
                return Path(path).read_bytes()
            except FileNotFoundError:
                return None

    def matches(self, path: str, file: RunFile) -> bool:
        target = Path(path)
        with mapped_errors("reading", path):
            if not target.is_file() or target.stat().st_size != file.size:
                return False
            digest = hashlib.sha256()
            with open(target, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
            return digest.hexdigest() == file.sha256

    def size(self, path: str) -> int | None:
        with mapped_errors("reading", path):
            target = Path(path)
            return target.stat().st_size if target.is_file() else None

    def put_file(self, local: Path, path: str) -> None:
        with mapped_errors("writing", path), self._replacing(Path(path)) as tmp:
            shutil.copyfile(local, tmp)

    def put_bytes(self, data: bytes, path: str) -> None:
        with mapped_errors("writing", path), self._replacing(Path(path)) as tmp:
            tmp.write_bytes(data)

    def delete(self, path: str) -> None:
        with mapped_errors("deleting", path):
            Path(path).unlink(missing_ok=True)

    def names(self, path: str) -> list[str]:
        with mapped_errors("listing", path):
            folder = Path(path)
            if not folder.is_dir():
                return []
            return sorted(p.name for p in folder.iterdir() if p.is_file())

    def url(self, path: str) -> str:
        return path

    @staticmethod
    @contextlib.contextmanager
    def _replacing(target: Path) -> Iterator[Path]:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        try:
            yield tmp
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class FsspecStore:
    """Any fsspec filesystem; an object store's PUT is atomic, so no temporary names."""

    __slots__ = ("_fs", "_protocol", "root")

    def __init__(self, url: str, storage_options: Mapping[str, Any]) -> None:
        try:
            import fsspec  # type: ignore[import-untyped]  # optional extra: URLs only
        except ImportError:
            raise MissingExtra(f"publishing to {url} needs fsspec and s3fs: {S3_HINT}") from None
        try:
            fs, root = fsspec.core.url_to_fs(url, **storage_options)
        except ImportError as exc:
            raise MissingExtra(f"publishing to {url} needs a driver ({exc}): {S3_HINT}") from None
        except ValueError as exc:
            raise DestinationError(f"{url} is not a destination fsspec knows: {exc}") from None
        fs.invalidate_cache()  # fsspec reuses instances; another process may have written since
        self._fs: Any = fs
        self._protocol = url.split("://", 1)[0]
        self.root = str(root).rstrip("/")

    def join(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def read(self, path: str) -> bytes | None:
        with mapped_errors("reading", self.url(path)):
            try:
                data: bytes = self._fs.cat_file(path)
            except FileNotFoundError:
                return None
            return data

    def matches(self, path: str, file: RunFile) -> bool:
        info = self._info(path)
        if info is None or info.get("size") != file.size:
            return False
        # A single-part upload's ETag is the MD5 of its bytes; a multipart one ("...-N") is
        # not, and then only an upload makes sure.
        etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
        return etag == file.md5

    def size(self, path: str) -> int | None:
        info = self._info(path)
        return None if info is None else int(info.get("size") or 0)

    def put_file(self, local: Path, path: str) -> None:
        with mapped_errors("uploading to", self.url(path)):
            self._fs.put_file(str(local), path)

    def put_bytes(self, data: bytes, path: str) -> None:
        with mapped_errors("uploading to", self.url(path)):
            self._fs.pipe_file(path, data)

    def delete(self, path: str) -> None:
        with mapped_errors("deleting", self.url(path)), contextlib.suppress(FileNotFoundError):
            self._fs.rm_file(path)

    def names(self, path: str) -> list[str]:
        with mapped_errors("listing", self.url(path)):
            self._fs.invalidate_cache(path)
            try:
                entries = self._fs.ls(path, detail=True)
            except FileNotFoundError:
                return []
        return sorted(str(e["name"]).rsplit("/", 1)[-1] for e in entries if e["type"] == "file")

    def url(self, path: str) -> str:
        return f"{self._protocol}://{path}"

    def _info(self, path: str) -> dict[str, Any] | None:
        with mapped_errors("reading", self.url(path)):
            self._fs.invalidate_cache(path)
            try:
                info: dict[str, Any] = self._fs.info(path)
            except FileNotFoundError:
                return None
        return info if info.get("type", "file") == "file" else None
