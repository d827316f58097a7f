"""The package cache on the host: package files stored by their SHA-256, shared by every build.

Layout: `DIR/sha256/<first two hex digits>/<hash>` holds the blobs; `DIR/index.json` records each blob's
file name, size and last use (for LRU eviction) and the hit/miss statistics; `DIR/index.lock` is the
flock every index change holds, so concurrent builds (processes, or threads of one) are safe. A blob is
written to `DIR/tmp/` and renamed into place: a partial write never enters, and a blob only ever moves
inside the cache directory, so the cache may sit on another filesystem than the builds' output.

A blob's name is its content's hash, and every reader checks that again before use (builder.cache.feeding):
a damaged or tampered blob is dropped, never served. That check is also why a write needs no fsync.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from builder.errors import EnvironmentProblem, InputError

DEFAULT_MAX_SIZE = 10 * 1024**3
INDEX = "index.json"
LOCK = "index.lock"
BLOBS = "sha256"
TEMP = "tmp"
STALE_TEMP_SECONDS = 3600  # a temp file this old belongs to a writer that died
STATS = ("builds", "hits", "misses", "bytes_hit", "bytes_fetched", "bad")
_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Entry:
    """One blob: its hash, the file name it was stored under, its size and last use (epoch seconds)."""

    sha256: str
    name: str
    size: int
    used: float


@dataclass(frozen=True)
class Info:
    """What `vmapp-build cache info` shows."""

    directory: Path
    entries: int
    size: int
    stats: dict[str, int]


class PackageCache:
    """A content-addressed, size-bounded store of package files. Nothing is created until a write."""

    def __init__(self, directory: Path, max_size: int = DEFAULT_MAX_SIZE) -> None:
        if max_size < 0:
            raise InputError(f"package cache {directory}: the size limit must not be negative")
        self.directory = directory
        self.max_size = max_size

    def blob(self, sha256: str) -> Path:
        if not _HEX.fullmatch(sha256):
            raise ValueError(f"not a lowercase hex SHA-256: {sha256!r}")
        return self.directory / BLOBS / sha256[:2] / sha256

    def is_empty(self) -> bool:
        """No blob recorded: a build then has nothing to look up (and skips asking for its files)."""
        return not self._read_index()["entries"]

    def open_blob(self, sha256: str) -> IO[bytes] | None:
        """The blob, open for reading, or None when it is not (or no longer) there."""
        try:
            return open(self.blob(sha256), "rb")
        except FileNotFoundError:
            return None

    def put(self, files: Iterable[tuple[Path, str]]) -> list[Entry]:
        """Copy each (file, its sha256) in (temp file, then rename); blobs already there are kept.

        The hash is the caller's, computed on the same file (readers check it again). Copied, never
        linked or moved: the file may be on another filesystem, and it stays the caller's.
        """
        added = []
        for source, sha256 in files:
            target = self.blob(sha256)
            if not target.exists():
                self._write(source, target)
            added.append(Entry(sha256, source.name, source.stat().st_size, time.time()))
        if added:
            with self._index() as index:
                for e in added:
                    index["entries"][e.sha256] = {"name": e.name, "size": e.size, "used": e.used}
        return added

    def drop(self, sha256s: Iterable[str]) -> None:
        """Remove these blobs (a bad one, found by a reader) and their index entries."""
        with self._index() as index:
            for sha256 in sha256s:
                with suppress(FileNotFoundError):
                    self.blob(sha256).unlink()
                index["entries"].pop(sha256, None)

    def record(self, used: Iterable[str], **counts: int) -> None:
        """A build's hits become the most recently used; its counts (STATS) are added to the totals."""
        now = time.time()
        with self._index() as index:
            for sha256 in used:
                if sha256 in index["entries"]:
                    index["entries"][sha256]["used"] = now
            for key, value in counts.items():
                if key not in STATS:
                    raise ValueError(f"unknown cache statistic {key!r}")
                index["stats"][key] = int(index["stats"].get(key, 0)) + value

    def evict(self, max_size: int | None = None) -> list[Entry]:
        """Remove the least recently used blobs until the cache holds at most max_size bytes (default:
        the cache's limit); first reconcile the index with the blobs on disk. Returns what was removed."""
        limit = self.max_size if max_size is None else max_size
        if not self.directory.exists():
            return []  # nothing to evict, and pruning creates no cache
        removed = []
        with self._index() as index:
            self._reconcile(index)
            entries = sorted(_entries(index), key=lambda e: (e.used, e.sha256))
            total = sum(e.size for e in entries)
            for e in entries:
                if total <= limit:
                    break
                with suppress(FileNotFoundError):
                    self.blob(e.sha256).unlink()
                del index["entries"][e.sha256]
                total -= e.size
                removed.append(e)
        return removed

    def entries(self) -> list[Entry]:
        """The recorded blobs, least recently used first."""
        return sorted(_entries(self._read_index()), key=lambda e: (e.used, e.sha256))

    def info(self) -> Info:
        index = self._read_index()
        entries = _entries(index)
        stats = {key: int(index["stats"].get(key, 0)) for key in STATS}
        return Info(self.directory, len(entries), sum(e.size for e in entries), stats)

    # -- the index: read freely, changed only under the lock, replaced in one rename -------------------
    @contextmanager
    def _index(self) -> Iterator[dict[str, Any]]:
        self._mkdirs()
        with open(self.directory / LOCK, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # flock: per open file, so threads of one process exclude too
            index = self._read_index()
            yield index
            with tempfile.NamedTemporaryFile("w", dir=self.directory / TEMP, suffix=".json", delete=False) as f:
                json.dump(index, f, sort_keys=True)
            os.replace(f.name, self.directory / INDEX)

    def _read_index(self) -> dict[str, Any]:
        path = self.directory / INDEX
        try:
            index = json.loads(path.read_text())
        except FileNotFoundError:
            index = {}
        except (OSError, ValueError) as exc:
            raise EnvironmentProblem(
                f"package cache {self.directory}: cannot read {path}: {exc}",
                hint=f"remove {path} (the next eviction rebuilds it from the blobs), or pass --no-cache",
            ) from exc
        if not isinstance(index, dict):
            index = {}
        index.setdefault("version", 1)
        index.setdefault("entries", {})
        index.setdefault("stats", {})
        return index

    def _mkdirs(self) -> None:
        try:
            (self.directory / TEMP).mkdir(parents=True, exist_ok=True)
            (self.directory / BLOBS).mkdir(exist_ok=True)
        except OSError as exc:
            raise EnvironmentProblem(
                f"package cache {self.directory}: cannot create it: {exc}",
                hint="pass a writable --cache-dir (or VMAPP_BUILD_CACHE_DIR), or --no-cache",
            ) from exc

    def _write(self, source: Path, target: Path) -> None:
        self._mkdirs()
        target.parent.mkdir(exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self.directory / TEMP, prefix=f"{target.name[:12]}.")
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                shutil.copyfileobj(src, out, 1024 * 1024)
            os.chmod(temp, 0o644)
            os.replace(temp, target)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(temp)
            raise

    def _reconcile(self, index: dict[str, Any]) -> None:
        """Entries whose blob is gone are dropped; blobs the index lacks (a writer died between the rename
        and its index update) are added, last used at their mtime; stale temp files are removed."""
        on_disk = {}
        for path in (self.directory / BLOBS).glob("??/*"):
            if _HEX.fullmatch(path.name) and path.parent.name == path.name[:2]:
                with suppress(FileNotFoundError):
                    stat = path.stat()
                    on_disk[path.name] = stat
        entries = index["entries"]
        for sha256 in [s for s in entries if s not in on_disk]:
            del entries[sha256]
        for sha256, stat in on_disk.items():
            entries.setdefault(sha256, {"name": "", "size": stat.st_size, "used": stat.st_mtime})
        cutoff = time.time() - STALE_TEMP_SECONDS
        for path in (self.directory / TEMP).iterdir():
            with suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()


def _entries(index: dict[str, Any]) -> list[Entry]:
    return [
        Entry(sha256, str(e.get("name", "")), int(e.get("size", 0)), float(e.get("used", 0)))
        for sha256, e in index["entries"].items()
    ]


def default_directory() -> Path:
    """$XDG_CACHE_HOME/vmapp-build/packages, else ~/.cache/vmapp-build/packages."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vmapp-build" / "packages"
