"""What every plan shares, whatever its kind: what is built, for which row of the target table, in
which image and where it goes; one describe() and one manifest head for every kind."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.azure.limits import MAX_PACKAGE_BYTES
from builder.distros import Distro

Row = tuple[str, str]  # one line of describe(): label, value


@dataclass(frozen=True)
class Release:
    """The version `rebuild` chose, and how (recorded in the manifest): the policy, the recipe's version
    it starts from, and the version it follows (None for the first build)."""

    version: str
    policy: str  # patch or date
    base: str
    previous: str | None

    def as_manifest(self) -> dict[str, str | None]:
        return {"policy": self.policy, "base": self.base, "previous": self.previous}


@dataclass(frozen=True, kw_only=True)
class PlanBase(ABC):
    app: str
    version: str
    description: str
    recipe_path: Path
    distro: Distro  # the target table's row
    image: str  # Linux: the image the build runs in; Windows: the Wine image verify runs the strings in
    out_dir: Path  # dist/<app>/<version>/<row>
    max_package_bytes: int = MAX_PACKAGE_BYTES
    recipe_sha256: str = ""  # of the recipe file: `rebuild` tells a changed recipe by it
    release: Release | None = None  # set by `rebuild`; a plain build's version is the recipe's

    @property
    @abstractmethod
    def kind(self) -> str:
        """What the command strings handle: their template directory under templates/."""

    @property
    @abstractmethod
    def package_file_name(self) -> str:
        """The name the VM gets the package under (set as packageFileName)."""

    @property
    @abstractmethod
    def unit(self) -> str:
        """What the package's files are, in messages: packages, installers."""

    @abstractmethod
    def setup_rows(self) -> list[Row]:
        """describe()'s lines between the recipe and the output."""

    @abstractmethod
    def detail_rows(self) -> list[Row]:
        """describe()'s lines after the output."""

    @abstractmethod
    def recipe_section(self) -> dict[str, Any]:
        """The manifest's `recipe` section beside its path."""

    def describe(self) -> str:
        """The plan as a dry run prints it."""
        rows = [
            ("application", f"{self.app} {self.version}"),
            ("recipe", str(self.recipe_path)),
            *self.setup_rows(),
            ("output", str(self.out_dir / self.package_file_name)),
            *self.detail_rows(),
        ]
        return "\n".join(f"{label:<12} {value}" for label, value in rows)

    def manifest_sections(self) -> dict[str, Any]:
        """The manifest sections the plan alone decides; the payload stage adds what it fetched."""
        sections = {
            "application": {"name": self.app, "version": self.version, "description": self.description},
            "recipe": {"path": str(self.recipe_path), "sha256": self.recipe_sha256, **self.recipe_section()},
            "distro": {"name": self.distro.name, "family": self.distro.family, "arch": self.distro.arch},
        }
        return sections | ({"release": self.release.as_manifest()} if self.release else {})
