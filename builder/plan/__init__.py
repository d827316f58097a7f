"""The build plan: everything a build will do, computed once from the recipe, the target table's row
and the run's options, before any container starts or download begins, and never changed after.

The row's kind picks the plan type (KINDS); a new kind of target is a plan module here and a row in
KINDS, a template directory (builder.render) and a payload stage (builder.pipeline).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from builder.azure.limits import MAX_PACKAGE_BYTES
from builder.backends.baseline import IMAGE, Baseline
from builder.distros import Distro, get_distro, resolve_image
from builder.files import sha256_file
from builder.plan import linux, windows
from builder.plan.base import PlanBase, Release
from builder.plan.linux import BuildPlan
from builder.plan.windows import WindowsPlan
from builder.proxy import configured_proxy
from builder.recipe import Recipe

Plan = BuildPlan | WindowsPlan

__all__ = ["KINDS", "BuildPlan", "Plan", "PlanBase", "Release", "WindowsPlan", "make_plan", "supported"]


@dataclass(frozen=True)
class Kind:
    """How one kind of target (the table's `kind` column) is planned."""

    plan: Callable[[Recipe, dict[str, Any], Baseline], Plan]  # the recipe, the fields every plan shares
    supports: Callable[[Distro], bool]  # for `vmapp-build distros`


KINDS: dict[str, Kind] = {
    "linux": Kind(linux.plan_linux, linux.supports),
    "windows": Kind(windows.plan_windows, windows.supports),
}


def make_plan(
    recipe: Recipe,
    distro_name: str,
    out_root: Path,
    image: str | None = None,
    config_path: Path | None = None,
    max_package_bytes: int | None = None,
    baseline: Baseline = IMAGE,
    release: Release | None = None,
    proxy: str | None = None,
) -> Plan:
    """Combine a recipe, a row of the target table and the run's options into the plan of the row's kind.
    No I/O besides the config and the recipe's hash. `release`: the version `rebuild` chose, and how.
    `proxy` (checked by builder.proxy.check_proxy), else the config's: what a Linux build's containers
    fetch through."""
    distro = get_distro(distro_name)
    limit = MAX_PACKAGE_BYTES if max_package_bytes is None else min(max_package_bytes, MAX_PACKAGE_BYTES)
    version = release.version if release else recipe.version
    shared = {
        "app": recipe.name,
        "version": version,
        "description": recipe.description,
        "recipe_path": recipe.path,
        "distro": distro,
        "image": resolve_image(distro, image, config_path),
        "out_dir": out_root / recipe.name / version / distro.directory,
        "max_package_bytes": limit,
        "recipe_sha256": sha256_file(recipe.path),
        "release": release,
    }
    plan = KINDS[distro.kind].plan(recipe, shared, baseline)
    if isinstance(plan, BuildPlan):  # only Linux builds run package managers in containers
        plan = replace(plan, proxy=proxy or configured_proxy(config_path))
    return plan


def supported(distro: Distro) -> bool:
    """Whether vmapp-build can build for the row."""
    return KINDS[distro.kind].supports(distro)
