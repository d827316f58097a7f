"""The one finish step of every build, whatever its payload (apt/dnf/zypper closure, tarball, Windows
installers): limits -> manifest -> immutability check -> gallery definitions -> atomic moves.

A payload stage leaves its package file in the build's temp dir (on the output's filesystem) and hands
over its command strings and its own manifest sections; nothing reaches the output directory before
every check has passed, so a refused build leaves the previous one untouched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.bundle import replace_atomically, sha256_file
from builder.emit import GALLERY_DIR, replace_directory, stage_definitions
from builder.errors import InputError
from builder.gallery import GallerySettings
from builder.gallery_checks import refuse_changed_version
from builder.limits import check_limits, enforce
from builder.manifest import MANIFEST_NAME, manifest_document, write_json_atomically


@dataclass(frozen=True)
class BuildResult:
    package: Path
    manifest: Path
    document: dict[str, Any]

    @property
    def warnings(self) -> list[str]:
        return [r["message"] for r in self.document["limits"] if r["level"] == "warning"]


@dataclass(frozen=True)
class Output:
    """Where a build goes and what Azure will call it."""

    app: str
    version: str
    target: str  # the distro table's row: debian-12, rhel-9, windows
    out_dir: Path  # dist/<app>/<version>/<target>
    package_file_name: str
    max_package_bytes: int


@dataclass(frozen=True)
class Payload:
    """What a payload stage produced: the package in the temp dir, its strings and manifest sections."""

    package: Path
    commands: dict[str, str]  # install, remove and (Linux) update, as Azure's manageActions
    sections: dict[str, Any]  # the payload's own manifest sections (application, recipe, distro, ...)
    contents: int  # bytes of the files inside
    files: int


def finish(output: Output, payload: Payload, tmp: Path, gallery: GallerySettings | None) -> BuildResult:
    """Check, describe and publish one build; raise before anything is moved into place."""
    size = payload.package.stat().st_size
    fields: dict[str, str | None] = {f"manageActions.{name}": text for name, text in payload.commands.items()}
    fields["settings.packageFileName"] = output.package_file_name
    limits = check_limits(
        output.app,
        output.version,
        size,
        str(output.out_dir / output.package_file_name),
        fields,
        output.max_package_bytes,
    )
    enforce(limits, f"{output.app} {output.version} for {output.target}")
    document = manifest_document(
        **payload.sections,
        commands=payload.commands,
        packageFileName=output.package_file_name,
        package={"file": output.package_file_name, "size": size, "sha256": sha256_file(payload.package)},
        sizes={"package": size, "contents": payload.contents, "files": payload.files},
        limits=[r.as_manifest() for r in limits],
    )
    refuse_changed_version(output.out_dir / MANIFEST_NAME, document)  # Azure versions are immutable
    if gallery is not None:
        staged = stage_definitions(tmp / GALLERY_DIR, document, gallery, output.out_dir)
        document["limits"] += [r.as_manifest() for r in staged]
    write_json_atomically(tmp / MANIFEST_NAME, document)
    final_package = output.out_dir / output.package_file_name
    final_manifest = output.out_dir / MANIFEST_NAME
    replace_atomically(payload.package, final_package)
    replace_atomically(tmp / MANIFEST_NAME, final_manifest)
    if gallery is not None:
        replace_directory(tmp / GALLERY_DIR, output.out_dir / GALLERY_DIR)
    return BuildResult(final_package, final_manifest, document)


def existing_ancestor(path: Path) -> Path:
    """The nearest existing directory at or above `path`: where a build's temp dir goes, so the
    final renames stay on one filesystem and nothing is created before the build succeeds."""
    path = path.absolute()
    while not path.exists():
        path = path.parent
    if not os.access(path, os.W_OK):
        raise InputError(f"{path}: the output directory is not writable")
    return path
