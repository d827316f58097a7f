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
from tests.lifecycle_rpm_fixtures import DISTROS
from tests.rpm_images import extract_key, fixture_image, recipe_text

pytestmark = pytest.mark.docker

UNNEEDED = {
    "apt": "apt-get -s autoremove",
    "dnf": "dnf -q --noplugins --disablerepo='*' repoquery --unneeded --qf '%{name}'",
    "zypper": "zypper --non-interactive --no-refresh packages --unneeded",
}
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

    def __init__(self, c: Container, apps: dict[str, Build], checks: dict[str, str] | None = None) -> None:
        self.c, self.apps = c, apps
        self.checks = checks if checks is not None else {"sharea": "jq --version", "shareb": "jq --version"}
        self.family = next(iter(apps.values())).family
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
        # what the owner's own package manager would take as unneeded: never what an application needs
        unneeded = self.unneeded()
        for app in self.installed:
            missing = self.apps[app].bundled - names
            assert not missing, f"after {where}: {app} lost {sorted(missing)}"
            doomed = self.apps[app].bundled & unneeded
            assert not doomed, f"after {where}: the package manager would autoremove {app}'s {sorted(doomed)}"
            if app in self.checks:
                check = self.c.run(["sh", "-c", self.checks[app]], "check", check=False)
                assert check.exit_code == 0, f"after {where}: {app} is broken: {check.stderr}"
        if not self.installed:
            left, lost = sorted(names - self.base), sorted(self.base - names)
            assert (left, lost) == ([], []), f"after {where}: left {left}, lost {lost}"
            ledgers = self.c.run(["ls", "-A", LEDGER_ROOT], "ledgers", check=False).stdout.split()
            assert ledgers == [], f"after {where}: ledgers left: {ledgers}"

    def unneeded(self) -> set[str]:
        """Package names the VM's package manager would remove as no longer needed."""
        out = self.c.run(["sh", "-c", UNNEEDED[self.family]], "ask what is unneeded").stdout.splitlines()
        if self.family == "apt":
            return {line.split()[1] for line in out if line.startswith("Remv ")}
        if self.family == "zypper":
            return {line.split("|")[2].strip() for line in out if line.count("|") >= 4}
        return {line.strip() for line in out if line.strip()}


def ledger(c: Container, app: str, name: str) -> list[str]:
    return c.run(["cat", f"{LEDGER_ROOT}/{app}/{name}"], "read the ledger").stdout.split()


@pytest.mark.parametrize("first_removed", ["sharea", "shareb"])
def test_two_apps_naming_the_same_package(vm: Container, apps: dict[str, Build], first_removed: str) -> None:
    """A adds jq (and libjq1, libonig5); B names jq too and adds nothing. Removing either first leaves
    the other working; removing the second takes out everything."""
    machine = VM(vm, {n: apps[n] for n in ("sharea", "shareb")})
    machine.install("sharea")
    machine.install("shareb")
    other = "shareb" if first_removed == "sharea" else "sharea"
    assert ledger(vm, other, "wants") == ["jq"]
    machine.remove(first_removed)
    # what the first added and the other still needs is the other's now: its remove takes it out
    assert set(ledger(vm, other, "added")) == {"jq", "libjq1", "libonig5"}
    machine.remove(other)


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


@pytest.fixture(scope="session", params=sorted(DISTROS))
def rpm_apps(
    request: pytest.FixtureRequest, docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, dict[str, Build]]:
    """The RPM test repository's vt (vt-app, vt-helper, vt-lib) and vtb (vt-app only), built for real
    in the family's fixture image; the image and both builds."""
    family = request.param
    image = fixture_image(docker_client, family)
    work = tmp_path_factory.mktemp(f"shared-{family}")
    key = extract_key(docker_client, image, work / "key.asc")
    builds = {}
    for name, packages in {"vt": ["vt-app", "vt-helper", "vt-lib"], "vtb": ["vt-app"]}.items():
        recipe = work / f"{name}.yaml"
        recipe.write_text(recipe_text(packages, key).replace("name: vt\n", f"name: {name}\n", 1))
        result = build(make_plan(load_recipe(recipe), DISTROS[family], work / "dist", image), docker_client)
        builds[name] = load_build(result.manifest.parent)
    return image, builds


@pytest.mark.parametrize("first_removed", ["vt", "vtb"])
def test_rpm_two_apps_naming_the_same_package(
    docker_client: docker.DockerClient, rpm_apps: tuple[str, dict[str, Build]], first_removed: str
) -> None:
    """vt adds vt-app and all it needs; vtb names vt-app too and adds nothing. Either removed first
    leaves the other working; the second removed takes out everything."""
    image, apps = rpm_apps
    with Container(docker_client, image, "verify", network=False) as c:
        machine = VM(c, apps, {"vt": "vt-app", "vtb": "vt-app"})
        machine.install("vt")
        machine.install("vtb")
        machine.remove(first_removed)
        machine.remove("vtb" if first_removed == "vt" else "vt")
