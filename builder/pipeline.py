"""The build pipeline: recipe -> plan -> discovery -> download -> bundle -> render -> check -> manifest.

The one module that sees the whole flow; every stage lives in its own module.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import docker

from builder.azure.gallery import GallerySettings
from builder.azure.limits import check_field, enforce
from builder.backends import PackageFile, installer_for
from builder.bundle import sha256_file, write_tar_gz
from builder.container import Container, connect, ensure_image
from builder.errors import BuildError, InputError
from builder.fetch import check_tarball_members, fetch
from builder.finish import BuildResult, Output, Payload, finish, staging_directory
from builder.plan import BuildPlan
from builder.progress import Stages, byte_bar
from builder.render import Commands, render_commands


def bootstrap_hint(plan: BuildPlan) -> str:
    return (
        f"build it locally with `vmapp-build image bootstrap {plan.distro.name}` "
        f"(needs debootstrap and a package mirror), or pass --image"
    )


def build(
    plan: BuildPlan, client: docker.DockerClient | None = None, gallery: GallerySettings | None = None
) -> BuildResult:
    """Build the package and manifest for one plan; nothing is left behind on failure.

    With gallery settings, the Azure definitions (builder.azure.emit) are checked and written beside them.
    """
    if not plan.tarball:
        installer_for(plan)  # "not supported yet" before anything starts
    check_commands(plan)  # pure, and fails before any container starts or download begins
    with staging_directory(plan.out_dir) as tmp:
        payload = _fetch_tarball(plan, tmp) if plan.tarball else _bundle_closure(plan, tmp, client)
        return finish(_output(plan), payload, tmp, gallery)


def check_commands(plan: BuildPlan) -> Commands:
    """The command strings, rendered (pure) and held to Azure's 4096 characters before any container
    starts: a recipe with too many packages is refused in seconds, not after the download."""
    commands = render_commands(plan)
    fields = {f"manageActions.{name}": text for name, text in commands.as_dict().items()}
    enforce([check_field(f, v) for f, v in fields.items()], f"{plan.app} {plan.version} for {plan.distro.name}")
    return commands


def _output(plan: BuildPlan) -> Output:
    return Output(
        plan.app, plan.version, plan.distro.name, plan.out_dir, plan.package_file_name, plan.max_package_bytes
    )


def _plan_sections(plan: BuildPlan) -> dict[str, Any]:
    """The manifest sections every Linux payload shares."""
    return {
        "application": {"name": plan.app, "version": plan.version, "description": plan.description},
        "recipe": {
            "path": str(plan.recipe_path),
            "packages": list(plan.packages),
            "check": plan.check,
            "recommends": plan.recommends,
            "repositories": [r.__dict__ for r in plan.repositories],
        },
        "distro": {"name": plan.distro.name, "family": plan.distro.family},
        "kind": plan.kind,
    }


def _fetch_tarball(plan: BuildPlan, tmp: Path) -> Payload:
    """A tarball payload ships as itself, once its SHA-256 matches the recipe's."""
    assert plan.tarball is not None
    where = f"{plan.recipe_path}: linux.tarball"
    package = fetch(plan.tarball.source, plan.tarball.sha256, tmp / plan.package_file_name, f"{where}.source")
    check_tarball_members(package, where)
    size = package.stat().st_size
    sections = {
        **_plan_sections(plan),
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
    return Payload(package, render_commands(plan).as_dict(), sections, size, 1)


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
        **_plan_sections(plan),
        "image": {"name": plan.image, "id": image_id},
        "baseline": plan.baseline.as_manifest() | ({"image": image_id} if plan.baseline.kind == "image" else {}),
        "packages": [p.as_manifest() for p in packages],
        "discovery": {
            "commands": discovery.commands,
            "direct": discovery.direct,
            "tree": discovery.tree,
        },
    }
    return Payload(package, commands.as_dict(), sections, total, len(packages))


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
