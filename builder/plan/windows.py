"""The plan of the Windows target: the recipe's installers (.exe, .msi, .zip), run in order by `cmd /C`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from builder.backends.baseline import Baseline
from builder.distros import Distro
from builder.errors import InputError
from builder.plan.base import PlanBase, Row
from builder.recipe import Recipe
from builder.recipe.windows import WindowsInstaller

TARGET = "windows"  # the target table's Windows row, and the directory under dist/<app>/<version>/


@dataclass(frozen=True, kw_only=True)
class WindowsPlan(PlanBase):
    installers: tuple[WindowsInstaller, ...]

    @property
    def bundled(self) -> bool:
        """Several installers ship as one zip; one ships as itself."""
        return len(self.installers) > 1

    @property
    def package_file_name(self) -> str:
        """With its extension: the one installer's real name, or the zip of several."""
        return f"{self.app}.zip" if self.bundled else self.installers[0].file_name

    @property
    def kind(self) -> str:
        return self.distro.family

    @property
    def unit(self) -> str:
        return "installers"

    def recipe_section(self) -> dict[str, Any]:
        return {
            "installers": [inst.as_manifest() for inst in self.installers],
            "checks": [inst.check for inst in self.installers if inst.check],
        }

    def setup_rows(self) -> list[Row]:
        return [("target", f"{self.distro.name} (cmd /C; verified under Wine in {self.image})")]

    def detail_rows(self) -> list[Row]:
        rows = [
            (f"installer {i}", f"{inst.type:<3} {inst.file_name}  <- {inst.source}")
            for i, inst in enumerate(self.installers, 1)
        ]
        return [*rows, ("packageFileName", self.package_file_name)]


def plan_windows(recipe: Recipe, shared: dict[str, Any], baseline: Baseline) -> WindowsPlan:
    """The recipe's windows section; a Windows VM has no package state, so no baseline."""
    if recipe.windows is None:
        raise InputError(
            f"{recipe.path}: windows: the recipe has no windows section",
            hint="add windows.installers, or build it for a Linux distro",
        )
    return WindowsPlan(**shared, installers=recipe.windows.installers)


def supports(distro: Distro) -> bool:
    """Installers need nothing of the build host: every Windows row is supported."""
    return True
