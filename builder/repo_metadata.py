"""The quick answer before a refresh: are the repositories' metadata files what the last build saw?

An apt lock records the InRelease/Release of every repository the solver chose from, with its sha256.
Same image, same recipe and the same metadata bytes mean the solver would answer as it did, so the
check ends with no container at all. Only http(s) repositories can be asked from here (a file: or
mirror-listed one, and RPM's repomd behind mirrorlists, go the container's way); any doubt (no URL, a
network error, a different hash) says "ask the solver".
"""

from __future__ import annotations

import hashlib
import urllib.request
from typing import Any

TIMEOUT = 20  # seconds for each metadata file
_APT_METADATA = ("InRelease", "Release")


def metadata_unchanged(repositories: list[dict[str, Any]]) -> bool:
    """True only when every locked repository's metadata file is fetched and has its locked sha256."""
    if not repositories:
        return False
    return all(_same(repo) for repo in repositories)


def metadata_url(repo: dict[str, Any]) -> str | None:
    """Where an apt repository's locked metadata file is served, or None where this cannot be asked."""
    url, suite, metadata = repo.get("url") or "", repo.get("suite") or "", repo.get("metadata")
    if not url.startswith(("http://", "https://")) or metadata not in _APT_METADATA or not suite:
        return None
    if suite == "./":  # a flat repository: the file sits beside the packages
        return f"{url.rstrip('/')}/{metadata}"
    return f"{url.rstrip('/')}/dists/{suite}/{metadata}"


def _same(repo: dict[str, Any]) -> bool:
    url, expected = metadata_url(repo), repo.get("sha256")
    if url is None or not expected:
        return False
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            return bool(hashlib.sha256(response.read()).hexdigest() == expected)
    except (OSError, ValueError):
        return False
