"""The image part of `make demo`: a small PNG the demo draws, and a job that harvests it
and an image URL (the harvester uploads the PNG, then creates each search just in time)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

__all__ = ["write_image_job"]


def _png(path: Path, width: int = 16, height: int = 16) -> None:
    """A tiny RGB gradient, written as a valid PNG without any imaging library."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 16, y * 16, 128)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
    path.write_bytes(png + chunk(b"IEND", b""))


def write_image_job(folder: Path) -> Path:
    """`folder/images.toml` with an image URL and `folder/SBX-1250-lamp.png` (1,250 hits in
    the sandbox, so its harvest stops at the API's 1,100)."""
    folder.mkdir(parents=True, exist_ok=True)
    _png(folder / "SBX-1250-lamp.png")
    job = folder / "images.toml"
    job.write_text(
        '[job]\nname = "demo-images"\nrate = 20\nvalidity_minutes = 20\n\n'
        "[defaults]\nlimit = 100\n\n"
        '[[search]]\nimage_url = "https://img.example.com/designs/SBX-640-chair.jpg"\n\n'
        '[[search]]\nimage = "SBX-1250-lamp.png"   # uploaded once, then searched\n'
    )
    return job
