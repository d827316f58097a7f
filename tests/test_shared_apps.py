"""Several applications on one VM that share packages (shared/AZURE.md: a VM runs several applications).

Real builds, real apt in one network-less debian:12 container. `sharea` and `shareb` both name jq;
`sharec` names libonig5, a dependency that sharea's install adds. Removing one application must never
take what another still needs (its check keeps working, its packages stay, with their marks); once
every application is removed, nothing any of them added is left.
"""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest

from builder.container import Container
from builder.lifecycle import Build, Replay, bare, load_build
from builder.pipeline import build
from builder.plan import make_plan
from builder.recipe import load_recipe
from builder.render import LEDGER_ROOT
from tests.conftest import DISTRO, write_recipe

pytestmark = pytest.mark.docker

RECIPES = {"sharea": "[jq]", "shareb": "[jq]", "sharec": "[libonig5]"}


@pytest.fixture(scope="session")
def apps(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Build]:
    """The three applications, built once per session."""
    root = tmp_path_factory.mktemp("shared")
    builds = {}
    for name, packages in RECIPES.items():
        text = f"name: {name}\nversion: 1.0.0\nlinux:\n  packages: {packages}\n"
        recipe = write_recipe(root, text, f"{name}.yaml")
        builds[name] = load_build(
            build(make_plan(load_recipe(recipe), DISTRO, root / "dist"), docker_client).manifest.parent
        )
    return builds


@pytest.fixture
def vm(docker_client: docker.DockerClient) -> Iterator[Container]:
    with Container(docker_client, "debian:12", "verify", network=False) as c:
        yield c


class VM:
    """The applications installed on one VM; checks what each still installed needs after every step.

    One Replay per application runs its strings as the extension does; their single-application checks
    do not apply here (another application's packages are neither the VM's nor the owner's)."""

    def __init__(self, c: Container, apps: dict[str, Build]) -> None:
        self.c, self.apps = c, apps
        self.replays = {name: Replay.start(c, build) for name, build in apps.items()}
        self.base = bare(next(iter(self.replays.values())).base)
        self.installed: list[str] = []

    def install(self, name: str) -> None:
        self.replays[name].install(self.apps[name])
        self.installed.append(name)
        self.check(f"install {name}")

    def remove(self, name: str) -> None:
        self.replays[name].remove()
        self.installed.remove(name)
        self.check(f"remove {name}")

    def check(self, where: str) -> None:
        names = bare(self.replays[next(iter(self.apps))].packages())
        # what the owner's own `apt-get autoremove` would take: never what an application needs
        simulated = self.c.run(["apt-get", "-s", "autoremove"], "simulate autoremove").stdout.splitlines()
        autoremoved = {line.split()[1] for line in simulated if line.startswith("Remv ")}
        for app in self.installed:
            missing = self.apps[app].bundled - names
            assert not missing, f"after {where}: {app} lost {sorted(missing)}"
            doomed = self.apps[app].bundled & autoremoved
            assert not doomed, f"after {where}: apt-get autoremove would take {app}'s {sorted(doomed)}"
            if "jq" in self.apps[app].manifest["recipe"]["packages"]:
                check = self.c.run(["jq", "--version"], "check", check=False)
                assert check.exit_code == 0, f"after {where}: {app} is broken"
        if not self.installed:
            left, lost = sorted(names - self.base), sorted(self.base - names)
            assert (left, lost) == ([], []), f"after {where}: left {left}, lost {lost}"
            ledgers = self.c.run(["ls", "-A", LEDGER_ROOT], "ledgers", check=False).stdout.split()
            assert ledgers == [], f"after {where}: ledgers left: {ledgers}"


@pytest.mark.parametrize("first_removed", ["sharea", "shareb"])
def test_two_apps_naming_the_same_package(vm: Container, apps: dict[str, Build], first_removed: str) -> None:
    """A adds jq (and libjq1, libonig5); B names jq too and adds nothing. Removing either first leaves
    the other working; removing the second takes out everything."""
    machine = VM(vm, {n: apps[n] for n in ("sharea", "shareb")})
    machine.install("sharea")
    machine.install("shareb")
    machine.remove(first_removed)
    machine.remove("shareb" if first_removed == "sharea" else "sharea")


def test_second_app_names_a_dependency_the_first_added(vm: Container, apps: dict[str, Build]) -> None:
    """C names libonig5, which A's install added as jq's dependency: removing A keeps it for C."""
    machine = VM(vm, {n: apps[n] for n in ("sharea", "sharec")})
    machine.install("sharea")
    machine.install("sharec")
    machine.remove("sharea")
    machine.remove("sharec")


def test_reinstall_after_sharing(vm: Container, apps: dict[str, Build]) -> None:
    """A, B; remove A; A again; remove B; remove A: ownership moves both ways."""
    machine = VM(vm, {n: apps[n] for n in ("sharea", "shareb")})
    machine.install("sharea")
    machine.install("shareb")
    machine.remove("sharea")
    machine.install("sharea")
    machine.remove("shareb")
    machine.remove("sharea")
