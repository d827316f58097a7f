"""The build pipeline: recipe -> plan -> discovery -> download -> bundle -> render -> check -> manifest.

The one module that sees the whole flow; every stage lives in its own module.
"""

from __future__ import annotations

from pathlib import Path

import docker

from builder.azure.gallery import GallerySettings
from builder.azure.limits import check_field, enforce
from builder.closure import bundle_closure, installer_for
from builder.fetch import check_tarball_members, fetch
from builder.finish import BuildResult, Output, finish, staging_directory
from builder.payload import Payload
from builder.plan import BuildPlan
from builder.render import Commands, render_commands


def build(
    plan: BuildPlan, client: docker.DockerClient | None = None, gallery: GallerySettings | None = None
) -> BuildResult:
    """Build the package and manifest for one plan; nothing is left behind on failure.

    With gallery settings, the Azure definitions (builder.azure.emit) are checked and written beside them.
    """
    if not plan.tarball:
        installer_for(plan)  # "not supported yet" before anything starts
    commands = check_commands(plan)  # pure, and fails before any container starts or download begins
    with staging_directory(plan.out_dir) as tmp:
        payload = _fetch_tarball(plan, commands, tmp) if plan.tarball else bundle_closure(plan, commands, tmp, client)
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


def _fetch_tarball(plan: BuildPlan, commands: Commands, tmp: Path) -> Payload:
    """A tarball payload ships as itself, once its SHA-256 matches the recipe's."""
    assert plan.tarball is not None
    where = f"{plan.recipe_path}: linux.tarball"
    package = fetch(plan.tarball.source, plan.tarball.sha256, tmp / plan.package_file_name, f"{where}.source")
    check_tarball_members(package, where)
    size = package.stat().st_size
    sections = {
        **plan.manifest_sections(),
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
    return Payload(package, commands.as_dict(), sections, size, 1)
