"""The build plan: everything a build will do, computed before any container starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.azure.limits import MAX_PACKAGE_BYTES
from builder.backends.baseline import IMAGE, Baseline
from builder.distros import Distro, get_distro, resolve_image
from builder.recipe import Recipe, Repository, Tarball


@dataclass(frozen=True)
class BuildPlan:
    app: str
    version: str
    description: str
    recipe_path: Path
    distro: Distro
    image: str
    packages: tuple[str, ...]
    repositories: tuple[Repository, ...]
    check: str | None
    recommends: bool
    out_dir: Path
    max_package_bytes: int = MAX_PACKAGE_BYTES
    baseline: Baseline = IMAGE
    tarball: Tarball | None = None

    @property
    def package_file_name(self) -> str:
        """The name the VM gets the package under (set as packageFileName)."""
        return f"{self.app}{self.tarball.suffix if self.tarball else '.tar.gz'}"

    @property
    def kind(self) -> str:
        """What the command strings handle: the distro's package family, or a tarball payload."""
        return "tarball" if self.tarball else self.distro.family

    @property
    def package_names(self) -> tuple[str, ...]:
        """The recipe's packages without version pins or release suffixes (`jq=1.6` -> `jq`)."""
        return tuple(p.split("=", 1)[0].split("/", 1)[0] for p in self.packages)

    def manifest_sections(self) -> dict[str, Any]:
        """The manifest sections every Linux payload shares."""
        return {
            "application": {"name": self.app, "version": self.version, "description": self.description},
            "recipe": {
                "path": str(self.recipe_path),
                "packages": list(self.packages),
                "check": self.check,
                "recommends": self.recommends,
                "repositories": [r.__dict__ for r in self.repositories],
            },
            "distro": {"name": self.distro.name, "family": self.distro.family},
            "kind": self.kind,
        }

    def describe(self) -> str:
        lines = [
            f"application  {self.app} {self.version}",
            f"recipe       {self.recipe_path}",
            f"distro       {self.distro.name} ({self.distro.family})",
            f"image        {self.image}",
            f"packages     {' '.join(self.packages)}"
            if not self.tarball
            else f"tarball      {self.tarball.source} -> {self.tarball.directory}",
            f"recommends   {'yes' if self.recommends else 'no'}",
            f"baseline     {self.baseline.kind}{' ' + self.baseline.source if self.baseline.source else ''}",
            f"check        {self.check or '-'}",
            f"output       {self.out_dir / self.package_file_name}",
        ]
        lines += [f"repository   {r.name}: {r.url} {r.suite} {' '.join(r.components)}" for r in self.repositories]
        return "\n".join(lines)


def make_plan(
    recipe: Recipe,
    distro_name: str,
    out_root: Path,
    image: str | None = None,
    config_path: Path | None = None,
    max_package_bytes: int | None = None,
    baseline: Baseline = IMAGE,
) -> BuildPlan:
    """Combine a recipe, a distro and the run's options into a plan. Pure: no I/O besides config."""
    distro = get_distro(distro_name)
    target = recipe.linux_for(distro.name)
    limit = MAX_PACKAGE_BYTES if max_package_bytes is None else min(max_package_bytes, MAX_PACKAGE_BYTES)
    return BuildPlan(
        app=recipe.name,
        version=recipe.version,
        description=recipe.description,
        recipe_path=recipe.path,
        distro=distro,
        image=resolve_image(distro, image, config_path),
        packages=target.packages,
        repositories=target.repositories,
        check=target.check,
        recommends=target.recommends,
        out_dir=out_root / recipe.name / recipe.version / distro.name,
        max_package_bytes=limit,
        baseline=baseline,
        tarball=target.tarball,
    )
