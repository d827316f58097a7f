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
    return _read(file) if file.exists() else None


def read_lock(path: Path) -> dict[str, Any]:
    """The lock.json at `path` (the file, or a build directory holding it)."""
    file = path / LOCK_NAME if path.is_dir() else path
    if not file.exists():
        raise InputError(f"{file}: no such lock", hint=f"give a build directory or its {LOCK_NAME}")
    return _read(file)


def _read(file: Path) -> dict[str, Any]:
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{file}: not a vmapp-build lock: {exc}") from exc
    if not isinstance(document, dict) or document.get("schema") != LOCK_SCHEMA:
        raise InputError(f"{file}: not a vmapp-build lock (schema {LOCK_SCHEMA})")
    return document


def locked_packages(lock: dict[str, Any], app: str, distro: str, where: Path) -> tuple[tuple[str, str, str], ...]:
    """The lock's (name, version, architecture), once it is the lock of this app for this distro."""
    locked_app, locked_distro = lock.get("application", {}).get("name"), lock.get("distro", {}).get("name")
    if (locked_app, locked_distro) != (app, distro):
        raise InputError(
            f"{where}: the lock of {locked_app} for {locked_distro}, not of {app} for {distro}",
            hint="give the lock of a previous build of this app for this distro",
        )
    return tuple((p["name"], p["version"], p["architecture"]) for p in lock.get("packages", []))
