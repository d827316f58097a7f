"""Installers fetched from a URL or a local path, checked against the recipe's SHA-256 as they stream.

A file lands in the build's temporary directory only; a mismatch removes it and fails before
anything reaches the output directory.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from builder.errors import BuildError, InputError
from builder.progress import byte_bar
from builder.windows.recipe import WindowsInstaller

CHUNK = 1024 * 1024
TIMEOUT = 60  # seconds without data before a download is given up


def fetch_installer(inst: WindowsInstaller, where: str, directory: Path) -> Path:
    """Copy or download `inst` into `directory` under its file name; `where` names it for errors."""
    target = directory / inst.file_name
    digest = hashlib.sha256()
    with (
        _open_source(inst, where) as (stream, total),
        open(target, "wb") as out,
        byte_bar(total, inst.file_name) as bar,
    ):
        try:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                bar.update(len(chunk))
        except (OSError, urllib.error.URLError) as exc:
            target.unlink(missing_ok=True)
            raise BuildError(f"{where}: reading {inst.source} failed: {exc}") from exc
    actual = digest.hexdigest()
    if actual != inst.sha256:
        target.unlink(missing_ok=True)
        raise InputError(
            f"{where}: {inst.file_name}: SHA-256 mismatch: the recipe says {inst.sha256}, the file is {actual}",
            hint="the source changed or the download was tampered with; check it and update sha256 in the recipe",
        )
    return target


@contextmanager
def _open_source(inst: WindowsInstaller, where: str) -> Iterator[tuple[BinaryIO, int]]:
    if not inst.is_url:
        path = Path(inst.source)
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed below, after the caller's loop
        except OSError as exc:
            raise InputError(
                f"{where}: cannot read {path}: {exc.strerror}", hint="paths are relative to the recipe"
            ) from exc
        with f:
            yield f, path.stat().st_size
        return
    request = urllib.request.Request(inst.source, headers={"User-Agent": "vmapp-build"})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:
        raise BuildError(f"{where}: downloading {inst.source} failed: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise BuildError(f"{where}: downloading {inst.source} failed: {exc}") from exc
    with response:
        yield response, int(response.headers.get("Content-Length") or 0)
