"""The Windows build plan: everything a build will do, computed before anything is fetched."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from builder.azure.limits import MAX_PACKAGE_BYTES
from builder.distros import get_distro, resolve_image
from builder.errors import InputError
from builder.recipe import Recipe
from builder.recipe.windows import WindowsInstaller

TARGET = "windows"  # the distro table's row, and the directory under dist/<app>/<version>/


@dataclass(frozen=True)
class WindowsPlan:
    app: str
    version: str
    description: str
    recipe_path: Path
    installers: tuple[WindowsInstaller, ...]
    image: str  # the Wine image verify runs the strings in
    out_dir: Path
    max_package_bytes: int = MAX_PACKAGE_BYTES

    @property
    def bundled(self) -> bool:
        """Several installers ship as one zip; one ships as itself."""
        return len(self.installers) > 1

    @property
    def package_file_name(self) -> str:
        """The name the VM gets the package under (set as packageFileName): with its extension."""
        return f"{self.app}.zip" if self.bundled else self.installers[0].file_name

    def describe(self) -> str:
        lines = [
            f"application  {self.app} {self.version}",
            f"recipe       {self.recipe_path}",
            f"target       {TARGET} (cmd /C; verified under Wine in {self.image})",
            f"output       {self.out_dir / self.package_file_name}",
        ]
        for i, inst in enumerate(self.installers, 1):
            lines.append(f"installer {i}  {inst.type:<3} {inst.file_name}  <- {inst.source}")
        return "\n".join(lines)


def make_windows_plan(
    recipe: Recipe,
    out_root: Path,
    image: str | None = None,
    config_path: Path | None = None,
    max_package_bytes: int | None = None,
) -> WindowsPlan:
    """Combine a recipe with a `windows` section and the run's options into a plan. Pure."""
    if recipe.windows is None:
        raise InputError(
            f"{recipe.path}: windows: the recipe has no windows section",
            hint="add windows.installers, or build it for a Linux distro",
        )
    limit = MAX_PACKAGE_BYTES if max_package_bytes is None else min(max_package_bytes, MAX_PACKAGE_BYTES)
    return WindowsPlan(
        app=recipe.name,
        version=recipe.version,
        description=recipe.description,
        recipe_path=recipe.path,
        installers=recipe.windows.installers,
        image=resolve_image(get_distro(TARGET), image, config_path),
        out_dir=out_root / recipe.name / recipe.version / TARGET,
        max_package_bytes=limit,
    )
