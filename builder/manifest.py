"""manifest.json: what was built, from what, and the exact strings to give Azure."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from builder import __version__
from builder.errors import InputError

MANIFEST_NAME = "manifest.json"
SCHEMA = 1


def manifest_document(**sections: Any) -> dict[str, Any]:
    return {"schema": SCHEMA, "tool": {"name": "vmapp-build", "version": __version__}, **sections}


def write_json_atomically(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(document, f, indent=2, sort_keys=True)
            f.write("\n")
        os.chmod(temp, 0o644)  # mkstemp makes 0600; a manifest is meant to be read
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def load_manifest(path: Path) -> tuple[Path, dict[str, Any]]:
    """A build's manifest, from its directory or the file itself; returns (directory, manifest)."""
    file = path / MANIFEST_NAME if path.is_dir() else path
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(
            f"{file}: cannot read the manifest: {exc.strerror}", hint="give a dist/<app>/<version>/<distro> directory"
        ) from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{file}: not a vmapp-build manifest: {exc}") from exc
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise InputError(f"{file}: not a vmapp-build manifest (schema {SCHEMA})")
    return file.parent, document
