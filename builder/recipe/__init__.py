"""Recipes: one YAML file per application, loaded and validated into frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder import fields
from builder.backends.repository import Repository as Repository  # re-exported for the plan and tests
from builder.errors import InputError, RecipeError
from builder.names import app_name_problem, version_problem
from builder.recipe.linux import LinuxTarget as LinuxTarget
from builder.recipe.linux import Tarball as Tarball
from builder.recipe.linux import parse_linux
from builder.recipe.windows import WindowsTarget, parse_windows
from builder.resources import data_dir
from builder.yamlfile import read_yaml


@dataclass(frozen=True)
class Recipe:
    name: str
    version: str
    description: str
    path: Path
    linux: LinuxTarget | None
    linux_overrides: dict[str, LinuxTarget] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, compare=False)
    windows: WindowsTarget | None = None  # installers for Windows VMs (builder.windows)
    targets: tuple[str, ...] = ()  # linux.targets: the distros the recipe is for; empty: any

    def linux_for(self, distro: str) -> LinuxTarget:
        """The linux section with the overrides for `distro` applied."""
        if self.targets and distro not in self.targets:
            raise InputError(
                f"{self.path}: linux.targets: {self.name} does not target {distro}",
                hint=f"build it for one of: {', '.join(self.targets)}, or add {distro} to linux.targets",
            )
        for key in (distro, distro.split("/", 1)[0]):  # debian-12/arm64's own, else debian-12's
            if key in self.linux_overrides:
                return self.linux_overrides[key]
        if self.linux is None:
            raise InputError(f"{self.path}: linux: the recipe has no linux section for {distro}")
        return self.linux


def find_recipe(spec: str) -> Path:
    """A recipe path from a file path or the name of a shipped recipe."""
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise InputError(f"{spec}: no such recipe file")
        return path
    shipped = data_dir("recipes")
    candidate = shipped / f"{spec}.yaml"
    if candidate.is_file():
        return candidate
    names = ", ".join(sorted(p.stem for p in shipped.glob("*.yaml")))
    raise InputError(f"no recipe named {spec!r}", hint=f"give a path to a YAML file, or one of: {names}")


def load_recipe(spec: str | Path) -> Recipe:
    """Load and validate a recipe; errors name the file and the key."""
    path = find_recipe(str(spec))
    data = read_yaml(path, "the recipe")
    if not isinstance(data, dict):
        raise RecipeError(path, "", "expected a mapping with name, version, description and linux")
    fields.no_unknown_keys(path, "", data, {"name", "version", "description", "linux", "windows", "gallery"})

    name = fields.text(path, "name", data.get("name"))
    if problem := app_name_problem(name):
        raise RecipeError(path, "name", problem)
    version = fields.text(path, "version", data.get("version"))
    if problem := version_problem(version):
        raise RecipeError(path, "version", problem)
    description = fields.text(path, "description", data.get("description", ""), allow_empty=True, multiline=True)
    if "gallery" in data:  # validated here, so a bad key fails before any build; builder.azure reads it again
        from builder.azure.settings import parse_gallery_settings

        parse_gallery_settings(path, "gallery", data["gallery"])

    # A recipe has a linux section, a windows section, or both.
    windows = parse_windows(path, data["windows"]) if "windows" in data else None
    if data.get("linux") is None and windows is not None:
        return Recipe(name, version, description, path, None, {}, raw=data, windows=windows)
    if data.get("linux") is None:
        raise RecipeError(path, "linux", "missing", hint="add a linux section with a list of packages")
    linux = parse_linux(path, data["linux"])
    return Recipe(
        name, version, description, path, linux.base, linux.overrides, raw=data, windows=windows, targets=linux.targets
    )
