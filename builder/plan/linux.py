"""The plan of a Linux target: the recipe's packages (a closure the package manager resolves) or its
tarball, for one release of the target table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from builder.backends import BACKENDS
from builder.backends.baseline import IMAGE, Baseline
from builder.distros import Distro
from builder.errors import InputError
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
    resolve: str = "bundle"  # linux.resolve: "vm" bundles the recipe's packages only (online mode)

    @property
    def online(self) -> bool:
        """The VM's package manager fetches the dependencies from its own repositories."""
        return self.resolve == "vm"

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
        } | ({"resolve": self.resolve} if self.online else {})

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
            *([("resolve", "vm (the VM fetches the dependencies from its repositories)")] if self.online else []),
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
    if target.online:
        _check_online(recipe, distro, baseline)
    return BuildPlan(
        **shared,
        packages=target.packages,
        repositories=target.repositories,
        check=target.check,
        recommends=target.recommends,
        baseline=baseline,
        tarball=target.tarball,
        resolve=target.resolve,
    )


# The families whose templates have an online install (templates/<family>/_online.sh.j2).
ONLINE_FAMILIES = ("apt", "dnf", "zypper")


# Why a family has no online mode, for the refusal.
_NO_ONLINE = {
    "yum": "yum 3 prefers the bundle over the VM's repositories only with the yum-plugin-priorities plugin, "
    "which RHEL 7 does not install by default (without it yum takes the newest version from any repository, "
    "not the one built), and no yum 3 is at hand to test such a string",
}


def _check_online(recipe: Recipe, distro: Distro, baseline: Baseline) -> None:
    """Refuse what cannot go with online mode, before any container starts: the VM resolves the
    dependencies against what it has, so a baseline (--full, --baseline) would choose nothing."""
    where = f"{recipe.path}: linux.resolve: vm"
    if baseline.kind == "full":
        raise InputError(
            f"{where}: --full bundles the whole closure, and online mode bundles only the recipe's packages",
            hint="drop --full, or set resolve: bundle for VMs without internet access",
        )
    if baseline.kind == "file":
        raise InputError(
            f"{where}: --baseline {baseline.source} chooses which dependencies to bundle, and online mode "
            "bundles none: the VM's package manager resolves them against what it has",
            hint="drop --baseline, or set resolve: bundle",
        )
    if distro.family not in ONLINE_FAMILIES:
        why = _NO_ONLINE.get(distro.family, "it has no online install string")
        raise InputError(
            f"{where}: online mode is not available for {distro.name} ({distro.family}): {why}",
            hint=f"build it with resolve: bundle, or for a distro of the {', '.join(ONLINE_FAMILIES)} family",
        )


def supports(distro: Distro) -> bool:
    """A Linux release is supported when vmapp-build has a backend for its package family."""
    return distro.family in BACKENDS
