"""The build pipeline, one for every target: plan -> render -> limits -> payload -> finish.

The one module that sees the whole flow; every stage lives in its own module. The plan (builder.plan)
is computed once and never changed; the command strings are rendered once from it and handed to the
payload stage of the plan's kind, and every payload ends in the one finish step (builder.finish).
"""

from __future__ import annotations

from pathlib import Path

import docker

from builder.azure.gallery import GallerySettings
from builder.azure.limits import check_field, enforce
from builder.cache import PackageCache
from builder.closure import bundle_closure, installer_for
from builder.finish import BuildResult, Output, finish, staging_directory
from builder.lists import ListsLayers
from builder.payload import Payload
from builder.plan import BuildPlan, Plan, WindowsPlan
from builder.render import Commands, render_commands
from builder.tarball import fetch_tarball
from builder.windows.build import bundle_installers

__all__ = ["BuildResult", "build", "payload", "preflight"]  # BuildResult: what build() returns


def build(
    plan: Plan,
    client: docker.DockerClient | None = None,
    gallery: GallerySettings | None = None,
    cache: PackageCache | None = None,
    lists: ListsLayers | None = None,
) -> BuildResult:
    """Build the package and manifest for one plan; nothing is left behind on failure.

    With gallery settings, the Azure definitions (builder.azure.emit) are checked and written beside them.
    With a package cache (builder.cache), packages come from it where it has them, and with lists layers
    (builder.lists) the refreshed package lists of the image; the outputs are the same.
    """
    commands = preflight(plan)
    with staging_directory(plan.out_dir) as tmp:
        return finish(_output(plan), payload(plan, commands, tmp, client, cache, lists), tmp, gallery)


def preflight(plan: Plan) -> Commands:
    """What the plan alone can refuse, before any container starts or download begins (a dry run owes
    these answers too): a package family not supported yet, and strings over Azure's 4096 characters,
    so a recipe with too many packages is refused in seconds, not after the download."""
    if isinstance(plan, BuildPlan) and not plan.tarball:
        installer_for(plan)
    commands = render_commands(plan)
    fields = {f"manageActions.{name}": text for name, text in commands.as_dict().items()}
    enforce([check_field(f, v) for f, v in fields.items()], f"{plan.app} {plan.version} for {plan.distro.name}")
    return commands


def payload(
    plan: Plan,
    commands: Commands,
    tmp: Path,
    client: docker.DockerClient | None,
    cache: PackageCache | None = None,
    lists: ListsLayers | None = None,
) -> Payload:
    """The payload stage of the plan's kind: a new kind of payload is a stage module and a line here."""
    if isinstance(plan, WindowsPlan):
        return bundle_installers(plan, commands, tmp)
    if plan.tarball:
        return fetch_tarball(plan, commands, tmp)
    return bundle_closure(plan, commands, tmp, client, cache, lists)


def _output(plan: Plan) -> Output:
    return Output(
        plan.app, plan.version, plan.distro.name, plan.out_dir, plan.package_file_name, plan.max_package_bytes
    )
