"""The builds of one application for one target under an output root: <out>/<app>/<version>/<target>."""

from __future__ import annotations

from pathlib import Path

from builder.distros import target_directory
from builder.lifecycle.sequence import builds_under

FAILED_SUFFIX = ".failed"  # a build that failed verification is kept aside as <target>.failed


def last_build(out: Path, app: str, target: str) -> tuple[str, Path] | None:
    """The highest version with a finished build of `app` for `target`, and its directory: the newest of
    the builds the lifecycle replays (builder.lifecycle.sequence.builds_under)."""
    found = builds_under(out / app, target_directory(target), target)
    if not found:
        return None
    _, directory = found[-1]
    return directory.parent.name, directory


def is_taken(out: Path, app: str, target: str, version: str) -> bool:
    """A version already used for `target`: built, half-written by someone else, or failed and kept aside."""
    directory = out / app / version
    name = target_directory(target)  # debian-12/arm64's builds are in debian-12-arm64
    return (directory / name).exists() or (directory / f"{name}{FAILED_SUFFIX}").exists()


def failed_directory(build: Path) -> Path:
    """Where a build that failed verification is moved, so it is never taken for the last good build."""
    return build.with_name(build.name + FAILED_SUFFIX)
