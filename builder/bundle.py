"""The package file: a deterministic tar.gz streamed from disk.

Same inputs, same bytes: members sorted by name, fixed mtime, owner 0, gzip header without a name
or timestamp. Memory stays flat whatever the size: files are copied in chunks.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path

CHUNK = 1024 * 1024
FIXED_MTIME = 0
GZIP_LEVEL = 6  # what `gzip`/`tar czf` use: the members are compressed .debs already


def write_tar_gz(
    target: Path,
    files: list[Path],
    extra: Mapping[str, bytes] | None = None,
    progress: Callable[[int], object] | None = None,
) -> None:
    """Write `files` (by base name) and `extra` (name -> content) into a gzip tarball at `target`."""
    members: dict[str, Path | bytes] = {f.name: f for f in files}
    for name, content in (extra or {}).items():
        if name in members:
            raise ValueError(f"bundle member {name!r} given twice")
        members[name] = content
    with (
        open(target, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=FIXED_MTIME, compresslevel=GZIP_LEVEL) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        for name in sorted(members):
            source = members[name]
            info = tarfile.TarInfo(name)
            info.mtime, info.mode = FIXED_MTIME, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if isinstance(source, bytes):
                info.size = len(source)
                tar.addfile(info, io.BytesIO(source))
            else:
                info.size = source.stat().st_size
                with open(source, "rb") as f:
                    tar.addfile(info, _Counting(f, progress) if progress else f)


class _Counting(io.RawIOBase):
    """Reports bytes read to a progress callback."""

    def __init__(self, f: io.BufferedReader, progress: Callable[[int], object]) -> None:
        self._f, self._progress = f, progress

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._f.read(size)
        self._progress(len(data))
        return data
