"""The catalogue: every recipe (the shipped ones, or those named) times its targets, as `rebuild` and
`matrix` walk it.

A recipe's targets are its `linux.targets` (or every target when it has none: CATALOGUE_DEFAULT, the
releases the project builds and tests itself), plus `windows` when it has a windows section. `--distro`
narrows that list; it never adds a target a recipe excludes. A recipe that cannot be loaded is an
entry too, carrying its error, so one bad file fails its own row and not the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
        return {"recipe": self.recipe, "app": self.app, "distro": self.target}


def recipe_specs(named: tuple[str, ...]) -> list[str]:
    """The recipes named, or every shipped recipe (by name), sorted."""
    if named:
        return list(named)
    return sorted(p.stem for p in data_dir("recipes").glob("*.yaml"))


def recipe_targets(recipe: Recipe) -> list[str]:
    """Every target the recipe is built for in the catalogue."""
    targets = [] if recipe.linux is None and not recipe.linux_overrides else list(recipe.targets or CATALOGUE_DEFAULT)
    return targets + (["windows"] if recipe.windows is not None else [])


def catalogue(named: tuple[str, ...] = (), distros: tuple[str, ...] = ()) -> list[Entry]:
    """The (recipe, target) pairs, in recipe then target order; `distros` narrows each recipe's targets."""
    entries: list[Entry] = []
    for spec in recipe_specs(named):
        try:
            recipe = load_recipe(spec)
        except VmappError as exc:
            entries.append(Entry(spec, _stem(spec), distros[0] if len(distros) == 1 else "-", error=exc))
            continue
        targets = recipe_targets(recipe)
        chosen = [t for t in targets if t in distros] if distros else targets
        entries += [Entry(spec, recipe.name, target, recipe) for target in chosen]
    return entries


def _stem(spec: str) -> str:
    try:
        return find_recipe(spec).stem
    except VmappError:
        return Path(spec).stem
