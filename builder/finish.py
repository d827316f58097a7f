"""The one finish step of every build, whatever its payload (apt/dnf/zypper closure, tarball, Windows
installers): limits -> SBOM -> manifest -> immutability check -> gallery definitions -> atomic moves;
for each part of a closure split into several applications (builder.split), all checked before any move.

A payload stage leaves its package file in the build's temp dir (on the output's filesystem) and hands
over its command strings and its own manifest sections; nothing reaches the output directory before
every check has passed, so a refused build leaves the previous one untouched.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from builder.azure.checks import refuse_changed_version
from builder.azure.emit import GALLERY_DIR, replace_directory, stage_definitions
from builder.azure.gallery import GallerySettings
from builder.azure.limits import check_limits, enforce
from builder.errors import BuildError, InputError
from builder.files import replace_atomically, sha256_file
from builder.lock import LOCK_NAME, lock_bytes, lock_document
from builder.manifest import MANIFEST_NAME, manifest_document, write_json_atomically
from builder.owner import owned_temp_dir
from builder.payload import Payload
from builder.sbom import SBOM_NAME, sbom_json
from builder.split import VM_PLAN, part_app, part_directory, vm_plan


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


def finish(output: Output, payload: Payload, tmp: Path, gallery: GallerySettings | None) -> BuildResult:
    """Check, describe and publish one build; raise before anything is moved into place. A closure
    split into parts (builder.split) is published whole: every part is checked and staged first."""
    staged = [_stage(o, p, tmp / f"part{i}", gallery) for i, (o, p) in enumerate(_parts(output, payload), 1)]
    for part in staged:
        part.publish()
    last = staged[-1]
    if payload.parts:
        plan_file = tmp / VM_PLAN
        plan_file.write_text(vm_plan(last.document["split"], output.version), encoding="utf-8")
        replace_atomically(plan_file, output.out_dir / VM_PLAN)
    return BuildResult(
        last.output.out_dir / last.output.package_file_name, last.output.out_dir / MANIFEST_NAME, last.document
    )


def _parts(output: Output, payload: Payload) -> list[tuple[Output, Payload]]:
    """Each application of the build with where it goes: the earlier parts of a split closure under
    parts/, then the build itself (the last part, named `<app>-partN`)."""
    if not payload.parts:
        return [(output, payload)]
    count = len(payload.parts) + 1
    earlier = [
        (
            replace(
                output,
                app=part_app(output.app, i),
                out_dir=output.out_dir / part_directory(output.app, i, count),
                package_file_name=p.package.name,
            ),
            p,
        )
        for i, p in enumerate(payload.parts, 1)
    ]
    return [*earlier, (replace(output, app=part_app(output.app, count)), payload)]


@dataclass(frozen=True)
class _Staged:
    """One application version checked and written to its temp dir, ready to be moved into place."""

    output: Output
    payload: Payload
    tmp: Path
    document: dict[str, Any]
    gallery: bool

    def publish(self) -> None:
        out = self.output.out_dir
        replace_atomically(self.payload.package, out / self.output.package_file_name)
        replace_atomically(self.tmp / SBOM_NAME, out / SBOM_NAME)  # before the manifest that names it
        replace_atomically(self.tmp / MANIFEST_NAME, out / MANIFEST_NAME)
        replace_atomically(self.tmp / LOCK_NAME, out / LOCK_NAME)
        if self.gallery:
            replace_directory(self.tmp / GALLERY_DIR, out / GALLERY_DIR)


def _stage(output: Output, payload: Payload, tmp: Path, gallery: GallerySettings | None) -> _Staged:
    """Limits, SBOM, manifest, immutability and gallery definitions of one application version, in `tmp`."""
    tmp.mkdir()
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
    package_sha256 = sha256_file(payload.package)
    arch = payload.sections.get("distro", {}).get("arch")
    sbom = sbom_json(output.app, output.version, package_sha256, payload.components, arch).encode()
    (tmp / SBOM_NAME).write_bytes(sbom)
    document = manifest_document(
        **payload.sections,
        commands=payload.commands,
        packageFileName=output.package_file_name,
        package={"file": output.package_file_name, "size": size, "sha256": package_sha256},
        sbom={"file": SBOM_NAME, "sha256": hashlib.sha256(sbom).hexdigest()},
        sizes={"package": size, "contents": payload.contents, "files": payload.files},
        limits=[r.as_manifest() for r in limits],
    )
    refuse_changed_version(output.out_dir / MANIFEST_NAME, document)  # Azure versions are immutable
    if gallery is not None:
        staged = stage_definitions(tmp / GALLERY_DIR, document, gallery, output.out_dir)
        document["limits"] += [r.as_manifest() for r in staged]
    write_json_atomically(tmp / MANIFEST_NAME, document)
    (tmp / LOCK_NAME).write_bytes(lock_bytes(lock_document(document, payload.lock)))
    return _Staged(output, payload, tmp, document, gallery is not None)


def existing_ancestor(path: Path) -> Path:
    """The nearest existing directory at or above `path`: where a build's temp dir goes, so the
    final renames stay on one filesystem and nothing is created before the build succeeds."""
    path = path.absolute()
    while not path.exists() and not path.is_symlink():  # a dangling link cannot be created over
        path = path.parent
    if not path.is_dir():
        raise InputError(
            f"{path} is not a directory: the output directory cannot be created under it",
            hint="choose another --out, or move that file away",
        )
    if not os.access(path, os.W_OK):
        raise InputError(f"{path}: the output directory is not writable")
    return path


_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


@contextmanager
def staging_directory(out_dir: Path) -> Iterator[Path]:
    """A temp dir for one build, on the output's filesystem so the final renames are atomic; removed
    on success, failure and every handled signal, and marked with its owner so `vmapp-build gc` knows a
    killed run's. A full disk (or quota) is a build failure with a message, not a traceback."""
    ancestor = existing_ancestor(out_dir)
    try:
        with owned_temp_dir(ancestor) as tmp:
            yield tmp
    except OSError as exc:
        if exc.errno not in _NO_ROOM:
            raise
        raise BuildError(
            f"writing the build of {out_dir} under {ancestor} failed: {exc.strerror}",
            hint="free some space on that filesystem, or choose another --out",
        ) from exc
