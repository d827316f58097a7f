"""Helpers for replaying the extension's lifecycle on the RPM families (tests/test_lifecycle_rpm.py).

The test application `vt` names vt-app, vt-helper (also a dependency of vt-app, through its file
/usr/bin/vt-helper) and vt-lib; the images are tests/rpm_images.py's. What an owner does by hand
(install a package file, mark a package as a dependency) is done here with the VM's own tools.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import docker

from builder.container import Container
from builder.lifecycle import Build, Replay, bare, load_build
from builder.pipeline import build
from builder.plan import make_plan
from builder.recipe import load_recipe
from builder.render import LEDGER_ROOT
from tests.rpm_images import REPO_DIR, recipe_text, spec

DISTROS = {"dnf": "rhel-9", "zypper": "sles-15"}
APP_PACKAGES = ["vt-app", "vt-helper", "vt-lib"]

# How the VM's owner installs a package file by hand, offline. The test packages are signed with a
# key the images do not have: dnf does not check local files, zypper is told not to.
HAND_INSTALL = {
    "dnf": ["dnf", "-q", "-y", "--noplugins", "install"],
    "zypper": ["zypper", "--non-interactive", "--no-gpg-checks", "install"],
}
# The VM had vt-lib 1.0, marked as installed as a dependency (libzypp keeps that mark in AutoInstalled).
_DNF_LOCAL = f"--repofrompath=t,file://{REPO_DIR} --repo=t --setopt=t.gpgcheck=0"
SETUP_DEPENDENCY = {
    "dnf": f"dnf -q -y --noplugins {_DNF_LOCAL} install vt-lib-1.0 && dnf -q -y --noplugins mark remove vt-lib",
    "zypper": f"zypper --non-interactive --no-gpg-checks install {REPO_DIR}/vt-lib-1.0-1.noarch.rpm"
    " && echo vt-lib >>/var/lib/zypp/AutoInstalled",
}
IS_DEPENDENCY = {
    "dnf": 'test "$(dnf -q --noplugins repoquery --installed --qf \'%{reason}\' "$1")" = dependency',
    "zypper": 'grep -qxF "$1" /var/lib/zypp/AutoInstalled',
}


def build_versions(
    client: docker.DockerClient, family: str, image: str, key: Path, work: Path, versions: list[str]
) -> dict[str, Build]:
    """Build the test application for real, once per version (each version is its own bundle)."""
    builds = {}
    for version in versions:
        recipe = work / f"vt-{version}.yaml"
        recipe.write_text(recipe_text(APP_PACKAGES, key, version=version))
        result = build(make_plan(load_recipe(recipe), DISTROS[family], work / "dist", image), client)
        builds[version] = load_build(result.manifest.parent)
    return builds


def owner_installs(replay: Replay, build: Build, name: str) -> None:
    """The owner installs the bundle's package `name` by hand, with the VM's package manager."""
    file_name, content = build.bundled_file(name)
    replay.c.put_bytes(content, "/root/owner", file_name)
    owner_installs_file(replay, f"/root/owner/{file_name}")


def owner_installs_file(replay: Replay, path: str) -> None:
    before = bare(replay.packages())
    replay.c.run(["sh", "-c", hand_install_command(replay.family, path)], f"owner installs {path}")
    replay.owner |= bare(replay.packages()) - before
    replay.check()


def owner_package(c: Container, name: str, *lines: str) -> str:
    """Build, in the VM, a package of the owner's own with these spec lines (Requires:, Recommends:);
    its path."""
    c.put_bytes(spec(name, "1.0", list(lines), {}).encode(), "/root/owner", f"{name}.spec")
    argv = ["rpmbuild", "-bb", "--quiet", "--define", "_topdir /root/rpmbuild", f"/root/owner/{name}.spec"]
    c.run(argv, f"build the owner's package {name}")
    return f"/root/rpmbuild/RPMS/noarch/{name}-1.0-1.noarch.rpm"


def hand_install_command(family: str, path: str) -> str:
    return shlex.join([*HAND_INSTALL[family], path])


def is_dependency(c: Container, family: str, name: str) -> bool:
    return c.run(["sh", "-c", IS_DEPENDENCY[family], "sh", name], "read the mark", check=False).exit_code == 0


def ledger(c: Container, app: str, name: str) -> list[str]:
    """One file of the application's ledger, as lines ([] when it does not exist)."""
    result = c.run(["cat", f"{LEDGER_ROOT}/{app}/{name}"], "read the ledger", check=False)
    return result.stdout.splitlines() if result.exit_code == 0 else []
