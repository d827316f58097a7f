"""The build pipeline: recipe -> plan -> discovery -> download -> bundle -> render -> check -> manifest.

The one module that sees the whole flow; every stage lives in its own module.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import docker

from builder.bundle import replace_atomically, sha256_file, write_tar_gz
from builder.container import Container, connect, ensure_image
from builder.emit import GALLERY_DIR, replace_directory, stage_definitions
from builder.errors import BuildError, InputError
from builder.fetch import check_tarball_members, fetch
from builder.gallery import GallerySettings
from builder.gallery_checks import refuse_changed_version
from builder.installers import PackageFile, installer_for
from builder.limits import check_limits, enforce
from builder.manifest import MANIFEST_NAME, manifest_document, write_json_atomically
from builder.owner import owned_temp_dir
from builder.plan import BuildPlan
from builder.progress import Stages, byte_bar
from builder.render import Commands, render_commands


@dataclass(frozen=True)
class BuildResult:
    package: Path
    manifest: Path
    document: dict[str, Any]

    @property
    def warnings(self) -> list[str]:
        return [r["message"] for r in self.document["limits"] if r["level"] == "warning"]


def bootstrap_hint(plan: BuildPlan) -> str:
    return (
        f"build it locally with `vmapp-build image bootstrap {plan.distro.name}` "
        f"(needs debootstrap and a package mirror), or pass --image"
    )


@dataclass(frozen=True)
class Payload:
    """What a build stage produced: the package file in the temp dir and its manifest sections."""

    package: Path
    commands: Commands
    sections: dict[str, Any]
    contents: int  # bytes of the files inside
    files: int


def build(
    plan: BuildPlan, client: docker.DockerClient | None = None, gallery: GallerySettings | None = None
) -> BuildResult:
    """Build the package and manifest for one plan; nothing is left behind on failure.

    With gallery settings, the Azure definitions (builder.emit) are checked and written beside them.
    """
    if not plan.tarball:
        installer_for(plan)  # "not supported yet" before anything starts
    render_commands(plan)  # pure, and fails before any container starts or download begins
    with staging_directory(plan.out_dir) as tmp:
        payload = _fetch_tarball(plan, tmp) if plan.tarball else _bundle_closure(plan, tmp, client)
        return _finish(plan, payload, tmp, gallery)


def _fetch_tarball(plan: BuildPlan, tmp: Path) -> Payload:
    """A tarball payload ships as itself, once its SHA-256 matches the recipe's."""
    assert plan.tarball is not None
    where = f"{plan.recipe_path}: linux.tarball"
    package = fetch(plan.tarball.source, plan.tarball.sha256, tmp / plan.package_file_name, f"{where}.source")
    check_tarball_members(package, where)
    size = package.stat().st_size
    sections = {
        "image": {"name": plan.image, "id": None},
        "baseline": {"kind": "none"},
        "packages": [],
        "tarball": {
            "source": plan.tarball.source,
            "sha256": plan.tarball.sha256,
            "directory": plan.tarball.directory,
            "size": size,
        },
        "discovery": {},
    }
    return Payload(package, render_commands(plan), sections, size, 1)


def _bundle_closure(plan: BuildPlan, tmp: Path, client: docker.DockerClient | None) -> Payload:
    """The package manager's closure, resolved and downloaded in a disposable container."""
    installer = installer_for(plan)
    commands = render_commands(plan)
    client = client or connect()
    image_id = ensure_image(client, plan.image, bootstrap_hint(plan))
    stages = Stages(["repositories", "refresh", "discover", "download", "collect", "bundle"], plan.app)
    files_dir = tmp / "files"
    files_dir.mkdir()
    try:
        with Container(client, image_id, "build") as container:
            with stages.stage("repositories"):
                installer.prepare(container)
            with stages.stage("refresh"):
                installer.refresh(container)
            with stages.stage("discover"):
                discovery = installer.discover(container)
            with stages.stage("download"):
                download_dir = installer.download(container)
                if installer.packages != plan.packages:
                    # the VM's package manager must be asked for what the build's installed, nothing else
                    commands = render_commands(replace(plan, packages=installer.packages))
            with stages.stage("collect"):
                controls = installer.describe_files(container, download_dir)
                files = container.copy_files_out(download_dir, files_dir, installer.suffix)
        if not files:
            raise InputError(
                f"nothing to bundle: {' '.join(plan.packages)} and all their dependencies are already "
                f"in {plan.image} ({plan.distro.name})",
                hint="the target VM already has them; no package is needed",
            )
        packages = [_describe(f, controls) for f in files]
        with stages.stage("bundle"):
            package = tmp / plan.package_file_name
            total = sum(p.size for p in packages)
            with byte_bar(total, "bundle") as bar:
                write_tar_gz(package, files, installer.index(packages, controls), bar.update)
    finally:
        stages.close()
    sections = {
        "image": {"name": plan.image, "id": image_id},
        "baseline": plan.baseline.as_manifest() | ({"image": image_id} if plan.baseline.kind == "image" else {}),
        "packages": [p.as_manifest() for p in packages],
        "discovery": {
            "commands": discovery.commands,
            "direct": discovery.direct,
            "tree": discovery.tree,
        },
    }
    return Payload(package, commands, sections, total, len(packages))


def _finish(plan: BuildPlan, payload: Payload, tmp: Path, gallery: GallerySettings | None) -> BuildResult:
    """Check the limits, write the manifest (and definitions), then move everything into place."""
    commands = payload.commands
    size = payload.package.stat().st_size
    limits = check_limits(
        plan.app,
        plan.version,
        size,
        str(plan.out_dir / plan.package_file_name),
        {
            "manageActions.install": commands.install,
            "manageActions.remove": commands.remove,
            "manageActions.update": commands.update,
            "settings.packageFileName": plan.package_file_name,
        },
        plan.max_package_bytes,
    )
    enforce(limits, f"{plan.app} {plan.version} for {plan.distro.name}")
    document = manifest_document(
        application={"name": plan.app, "version": plan.version, "description": plan.description},
        recipe={
            "path": str(plan.recipe_path),
            "packages": list(plan.packages),
            "check": plan.check,
            "recommends": plan.recommends,
            "repositories": [r.__dict__ for r in plan.repositories],
        },
        distro={"name": plan.distro.name, "family": plan.distro.family},
        kind=plan.kind,
        **payload.sections,
        commands=commands.as_dict(),
        packageFileName=plan.package_file_name,
        package={"file": plan.package_file_name, "size": size, "sha256": sha256_file(payload.package)},
        sizes={"package": size, "contents": payload.contents, "files": payload.files},
        limits=[r.as_manifest() for r in limits],
    )
    if gallery is not None:
        staged = stage_definitions(tmp / GALLERY_DIR, document, gallery, plan.out_dir)
        document["limits"] += [r.as_manifest() for r in staged]
    refuse_changed_version(plan.out_dir / MANIFEST_NAME, document)  # Azure versions are immutable
    write_json_atomically(tmp / MANIFEST_NAME, document)
    final_package = plan.out_dir / plan.package_file_name
    final_manifest = plan.out_dir / MANIFEST_NAME
    replace_atomically(payload.package, final_package)
    replace_atomically(tmp / MANIFEST_NAME, final_manifest)
    if gallery is not None:
        replace_directory(tmp / GALLERY_DIR, plan.out_dir / GALLERY_DIR)
    return BuildResult(final_package, final_manifest, document)


def _describe(path: Path, controls: dict[str, dict[str, str]]) -> PackageFile:
    control = controls.get(path.name)
    if not control or "Package" not in control:
        raise BuildError(f"{path.name}: the package manager could not read its metadata")
    return PackageFile(
        path=path,
        name=control["Package"],
        version=control.get("Version", ""),
        architecture=control.get("Architecture", ""),
        size=path.stat().st_size,
        sha256=sha256_file(path),
    )


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
