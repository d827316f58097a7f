"""The package manager's closure as a payload: resolved and downloaded by the distro's own tools in a
disposable container of the target release, then bundled into a deterministic tar.gz."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import docker

from builder.backends import PackageFile, installer_for
from builder.bundle import write_tar_gz
from builder.container import Container, connect, ensure_image
from builder.errors import BuildError, InputError
from builder.files import sha256_file
from builder.payload import Payload
from builder.plan import BuildPlan
from builder.progress import Stages, byte_bar
from builder.render import Commands, render_commands


def bootstrap_hint(plan: BuildPlan) -> str:
    return (
        f"build it locally with `vmapp-build image bootstrap {plan.distro.name}` "
        f"(needs debootstrap and a package mirror), or pass --image"
    )


def bundle_closure(plan: BuildPlan, commands: Commands, tmp: Path, client: docker.DockerClient | None) -> Payload:
    """The package manager's closure, resolved and downloaded in a disposable container."""
    installer = installer_for(plan)
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
        **plan.manifest_sections(),
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
