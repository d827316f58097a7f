"""A closure built before from the same frozen inputs, reused without a container.

The solver's answer depends only on the package lists, the image's package state and the request. With
a lists layer (builder.lists) all three are fixed: the layer's image id names both the lists and the
image, and the request (packages, repositories and their keys' bytes, recommends, baseline, lock pins)
is hashed with it. So a build whose key was built before would download the same files and write the
same bundle (rebuilds are byte-identical); it takes that bundle from the package cache instead, with the
manifest sections, SBOM components and lock that build recorded. As with every blob, the bundle is
hashed again on the way out: one that does not match is dropped and the closure built as usual.

Layout in the cache directory: `closures/<key>.json` (written to a temp file, then renamed), and the
bundle as an ordinary blob, evicted like the packages (a memo without its blob is a miss).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from builder import __version__
from builder.cache import PackageCache
from builder.files import CHUNK, sha256_file
from builder.manifest import write_json_atomically
from builder.payload import Component

DIRECTORY = "closures"
FORMAT = 1  # of the memo files: a new format is a new key


@dataclass(frozen=True)
class Memo:
    """What the closure stage produced besides the command strings (rendered from the plan every time)."""

    sections: dict[str, Any]  # image, baseline, packages and discovery (the plan's own are added fresh)
    contents: int
    files: int
    components: tuple[Component, ...]
    lock: dict[str, Any] | None


def memo_key(layer_id: str, request: str, package_name: str) -> str:
    """The inputs' hash: the lists layer, the request (its repr, with key digests), the bundle's name."""
    material = json.dumps([FORMAT, __version__, layer_id, request, package_name])
    return hashlib.sha256(material.encode()).hexdigest()


def recall(cache: PackageCache, key: str, package: Path) -> Memo | None:
    """The memo for `key` with its bundle copied to `package`, or None (no memo, its blob evicted, or
    a blob that does not hash to the memo's sha256: dropped, and `package` not left behind)."""
    try:
        record = json.loads((cache.directory / DIRECTORY / f"{key}.json").read_text())
        sha256 = str(record["package"])
        blob = cache.open_blob(sha256)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if blob is None:
        return None
    digest = hashlib.sha256()
    with blob, open(package, "wb") as out:
        while chunk := blob.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != sha256:
        package.unlink()
        cache.drop([sha256])
        return None
    cache.record([sha256])  # the most recently used, as a hit package is
    components = tuple(Component(**c) for c in record["components"])
    return Memo(record["sections"], record["contents"], record["files"], components, record["lock"])


def remember(cache: PackageCache, key: str, package: Path, memo: Memo) -> None:
    """Keep the bundle as a blob and the memo beside it (temp file, then rename: never half written)."""
    sha256 = sha256_file(package)
    cache.put([(package, sha256)])
    record = asdict(memo) | {"package": sha256, "components": [asdict(c) for c in memo.components]}
    write_json_atomically(cache.directory / DIRECTORY / f"{key}.json", record)
