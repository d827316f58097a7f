"""The plan of a Linux target: the recipe's packages (a closure the package manager resolves) or its
tarball, for one release of the target table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from builder.backends import BACKENDS
from builder.backends.baseline import IMAGE, Baseline
from builder.distros import Distro
from builder.plan.base import PlanBase, Row
from builder.recipe import Recipe, Repository, Tarball


@dataclass(frozen=True, kw_only=True)
class BuildPlan(PlanBase):
    packages: tuple[str, ...]
    repositories: tuple[Repository, ...]
    check: str | None
    recommends: bool
    baseline: Baseline = IMAGE
    tarball: Tarball | None = None
    locked: tuple[tuple[str, str, str], ...] = ()  # --locked: (name, version, architecture) from lock.json
    proxy: str | None = None  # http://HOST[:PORT] the build containers fetch through (builder.proxy); never recorded

    @property
    def package_file_name(self) -> str:
        return f"{self.app}{self.tarball.suffix if self.tarball else '.tar.gz'}"

    @property
    def kind(self) -> str:
        """The distro's package family, or a tarball payload."""
        return "tarball" if self.tarball else self.distro.family

    @property
    def unit(self) -> str:
        return "packages"

    @property
    def package_names(self) -> tuple[str, ...]:
        """The recipe's packages without version pins or release suffixes (`jq=1.6` -> `jq`)."""
        return tuple(p.split("=", 1)[0].split("/", 1)[0] for p in self.packages)

    def recipe_section(self) -> dict[str, Any]:
        return {
            "packages": list(self.packages),
            "check": self.check,
            "recommends": self.recommends,
            "repositories": [r.__dict__ for r in self.repositories],
        }

    def manifest_sections(self) -> dict[str, Any]:
        return {**super().manifest_sections(), "kind": self.kind}

    def setup_rows(self) -> list[Row]:
        payload = (
            ("tarball", f"{self.tarball.source} -> {self.tarball.directory}")
            if self.tarball
            else ("packages", " ".join(self.packages))
        )
        source = f" {self.baseline.source}" if self.baseline.source else ""
        return [
            ("distro", f"{self.distro.name} ({self.distro.family})"),
            ("image", self.image),
            payload,
            ("recommends", "yes" if self.recommends else "no"),
            ("baseline", f"{self.baseline.kind}{source}"),
            ("check", self.check or "-"),
            *([("proxy", self.proxy)] if self.proxy else []),
        ]

    def detail_rows(self) -> list[Row]:
        return [("repository", f"{r.name}: {r.url} {r.suite} {' '.join(r.components)}") for r in self.repositories]


def plan_linux(recipe: Recipe, shared: dict[str, Any], baseline: Baseline) -> BuildPlan:
    """The recipe's linux section, with the overrides for the row's release."""
    distro: Distro = shared["distro"]
    target = recipe.linux_for(distro.name)
    return BuildPlan(
        **shared,
        packages=target.packages,
        repositories=target.repositories,
        check=target.check,
        recommends=target.recommends,
        baseline=baseline,
        tarball=target.tarball,
    )


def supports(distro: Distro) -> bool:
    """A Linux release is supported when vmapp-build has a backend for its package family."""
    return distro.family in BACKENDS
