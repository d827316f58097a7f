"""What the RPM families' download needs from the host's package cache: each file of the solver's
closure with the size and SHA-256 its repository's primary.xml gives (builder.cache feeds them).

The primary.xml files are the ones the package manager's refresh stored and checked against the
repository's repomd.xml (signed, where the repository signs its metadata). A fed file is where the
package manager looks before downloading (dnf: the --downloaddir; zypper: <pkg-cache-dir>/<alias>/
<location>), and both check it there against that same checksum (dnf: librepo's "Already downloaded";
libzypp: "In cache"), fetching it again otherwise. The signature check after the download
(rpm_signatures) runs on fed files as on fetched ones.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from xml.etree import ElementTree

from builder.backends.base import Resolved
from builder.container import Container

_COMMON = "{http://linux.duke.edu/metadata/common}"
_SHA256 = re.compile(r"[0-9a-f]{64}")
# Each repository's primary.xml in a package manager's metadata caches, one path a line.
_FIND = 'for d in "$@"; do [ -d "$d" ] && find "$d" -path "*/repodata/*primary.xml*" -type f; done; true'


@dataclass(frozen=True)
class IndexEntry:
    """One package of a repository's primary.xml: what the solver names it, and its file."""

    repository: str
    name: str
    version: str  # [epoch:]version-release, no epoch when it is 0 (as dnf's and zypper's summaries)
    arch: str
    location: str  # relative to the repository's baseurl
    size: int
    sha256: str | None  # None when the index gives another checksum type, or an odd location: never fed


def decompress(data: bytes) -> bytes | None:
    """primary.xml's bytes by their magic (gzip, xz, bzip2, plain); None for zstd (no stdlib reader)."""
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:6] == b"\xfd7zXZ\x00":
        return lzma.decompress(data)
    if data[:3] == b"BZh":
        return bz2.decompress(data)
    return data if data.lstrip()[:1] == b"<" else None


def parse_primary(repository: str, data: bytes) -> list[IndexEntry]:
    """A primary.xml's packages (rpm-md's `common` namespace)."""
    entries = []
    for package in ElementTree.fromstring(data).iter(f"{_COMMON}package"):
        version = package.find(f"{_COMMON}version")
        checksum = package.find(f"{_COMMON}checksum")
        location = package.find(f"{_COMMON}location")
        size = package.find(f"{_COMMON}size")
        if version is None or checksum is None or location is None or size is None:
            continue
        epoch, ver, rel = version.get("epoch", "0"), version.get("ver", ""), version.get("rel", "")
        digest = (checksum.text or "").strip().lower()
        href = location.get("href", "")
        # A file from another base (xml:base) or outside the repository's tree is never placed.
        placeable = not any(k.endswith("base") for k in location.attrib) and _is_relative(href)
        entries.append(
            IndexEntry(
                repository=repository,
                name=package.findtext(f"{_COMMON}name", "").strip(),
                version=(f"{epoch}:" if epoch not in ("", "0") else "") + f"{ver}-{rel}",
                arch=package.findtext(f"{_COMMON}arch", "").strip(),
                location=href,
                size=int(size.get("package", "0") or 0),
                sha256=digest if placeable and checksum.get("type") == "sha256" and _SHA256.fullmatch(digest) else None,
            )
        )
    return entries


def _is_relative(href: str) -> bool:
    parts = href.split("/")
    return bool(href) and not href.startswith("/") and ":" not in href and ".." not in parts and "" not in parts


def repository_of(path: str) -> str:
    """The repository a cached primary.xml belongs to: dnf's `<id>-<16 hex>/repodata/`, yum's and
    zypper's `<id>/repodata/`."""
    directory = path.rsplit("/repodata/", 1)[0].rsplit("/", 1)[-1]
    return re.sub(r"-[0-9a-f]{16}$", "", directory)


def cached_index(container: Container, caches: Iterable[str]) -> list[IndexEntry]:
    """Every package of every primary.xml under the package manager's metadata caches."""
    found = container.run(["sh", "-c", _FIND, "sh", *caches], "find repository indexes", check=False).stdout
    entries: list[IndexEntry] = []
    for path in sorted(set(found.splitlines())):
        data = container.read_file(path)
        xml = decompress(data) if data else None
        if xml is not None:
            entries += parse_primary(repository_of(path), xml)
    return entries


def closure_files(resolved: Iterable[Resolved], index: list[IndexEntry]) -> dict[Resolved, IndexEntry]:
    """The index entry of each package the solver resolved, where exactly one repository offers it (one
    in several is left to the download: which one the solver takes is its choice, and its origin)."""
    by_package: dict[Resolved, list[IndexEntry]] = {}
    for entry in index:
        by_package.setdefault((entry.name, entry.version, entry.arch), []).append(entry)
    chosen = {}
    for package in resolved:
        candidates = by_package.get(package, [])
        if len(candidates) == 1 and candidates[0].sha256:
            chosen[package] = candidates[0]
    return chosen


def wanted_files(
    container: Container, resolved: Iterable[Resolved], caches: Iterable[str], place: Callable[[IndexEntry], str]
) -> list[tuple[str, int, str]]:
    """(path in the container, size, sha256) of each resolved package's file, placed where the package
    manager looks for it (`place`), for those the index gives a SHA-256 for."""
    chosen = closure_files(resolved, cached_index(container, caches))
    return sorted((place(e), e.size, e.sha256) for e in chosen.values() if e.sha256)
