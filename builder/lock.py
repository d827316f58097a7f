"""lock.json: exactly what a build was made of, beside its manifest.json.

A package manager's closure locks each package (name, version, architecture, sha256, repository and
suite) and each repository's metadata as the refresh saw it (apt's InRelease/Release: its Date and
sha256; repomd.xml: its revision, newest timestamp and sha256). A tarball or Windows payload locks its
sources (URL or path) with their sha256. Nothing in it depends on when or where the build ran, so
rebuilding from the same repositories gives the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from builder.errors import InputError

LOCK_NAME = "lock.json"
LOCK_SCHEMA = 1


def lock_document(manifest: dict[str, Any], closure: dict[str, Any] | None) -> dict[str, Any]:
    """The lock of a build, from its manifest and (for a closure) the payload's packages and repositories."""
    application = manifest.get("application", {})
    tarball = [manifest["tarball"]] if manifest.get("tarball") else []
    sources = [{"file": manifest["package"]["file"], "source": t["source"], "sha256": t["sha256"]} for t in tarball]
    installers = manifest.get("installers", [])
    sources += [{"file": i["file"], "source": i["source"], "sha256": i["sha256"]} for i in installers]
    return {
        "schema": LOCK_SCHEMA,
        "application": {"name": application.get("name"), "version": application.get("version")},
        "distro": manifest.get("distro", {}),
        "package": {"file": manifest["package"]["file"], "sha256": manifest["package"]["sha256"]},
        "packages": (closure or {}).get("packages", []),
        "repositories": (closure or {}).get("repositories", []),
        "sources": sources,
    }


def lock_bytes(document: dict[str, Any]) -> bytes:
    """The lock's bytes: sorted keys, fixed indent, one trailing newline (rebuilds are byte-identical)."""
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def load_lock(directory: Path) -> dict[str, Any] | None:
    """A build's lock.json, or None where the build has none (built before locks were written)."""
    file = directory / LOCK_NAME
    if not file.exists():
        return None
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{file}: not a vmapp-build lock: {exc}") from exc
    if not isinstance(document, dict) or document.get("schema") != LOCK_SCHEMA:
        raise InputError(f"{file}: not a vmapp-build lock (schema {LOCK_SCHEMA})")
    return document
