"""Several installers as one deterministic zip: sorted members, fixed timestamps, stored as is.

Installers are compressed already; storing them keeps the bytes independent of zlib's version and
lets Windows' tar.exe (bsdtar), or PowerShell 5.1's Expand-Archive where there is none (Server 2016),
extract them on the VM.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

CHUNK = 1024 * 1024
FIXED_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say
ZIP64_FROM = 0x7FFF_FFFF


def write_zip(target: Path, files: list[Path], progress: Callable[[int], object] | None = None) -> None:
    """Write `files` (by base name) into a zip at `target`; same files, same bytes."""
    names = [f.name for f in files]
    if len({n.lower() for n in names}) != len(names):
        raise ValueError(f"zip members would collide on Windows: {names}")
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as zf:
        for source in sorted(files, key=lambda f: f.name):
            info = zipfile.ZipInfo(source.name, date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 0  # MS-DOS: no Unix mode bits
            info.external_attr = 0x20  # FILE_ATTRIBUTE_ARCHIVE
            size = source.stat().st_size
            with open(source, "rb") as f, zf.open(info, "w", force_zip64=size >= ZIP64_FROM) as out:
                while chunk := f.read(CHUNK):
                    out.write(chunk)
                    if progress:
                        progress(len(chunk))
