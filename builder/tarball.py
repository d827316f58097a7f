"""A tarball as a payload: it ships as itself, once its SHA-256 matches the recipe's and every member
stays under its directory on the VM."""

from __future__ import annotations

from pathlib import Path

from builder.fetch import check_tarball_members, fetch
from builder.payload import Component, Payload
from builder.plan import BuildPlan
from builder.render import Commands


def fetch_tarball(plan: BuildPlan, commands: Commands, tmp: Path) -> Payload:
    """The recipe's tarball, fetched into the build's temp dir and checked."""
    assert plan.tarball is not None, "the pipeline hands only tarball plans to this stage"
    tarball = plan.tarball
    where = f"{plan.recipe_path}: linux.tarball"
    package = fetch(tarball.source, tarball.sha256, tmp / plan.package_file_name, f"{where}.source")
    check_tarball_members(package, where)
    size = package.stat().st_size
    sections = {
        **plan.manifest_sections(),
        "image": {"name": plan.image, "id": None},
        "baseline": {"kind": "none"},
        "packages": [],
        "tarball": {"source": tarball.source, "sha256": tarball.sha256, "directory": tarball.directory, "size": size},
        "discovery": {},
    }
    component = Component(name=plan.package_file_name, sha256=tarball.sha256.lower())  # checked against it by fetch
    return Payload(package, commands.as_dict(), sections, size, 1, (component,))
