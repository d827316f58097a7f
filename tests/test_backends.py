"""The backend registry, the request the closure stage builds from a plan, and how the commands,
rendered once from the plan, leave out what apt's download left out (no engine needed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from builder.backends import BACKENDS, backend_class
from builder.backends.apt import AptInstaller
from builder.backends.base import SKIPPED_LIST, Collected, Download, PackageFile, PackageInfo
from builder.closure import _members, installer_for, request_for
from builder.errors import InputError
from builder.plan import BuildPlan, make_plan
from builder.recipe import load_recipe
from builder.render import render_commands
from tests.conftest import write_recipe
from tests.narrow import linux_plan


def plan_for(tmp_path: Path, packages: str, distro: str = "debian-12") -> BuildPlan:
    recipe = write_recipe(tmp_path, f"name: mta\nversion: 1.0.0\nlinux:\n  packages: {packages}\n")
    return linux_plan(make_plan(load_recipe(recipe), distro, tmp_path / "dist", image="img"))


def test_registry_holds_classes_and_refuses_an_unknown_family() -> None:
    assert backend_class("apt", "debian-12") is AptInstaller
    assert all(isinstance(cls, type) for cls in BACKENDS.values())
    with pytest.raises(InputError, match="arch-rolling uses pacman, which vmapp-build does not support yet"):
        backend_class("pacman", "arch-rolling")


def test_the_request_carries_what_backends_read_of_the_plan(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, "[mail-transport-agent, msmtp-mta=1.8]")
    request = request_for(plan)
    assert (request.distro, request.family, request.image) == ("debian-12", "apt", "img")
    assert request.packages == ("mail-transport-agent", "msmtp-mta=1.8")
    assert request.package_names == ("mail-transport-agent", "msmtp-mta")
    assert request.where == "on debian-12 (img)"
    assert isinstance(installer_for(plan), AptInstaller)


def test_the_bundle_lists_only_what_the_download_left_out(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, "[mail-transport-agent, msmtp-mta]")
    deb = tmp_path / "msmtp-mta_1_amd64.deb"
    deb.write_bytes(b"x")
    files = [PackageFile(deb, "msmtp-mta", "1", "amd64", 1, "0" * 64)]
    collected = Collected({deb.name: PackageInfo("msmtp-mta", "1", "amd64", {"Package": "msmtp-mta"})})
    installer = installer_for(plan)
    kept = _members(installer, plan, files, collected, Download("/d", ("msmtp-mta",)))
    assert kept[SKIPPED_LIST] == b"mail-transport-agent\n"
    assert b"Filename: ./msmtp-mta_1_amd64.deb" in kept["Packages"]
    everything = _members(installer, plan, files, collected, Download("/d", plan.packages))
    assert SKIPPED_LIST not in everything  # the usual bundle: no extra member, the same bytes as before


@pytest.mark.parametrize("skipped", [b"mail-transport-agent\n", None])
def test_apt_install_asks_for_the_recipe_less_the_bundles_skipped_list(tmp_path: Path, skipped: bytes | None) -> None:
    """The install string's own lines, run in dash: `$b/pkgs` (apt's words and L/wants) is the recipe's
    list, less what the bundle says the build's download left out."""
    install = render_commands(plan_for(tmp_path, "[mail-transport-agent, msmtp-mta]")).install
    lines = install.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("printf '%s\\n' mail-transport-agent"))
    assert SKIPPED_LIST in lines[start + 1]
    repo = tmp_path / ".vmapp" / "repo"
    repo.mkdir(parents=True)
    if skipped is not None:
        (repo / SKIPPED_LIST).write_bytes(skipped)
    script = 'set -eu; b="$PWD/.vmapp"; ' + "\n".join(lines[start : start + 2]) + '\ncat "$b/pkgs"'
    out = subprocess.run(["dash", "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert out == ("msmtp-mta\n" if skipped else "mail-transport-agent\nmsmtp-mta\n")
