"""Payloads fetched from a URL or a local path, checked against a SHA-256 while they stream.

The file lands in the build's temporary directory only; a mismatch deletes it and fails before
anything reaches the output directory.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import tarfile
import unicodedata
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
        while chunk := _read(stream, source, target, where):
            digest.update(chunk)
            out.write(chunk)  # a full disk raises OSError: the caller's staging directory reports it
            bar.update(len(chunk))
    actual = digest.hexdigest()
    if actual != sha256.lower():
        target.unlink(missing_ok=True)
        raise InputError(
            f"{where}: {target.name}: SHA-256 mismatch: the recipe says {sha256}, the file is {actual} (from {source})",
            hint="the source changed or the download was tampered with; check it and update sha256 in the recipe",
        )
    return target


def _read(stream: BinaryIO, source: str, target: Path, where: str) -> bytes:
    try:
        return stream.read(CHUNK)
    except (OSError, urllib.error.URLError) as exc:
        target.unlink(missing_ok=True)
        raise BuildError(f"{where}: reading {source} failed: {exc}") from exc


@contextmanager
def _open_source(source: str, where: str) -> Iterator[tuple[BinaryIO, int]]:
    if not is_url(source):
        path = Path(source)
        if path.exists() and not path.is_file():  # a FIFO blocks, /dev/zero never ends
            raise InputError(f"{where}: {path} is not a regular file", hint="point the source at the file itself")
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


def check_tarball_members(path: Path, where: str) -> None:
    """Refuse a tarball payload whose members would land outside its directory on the VM.

    Install extracts it as root and remove deletes the members `tar -t` listed, line by line, so
    every member must stay under the directory: no absolute or `..` name, no link pointing out of it
    (a later member could be written through it), no device or FIFO, and no control character in a
    name (install records `tar -t --quoting-style=literal`, one name a line; non-ASCII and backslashes
    are fine).
    """
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if problem := _member_problem(member):
                    raise InputError(
                        f"{where}: {path.name}: member {member.name!r} {problem}",
                        hint="the VM would refuse it or spread it outside the directory; repack the tarball "
                        "with relative names and links that stay inside it",
                    )
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InputError(f"{where}: {path.name} is not a readable tarball: {exc}") from exc


def _member_problem(member: tarfile.TarInfo) -> str | None:
    name = member.name
    if not name or any(unicodedata.category(c) in ("Cc", "Cs") for c in name):
        return "has a name with a control character (a line break, a tab, ...) or bytes that are not UTF-8"
    if name.startswith("/"):
        return "has an absolute name"
    if ".." in name.split("/"):
        return "has a '..' component: it would land outside the directory"
    if member.ischr() or member.isblk() or member.isfifo():
        return "is a device file or a FIFO"
    if member.issym() or member.islnk():
        target = member.linkname
        base = posixpath.dirname(name) if member.issym() else ""  # a hard link names a member
        resolved = posixpath.normpath(posixpath.join(base, target))
        if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
            return f"is a link to {target!r}, outside the directory"
    return None
