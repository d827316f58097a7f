"""File helpers every layer shares: a streamed SHA-256 and the one-rename move into place."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CHUNK = 1024 * 1024


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def replace_atomically(temp: Path, final: Path) -> None:
    """Move a finished temp file into place in one rename (same filesystem)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temp, final)
