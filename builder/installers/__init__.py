"""Package-manager backends: one class per family, chosen from the distro table's `family`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from builder.container import Container
from builder.errors import InputError
from builder.plan import BuildPlan


@dataclass(frozen=True)
class Discovery:
    """What the documented discovery found, kept for the manifest (a report, not the bundle)."""

    commands: list[str]
    direct: list[dict[str, Any]]
    tree: dict[str, Any]
    planned: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class PackageFile:
    """One package file in the bundle."""

    path: Path
    name: str
    version: str
    architecture: str
    size: int
    sha256: str

    def as_manifest(self) -> dict[str, Any]:
        return {
            "file": self.path.name,
            "name": self.name,
            "version": self.version,
            "architecture": self.architecture,
            "size": self.size,
            "sha256": self.sha256,
        }


class Installer(Protocol):
    """What the pipeline needs from a package-manager backend."""

    family: str
    suffix: str  # the package files' suffix, e.g. ".deb"

    def prepare(self, container: Container) -> None: ...
    def refresh(self, container: Container) -> None: ...
    def discover(self, container: Container) -> Discovery: ...
    def download(self, container: Container) -> str: ...
    def describe_files(self, container: Container, directory: str) -> dict[str, dict[str, str]]: ...
    def index(self, files: list[PackageFile], controls: dict[str, dict[str, str]]) -> dict[str, bytes]: ...


def installer_for(plan: BuildPlan) -> Installer:
    """The backend for the plan's distro family."""
    from builder.installers.apt import AptInstaller

    if plan.distro.family == "apt":
        return AptInstaller(plan)
    raise InputError(
        f"{plan.distro.name} uses {plan.distro.family}, which vmapp-build does not support yet",
        hint="apt distros (debian-11/12, ubuntu-18.04..24.04) work today; see `vmapp-build distros`",
    )
