"""The builds of one application for one target under an output root: <out>/<app>/<version>/<target>."""

from __future__ import annotations

from pathlib import Path

from builder.lifecycle.sequence import version_key
from builder.manifest import MANIFEST_NAME

FAILED_SUFFIX = ".failed"  # a build that failed verification is kept aside as <target>.failed


def last_build(out: Path, app: str, target: str) -> tuple[str, Path] | None:
    """The highest version with a finished build (its manifest) of `app` for `target`, and its directory."""
    versions = out / app
    if not versions.is_dir():
        return None
    found = [
        (key, d.name)
        for d in versions.iterdir()
        if (key := version_key(d.name)) is not None and (d / target / MANIFEST_NAME).is_file()
    ]
    if not found:
        return None
    _, version = max(found)
    return version, versions / version / target


def is_taken(out: Path, app: str, target: str, version: str) -> bool:
    """A version already used for `target`: built, half-written by someone else, or failed and kept aside."""
    directory = out / app / version
    return (directory / target).exists() or (directory / f"{target}{FAILED_SUFFIX}").exists()


def failed_directory(build: Path) -> Path:
    """Where a build that failed verification is moved, so it is never taken for the last good build."""
    return build.with_name(build.name + FAILED_SUFFIX)
