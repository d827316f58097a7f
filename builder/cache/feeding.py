"""A build container fed from the package cache before its download, and the cache fed from the build
after it.

The package manager names the files its download needs with their size and SHA-256 from the signed
indexes (apt: `apt-get --print-uris`). Cached blobs with those hashes go into its download directory
under those names; it then downloads only the rest. apt checks only the size of a file already there
(seen on apt 2.6: a tampered file of the right size is kept), so every blob is hashed here as it is
streamed in, and one that does not match is removed from the container and the cache before the
download, which then fetches it again: what the build uses always matches the signed index.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from docker.errors import DockerException

from builder.cache.store import PackageCache
from builder.container import Container
from builder.errors import BuildError
from builder.tarstream import CHUNK


@dataclass(frozen=True)
class Wanted:
    """One file the download needs: where the package manager looks for it, its size and index hash."""

    path: str  # absolute, in the container
    size: int
    sha256: str


@dataclass
class Feeding:
    """What went into the container: the blobs served, and the bad ones (dropped, to be fetched again)."""

    wanted: list[Wanted] = field(default_factory=list)
    served: list[Wanted] = field(default_factory=list)
    bad: list[Wanted] = field(default_factory=list)


@dataclass(frozen=True)
class Summary:
    """One build's use of the cache, for stderr and the cache's statistics."""

    files: int
    hits: int
    bytes_hit: int
    bytes_fetched: int
    bad: int

    def line(self) -> str:
        text = (
            f"package cache: {self.hits} of {self.files} files from the cache ({human(self.bytes_hit)}), "
            f"{self.files - self.hits} downloaded ({human(self.bytes_fetched)})"
        )
        bad = f"; {self.bad} cached {'file' if self.bad == 1 else 'files'} did not match the index hash: dropped"
        return text + (bad if self.bad else "")


def feed(container: Container, cache: PackageCache, wanted: list[Wanted]) -> Feeding:
    """Put the cached blobs of the wanted files into the container, each checked against its hash."""
    stream = _BlobStream(cache, wanted)
    try:
        ok = container.handle.put_archive("/", stream.chunks())
    except (DockerException, OSError) as exc:
        raise BuildError(f"copying cached packages into {container.name} failed: {exc}") from exc
    if not ok:
        raise BuildError(f"copying cached packages into {container.name} failed: the engine refused the archive")
    if stream.bad:
        paths = [w.path for w in stream.bad]
        container.run(["rm", "-f", "--", *paths], "remove cached packages that do not match their hash")
        cache.drop(w.sha256 for w in stream.bad)
    return Feeding(wanted, stream.served, stream.bad)


def keep(cache: PackageCache, feeding: Feeding, packages: list[tuple[Path, str]]) -> Summary:
    """Store what the build downloaded (each bundled file by the sha256 the bundle computed), record the
    build's hits and misses, and evict down to the cache's limit."""
    served = {w.sha256 for w in feeding.served}
    hits = [(path, sha256) for path, sha256 in packages if sha256 in served]
    new = [(path, sha256) for path, sha256 in packages if sha256 not in served]
    cache.put(new)
    summary = Summary(
        files=len(packages),
        hits=len(hits),
        bytes_hit=sum(p.stat().st_size for p, _ in hits),
        bytes_fetched=sum(p.stat().st_size for p, _ in new),
        bad=len(feeding.bad),
    )
    cache.record(
        (sha256 for _, sha256 in hits),
        builds=1,
        hits=summary.hits,
        misses=len(new),
        bytes_hit=summary.bytes_hit,
        bytes_fetched=summary.bytes_fetched,
        bad=summary.bad,
    )
    cache.evict()
    return summary


class _BlobStream:
    """A tar stream of the cached blobs of the wanted files, hashed as they are read (docker-py streams a
    generator): each file is read once, and what was sent is exactly what was checked."""

    def __init__(self, cache: PackageCache, wanted: list[Wanted]) -> None:
        self.cache = cache
        self.wanted = wanted
        self.served: list[Wanted] = []
        self.bad: list[Wanted] = []

    def chunks(self) -> Iterator[bytes]:
        now = int(time.time())
        for w in self.wanted:
            blob = self.cache.open_blob(w.sha256)
            if blob is None:
                continue  # not cached, or evicted meanwhile: downloaded
            with blob:
                size = os.fstat(blob.fileno()).st_size
                if size != w.size:
                    self.bad.append(w)  # a blob is named by its content: a wrong size is damage
                    continue
                info = tarfile.TarInfo(w.path.lstrip("/"))
                info.size, info.mode, info.mtime = size, 0o644, now
                yield info.tobuf(format=tarfile.PAX_FORMAT)
                digest = hashlib.sha256()
                while chunk := blob.read(CHUNK):
                    digest.update(chunk)
                    yield chunk
            yield b"\0" * ((512 - size % 512) % 512)
            (self.served if digest.hexdigest() == w.sha256 else self.bad).append(w)
        yield b"\0" * 1024


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
