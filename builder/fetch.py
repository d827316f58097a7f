"""Payloads fetched from a URL or a local path, checked against a SHA-256 while they stream.

The file lands in the build's temporary directory only; a mismatch deletes it and fails before
anything reaches the output directory.
"""

from __future__ import annotations

import hashlib
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from builder.errors import BuildError, InputError
from builder.progress import byte_bar

CHUNK = 1024 * 1024
TIMEOUT = 60  # seconds without data before a download is given up


def is_url(source: str) -> bool:
    return re.match(r"^https?://", source) is not None


def fetch(source: str, sha256: str, target: Path, where: str) -> Path:
    """Copy or download `source` to `target`, checking its SHA-256; `where` names it in errors."""
    digest = hashlib.sha256()
    with _open_source(source, where) as (stream, total), open(target, "wb") as out, byte_bar(total, target.name) as bar:
        try:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                bar.update(len(chunk))
        except (OSError, urllib.error.URLError) as exc:
            target.unlink(missing_ok=True)
            raise BuildError(f"{where}: reading {source} failed: {exc}") from exc
    actual = digest.hexdigest()
    if actual != sha256.lower():
        target.unlink(missing_ok=True)
        raise InputError(
            f"{where}: {target.name}: SHA-256 mismatch: the recipe says {sha256}, the file is {actual} (from {source})",
            hint="the source changed or the download was tampered with; check it and update sha256 in the recipe",
        )
    return target


@contextmanager
def _open_source(source: str, where: str) -> Iterator[tuple[BinaryIO, int]]:
    if not is_url(source):
        path = Path(source)
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed below, after the caller's loop
        except OSError as exc:
            raise InputError(
                f"{where}: cannot read {path}: {exc.strerror}", hint="paths are relative to the recipe"
            ) from exc
        with f:
            yield f, path.stat().st_size
        return
    request = urllib.request.Request(source, headers={"User-Agent": "vmapp-build"})
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:
        raise BuildError(f"{where}: downloading {source} failed: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise BuildError(f"{where}: downloading {source} failed: {exc}") from exc
    with response:
        yield response, int(response.headers.get("Content-Length") or 0)
