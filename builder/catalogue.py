"""The catalogue: every recipe (the shipped ones, or those named) times its targets, as `rebuild` and
`matrix` walk it.

A recipe's targets are its `linux.targets`, plus `windows` when it has a windows section. A recipe
without `linux.targets` builds for any distro: the catalogue gives it CATALOGUE_DEFAULT (the releases
the project builds and tests itself), or the `--distro`s asked for. `--distro` narrows a recipe's own
`linux.targets`; it never adds a target a recipe excludes. A recipe that cannot be loaded is an
entry too, carrying its error, so one bad file fails its own row and not the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from builder.distros import find_distro, target_directory
from builder.errors import VmappError
from builder.recipe import Recipe, find_recipe, load_recipe
from builder.resources import data_dir

# The targets of a recipe without `linux.targets` (which builds for any distro) in the catalogue.
CATALOGUE_DEFAULT = ("debian-12", "debian-11")


@dataclass(frozen=True)
class Entry:
    """One (recipe, target) pair of the catalogue; `error` when its recipe does not load."""

    recipe: str  # what the user named: a shipped recipe's name or a path
    app: str  # the application's name (the recipe file's stem when it does not load)
    target: str
    loaded: Recipe | None = None
    error: VmappError | None = None

    def as_json(self) -> dict[str, str]:
        """A matrix entry; `directory` is the target's under dist/<app>/<version>/ (no slash: paths and
        artifact names use it, `debian-12-arm64` for debian-12/arm64)."""
        return {
            "recipe": self.recipe,
            "app": self.app,
            "distro": self.target,
            "directory": target_directory(self.target),
        }


def recipe_specs(named: tuple[str, ...]) -> list[str]:
    """The recipes named, or every shipped recipe (by name), sorted."""
    if named:
        return list(named)
    return sorted(p.stem for p in data_dir("recipes").glob("*.yaml"))


def recipe_targets(recipe: Recipe, distros: tuple[str, ...] = ()) -> list[str]:
    """Every target the recipe is built for in the catalogue, or of `distros` (when given)."""
    has_linux = recipe.linux is not None or bool(recipe.linux_overrides)
    distros = tuple(t.name if (t := find_distro(d)) else d for d in distros)  # debian-12/amd64 is debian-12
    asked = [d for d in distros if (t := find_distro(d)) is not None and t.kind == "linux"]
    linux = list(recipe.targets) if recipe.targets else list(asked or CATALOGUE_DEFAULT) if has_linux else []
    targets = linux + (["windows"] if recipe.windows is not None else [])
    return [t for t in targets if t in distros] if distros else targets


def catalogue(named: tuple[str, ...] = (), distros: tuple[str, ...] = ()) -> list[Entry]:
    """The (recipe, target) pairs, in recipe then target order; `distros` narrows each recipe's targets."""
    entries: list[Entry] = []
    for spec in recipe_specs(named):
        try:
            recipe = load_recipe(spec)
        except VmappError as exc:
            entries.append(Entry(spec, _stem(spec), distros[0] if len(distros) == 1 else "-", error=exc))
            continue
        entries += [Entry(spec, recipe.name, target, recipe) for target in recipe_targets(recipe, distros)]
    return entries


def _stem(spec: str) -> str:
    try:
        return find_recipe(spec).stem
    except VmappError:
        return Path(spec).stem
