"""Package-manager backends: one class per family, chosen from the distro table's `family`."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from builder.errors import InputError

if TYPE_CHECKING:  # annotations only: the parsers in this package must import without the pipeline
    from builder.container import Container
    from builder.plan import BuildPlan


@dataclass(frozen=True)
class Discovery:
    """What the documented discovery found, kept for the manifest (a report, not the bundle)."""

    commands: list[str]
    direct: list[dict[str, Any]]
    tree: dict[str, Any]


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
    # What the package manager was asked to install: the recipe's packages, less a virtual name apt
    # refuses next to a provider the recipe also names (known after download).
    packages: tuple[str, ...]

    def prepare(self, container: Container) -> None: ...
    def refresh(self, container: Container) -> None: ...
    def discover(self, container: Container) -> Discovery: ...
    def download(self, container: Container) -> str: ...
    def describe_files(self, container: Container, directory: str) -> dict[str, dict[str, str]]: ...
    def index(self, files: list[PackageFile], controls: dict[str, dict[str, str]]) -> dict[str, bytes]: ...

    # What verify needs of the family, on a container of the target image:
    @staticmethod
    def installed_packages(container: Container) -> dict[str, str]: ...
    @staticmethod
    def is_older(container: Container, version: str, than: str) -> bool: ...


# family -> "module:Class"; a new family is one module and one line here.
BACKENDS: dict[str, str] = {
    "apt": "builder.backends.apt:AptInstaller",
    "dnf": "builder.backends.dnf:DnfInstaller",
    "yum": "builder.backends.dnf:YumInstaller",
    "zypper": "builder.backends.zypper:ZypperInstaller",
}


def backend_class(family: str, distro: str) -> type[Installer]:
    """The backend class for a package family, or a clear "not supported yet"."""
    if family not in BACKENDS:
        supported = ", ".join(sorted(BACKENDS))
        raise InputError(
            f"{distro} uses {family}, which vmapp-build does not support yet",
            hint=f"supported families: {supported}; see `vmapp-build distros`",
        )
    module_name, _, class_name = BACKENDS[family].partition(":")
    cls: type[Installer] = getattr(importlib.import_module(module_name), class_name)
    return cls


def installer_for(plan: BuildPlan) -> Installer:
    """The backend for the plan's distro family."""
    return backend_class(plan.distro.family, plan.distro.name)(plan)  # type: ignore[call-arg]
