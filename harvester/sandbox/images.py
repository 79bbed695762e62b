"""The sandbox's image calls: uploads it keeps and serves, and searches made from image URLs.

A search made from an image ranks the same patents every time it is made from the same
image (PatSnap ranks by the picture): the ranking is keyed by the image, and each creation
gets a new search_id of the form `<ranking key>~<n>` with its own window. An uploaded
image is named by its content, so uploading the same bytes again gives the same URL.

An image URL whose file name holds `SBX-<total>-` (e.g. `.../SBX-3000-chair.png`) makes
a search with that many hits, as `SBX-<total>-...` search ids do; so does an uploaded
file with such a name.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from harvester.sandbox.lru import BoundedLRU

__all__ = [
    "IMAGE_MAX_BYTES",
    "ImageStore",
    "StoredImage",
    "is_image",
    "ranking_key",
    "ranking_of",
]

IMAGE_MAX_BYTES = 4096 * 1024  #: the upload call's limit: 4096 KB
URL_MAX = 1000  #: longest image URL the sandbox accepts
CREATED_MARK = "~"  #: separates the ranking key from the creation number in a search_id
_SBX = re.compile(r"SBX-(\d{1,9})-")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
UPLOAD_PREFIX = "/_sandbox/images/"


def is_image(data: bytes) -> bool:
    """Whether `data` is a JPG or PNG by its first bytes."""
    return data.startswith(b"\xff\xd8\xff") or data.startswith(b"\x89PNG\r\n\x1a\n")


def ranking_key(url: str) -> str:
    """The key of an image's ranking: the same for every search made from `url`."""
    name = url.split("?", 1)[0].rsplit("/", 1)[-1]
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    sbx = _SBX.search(name)
    return f"SBX-{sbx.group(1)}-I{digest}" if sbx else f"I{digest}"


def ranking_of(search_id: str) -> str:
    """The ranking a search_id reads: its ranking key if the sandbox created it, else itself."""
    key, mark, number = search_id.rpartition(CREATED_MARK)
    created = mark and number.isdigit() and (key.startswith("I") or "-I" in key)
    return key if created else search_id


@dataclass(slots=True, frozen=True)
class StoredImage:
    """An uploaded image: its bytes, served name, and when it was (last) uploaded."""

    data: bytes
    name: str
    uploaded_at: float


class ImageStore:
    """Uploaded images by content name, and the count of searches created so far."""

    __slots__ = ("_images", "created")

    def __init__(self, capacity: int = 1024) -> None:
        self._images: BoundedLRU[str, StoredImage] = BoundedLRU(capacity)
        self.created = 0

    def put(self, data: bytes, filename: str, now: float) -> str:
        """Keep an upload; returns its path under UPLOAD_PREFIX (same bytes, same path)."""
        token = hashlib.sha256(data).hexdigest()[:20]
        name = _SAFE_NAME.sub("_", filename.rsplit("/", 1)[-1]).strip("._") or "image"
        self._images.put(token, StoredImage(data, name, now))
        return f"{UPLOAD_PREFIX}{token}/{name}"

    def get(self, path: str) -> StoredImage | None:
        """The upload at `path` (UPLOAD_PREFIX + token + "/" + name), if kept."""
        if not path.startswith(UPLOAD_PREFIX):
            return None
        token, _, name = path[len(UPLOAD_PREFIX) :].partition("/")
        image = self._images.get(token)
        return image if image is not None and image.name == name else None

    def new_search_id(self, url: str) -> str:
        """A search_id for a new search made from `url`."""
        self.created += 1
        return f"{ranking_key(url)}{CREATED_MARK}{self.created}"

    def clear(self) -> None:
        """Forget uploads (the creation count goes on: ids stay unique)."""
        self._images.clear()
