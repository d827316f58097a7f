"""Tar streams to and from the engine, chunk by chunk: a file never has to fit in memory."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHUNK = 1024 * 1024


def tar_one_file(source: Path, name: str) -> Iterator[bytes]:
    """A tar stream of one file, generated chunk by chunk (docker-py streams generators)."""
    size = source.stat().st_size
    info = tarfile.TarInfo(name)
    info.size, info.mode = size, 0o644
    yield info.tobuf(format=tarfile.PAX_FORMAT)
    with open(source, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk
    yield b"\0" * ((512 - size % 512) % 512) + b"\0" * 1024


class IterReader(io.RawIOBase):
    """A read-only file object over an iterator of byte chunks (docker-py's archive stream)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._view = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._view:
            try:
                self._view = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        n = min(len(b), len(self._view))
        b[:n] = self._view[:n]
        self._view = self._view[n:]  # a view: no copy of the rest of the chunk
        return n
