"""The dnf and zypper strings across the extension's real lifecycle (shared/AZURE.md, "The lifecycle"),
replayed by builder.lifecycle in one network-less container of a real dnf or zypper image.

Older version directories are never deleted, not even by remove, so state read from them outlives
the application: the strings keep theirs in the ledger /var/lib/vmapp-build/<app>. The application
`vt` names vt-app, vt-helper and vt-lib (tests/lifecycle_rpm_fixtures.py); its four versions are
real builds of the same recipe.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import docker
import pytest

from builder.container import Container
from builder.lifecycle import Build, Replay, bare
from builder.plan import make_plan
from builder.recipe import load_recipe
from builder.render import render_commands
from tests.lifecycle_rpm_fixtures import (
    DISTROS,
    SETUP_DEPENDENCY,
    build_versions,
    hand_install_command,
    is_dependency,
    ledger,
    owner_installs,
    owner_installs_file,
    owner_package,
)
from tests.rpm_images import extract_key, fixture_image, recipe_text

pytestmark = pytest.mark.docker

VERSIONS = ["1.0.0", "1.0.1", "1.0.2", "1.0.3"]


class Family:
    def __init__(self, name: str, image: str, builds: dict[str, Build]) -> None:
        self.name, self.image, self.builds = name, image, builds

    def __getitem__(self, version: str) -> Build:
        return self.builds[version]


_families: dict[str, Family] = {}


@pytest.fixture(scope="session", params=sorted(DISTROS))
def family(
    request: pytest.FixtureRequest, docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Family:
    """The family's fixture image and the four versions of vt built in it, once per session."""
    name = request.param
    if name not in _families:
        image = fixture_image(docker_client, name)
        work = tmp_path_factory.mktemp(f"lifecycle-{name}")
        key = extract_key(docker_client, image, work / "key.asc")
        _families[name] = Family(name, image, build_versions(docker_client, name, image, key, work, VERSIONS))
    return _families[name]


def first_lifecycle_then_owner(c: Container, family: Family) -> Replay:
    """install 1.0.0, update 1.0.1, remove; then the owner installs vt-helper by hand."""
    replay = Replay.start(c, family["1.0.0"])
    replay.install(family["1.0.0"])
    replay.update(family["1.0.1"])
    replay.remove()
    owner_installs(replay, family["1.0.0"], "vt-helper")
    return replay


def test_owner_package_survives_stale_directories(family: Family, docker_client: docker.DockerClient) -> None:
    """The issue's sequence: install 1.0.0, update 1.0.1, remove; the owner installs vt-helper by
    hand; install 1.0.2, update 1.0.3, remove. The last remove must leave the owner's vt-helper
    (1.0.0's directory, still there, lists it as the application's)."""
    with Container(docker_client, family.image, "lifecycle", network=False) as c:
        replay = first_lifecycle_then_owner(c, family)
        replay.install(family["1.0.2"])
        assert "vt-helper.noarch" not in ledger(c, "vt", "added")
        replay.update(family["1.0.3"])
        replay.remove()
        replay.fail_on_problems()
        assert replay.owner == {"vt-helper"}
        # the stale directories keep no extracted copy of their bundle
        found = c.run(["find", f"{family['1.0.0'].workdir}/..", "-name", "*.rpm", "-path", "*/.vmapp/*"], "find")
        assert found.stdout == ""


def test_remove_for_update_after_reinstalling_into_a_stale_directory(
    family: Family, docker_client: docker.DockerClient
) -> None:
    """install 1.0.0, update 1.0.1, remove; the owner installs vt-helper; 1.0.0 again (its old
    directory is still there); RemoveForUpdate to 1.0.1 (1.0.0's remove, in 1.0.0's directory, with
    1.0.1's bytes under the old name); update straight to 1.0.3; remove."""
    with Container(docker_client, family.image, "lifecycle", network=False) as c:
        replay = first_lifecycle_then_owner(c, family)
        replay.install(family["1.0.0"])
        replay.update(family["1.0.1"], remove_for_update=True)
        assert "remove-for-update 1.0.0" in [name for name, _ in replay.steps]
        replay.update(family["1.0.3"])  # a second update in a row, skipping 1.0.2
        assert {"vt-app.noarch", "vt-helper.noarch"} - set(ledger(c, "vt", "added")) == {"vt-helper.noarch"}
        replay.remove()
        replay.fail_on_problems()


def test_a_dependency_the_vm_had_keeps_its_mark_and_its_upgrade(
    family: Family, docker_client: docker.DockerClient
) -> None:
    """The VM has vt-lib 1.0 as a dependency; the recipe names vt-lib, and install upgrades it to
    1.2 (vt-app needs 1.1 or later). vt-lib stays marked as a dependency, is not the application's,
    is recorded as upgraded, and stays at 1.2 after remove (remove never downgrades)."""
    with Container(docker_client, family.image, "lifecycle", network=False) as c:
        c.run(["sh", "-c", SETUP_DEPENDENCY[family.name]], "install vt-lib 1.0 as a dependency")
        assert is_dependency(c, family.name, "vt-lib")
        replay = Replay.start(c, family["1.0.0"])
        assert replay.base["vt-lib:noarch"] == "1.0-1"
        replay.install(family["1.0.0"])
        assert replay.packages()["vt-lib:noarch"] == "1.2-1"
        assert is_dependency(c, family.name, "vt-lib"), "install took vt-lib's dependency mark"
        assert "vt-lib.noarch" not in ledger(c, "vt", "added")
        assert ledger(c, "vt", "upgraded") == ["vt-lib.noarch 1.0-1 1.2-1"]
        replay.remove()
        replay.fail_on_problems()
        assert replay.packages()["vt-lib:noarch"] == "1.2-1"
        assert replay.upgraded == {"vt-lib:noarch": ("1.0-1", "1.2-1")}
        assert is_dependency(c, family.name, "vt-lib"), "remove took vt-lib's dependency mark"
        assert "vt-lib.noarch 1.0-1 1.2-1" in replay.steps[-1][1].stdout


def test_remove_keeps_what_the_owners_own_package_needs(family: Family, docker_client: docker.DockerClient) -> None:
    """While vt is installed, the owner installs a package of their own that requires vt-helper (one
    of vt's recipe packages). remove takes out all else vt added, but neither vt-helper nor the
    owner's package (removing vt-helper by name would have taken it along)."""
    with Container(docker_client, family.image, "lifecycle", network=False) as c:
        replay = Replay.start(c, family["1.0.0"])
        replay.install(family["1.0.0"])
        owner_installs_file(replay, owner_package(c, "owner-tool", "Requires: vt-helper"))
        assert replay.owner == {"owner-tool"}
        replay.owner.add("vt-helper")  # the owner's package needs it: it is theirs from now on
        replay.remove()
        replay.fail_on_problems()


def test_remove_takes_what_only_a_weak_dependency_keeps(family: Family, docker_client: docker.DockerClient) -> None:
    """The VM has a package that recommends vt-tls-a and vt-tls-b; vt's install adds one of them (for
    vt-app's `(vt-tls-a or vt-tls-b)`). dnf and zypper then count it as needed, but it is vt's and
    nothing requires it: remove takes it out too (rpm's own test of removing it alone)."""
    with Container(docker_client, family.image, "lifecycle", network=False) as c:
        tool = owner_package(c, "vm-tool", "Recommends: vt-tls-a", "Recommends: vt-tls-b")
        c.run(["sh", "-c", hand_install_command(family.name, tool)], "install vm-tool")
        replay = Replay.start(c, family["1.0.0"])
        assert "vm-tool" in bare(replay.base)
        replay.install(family["1.0.0"])
        assert bare(replay.packages()) & {"vt-tls-a", "vt-tls-b"}
        replay.remove()
        replay.fail_on_problems()


def test_a_package_the_owner_marks_as_theirs_stays(family: Family, docker_client: docker.DockerClient) -> None:
    """dnf: while vt is installed, the owner marks vt-keep (one of the dependencies it added) as
    installed by the user (`dnf mark install`): it is the owner's from then on, and remove keeps it.
    (zypper has no such command: installing an installed package by hand changes no mark.)"""
    if family.name != "dnf":
        pytest.skip("zypper has no command that marks a package as the user's")
    with Container(docker_client, family.image, "lifecycle", network=False) as c:
        replay = Replay.start(c, family["1.0.0"])
        replay.install(family["1.0.0"])
        c.run(["dnf", "-q", "-y", "--noplugins", "mark", "install", "vt-keep"], "the owner marks vt-keep")
        replay.update(family["1.0.1"])
        assert "vt-keep.noarch" not in ledger(c, "vt", "added")
        replay.owner.add("vt-keep")
        replay.remove()
        replay.fail_on_problems()


@pytest.mark.parametrize("distro", ["rhel-7", "rhel-8", "sles-15"])
def test_rpm_strings_keep_state_only_in_the_ledger(distro: str, tmp_path: Path) -> None:
    """No engine: every RPM string (yum 3's too, which cannot run here) names the ledger and reads
    no other version's directory, and twenty long package names still fit Azure's 4096 characters."""
    names = [f"vt-package-with-a-long-name-{i:02d}" for i in range(20)]
    recipe = tmp_path / "vt.yaml"
    recipe.write_text(recipe_text(names, tmp_path / "key.asc"))
    commands = render_commands(make_plan(load_recipe(recipe), distro, tmp_path / "dist", image="x"))
    for kind, command in commands.as_dict().items():
        assert subprocess.run(["dash", "-n", "-c", command]).returncode == 0, kind
        assert len(command) <= 4096, (kind, len(command))
        assert "L=/var/lib/vmapp-build/vt\n" in command and "../" not in command
    assert commands.update == commands.install.replace("vmapp: installed", "vmapp: updated to")
    assert 'rm -rf "$L"' in commands.remove and "tar " not in commands.remove  # never reads the package
    if distro == "rhel-7":
        assert "yumdb set reason dep" in commands.install
