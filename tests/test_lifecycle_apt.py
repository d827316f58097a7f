"""The extension's real lifecycle (shared/AZURE.md), replayed with real apt in debian:12 containers.

Older version directories outlive the application, RemoveForUpdate runs the old remove string with the
new package's bytes under the old name, and the VM's owner installs packages by hand between
lifecycles: what install, update and remove keep must stay right through all of it (builder.lifecycle
checks the package set after every step).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import docker
import pytest
from docker.errors import ImageNotFound

from builder.container import Container
from builder.lifecycle import Build, Replay, load_build
from builder.pipeline import build
from builder.plan import make_plan
from builder.recipe import load_recipe
from builder.render import LEDGER_ROOT
from tests.conftest import DISTRO, SESSION, run_cli, write_recipe

pytestmark = pytest.mark.docker

VERSIONS = ["1.0.0", "1.0.1", "1.0.2", "1.0.3"]
OLD_ONIG = "6.9.8-0vmapp1"  # older than bookworm's libonig5 6.9.8-1


@pytest.fixture(scope="session")
def jqapp(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Build]:
    """Four versions of one application (jq, whose bundle also carries libjq1 and libonig5), in one
    --out root, built once per session."""
    root = tmp_path_factory.mktemp("lifecycle")
    builds = {}
    for version in VERSIONS:
        text = f"name: jqapp\nversion: {version}\nlinux:\n  packages: [jq]\n  check: jq --version\n"
        recipe = write_recipe(root, text, f"jqapp-{version}.yaml")
        result = build(make_plan(load_recipe(recipe), DISTRO, root / "dist"), docker_client)
        builds[version] = load_build(result.manifest.parent)
    return builds


@pytest.fixture(scope="session")
def jqonig(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Build:
    """A recipe that names a dependency (libonig5) as well as jq."""
    root = tmp_path_factory.mktemp("jqonig")
    recipe = write_recipe(root, "name: jqonig\nversion: 1.0.0\nlinux:\n  packages: [jq, libonig5]\n")
    return load_build(build(make_plan(load_recipe(recipe), DISTRO, root / "dist"), docker_client).manifest.parent)


@pytest.fixture
def vm(docker_client: docker.DockerClient) -> Iterator[Container]:
    with Container(docker_client, "debian:12", "verify", network=False) as c:
        yield c


def owner_has(c: Container, name: str) -> bool:
    argv = ["dpkg-query", "-W", "-f=${db:Status-Abbrev}", name]
    return c.run(argv, "query", check=False).stdout.startswith("ii")


def assert_clean(replay: Replay) -> None:
    replay.fail_on_problems()  # raises VerifyError with every problem the checks found
    assert replay.problems == []


def test_hand_installed_dependency_survives_install_update_remove(vm: Container, jqapp: dict[str, Build]) -> None:
    """The issue's sequence: 1.0.0 -> 1.0.1 -> remove -> the owner installs libonig5 -> 1.0.2 -> 1.0.3 ->
    remove. The stale 1.0.0 directory must not make the last remove purge the owner's libonig5."""
    replay = Replay.start(vm, jqapp["1.0.0"])
    replay.install(jqapp["1.0.0"])
    ledger = f"{LEDGER_ROOT}/jqapp"
    mode = vm.run(["stat", "-c", "%a", ledger], "mode", check=False).stdout.strip()
    first = vm.run(["cat", f"{ledger}/added"], "ledger", check=False).stdout.split()
    replay.update(jqapp["1.0.1"])
    replay.remove()
    assert replay.hand_install(*jqapp["1.0.0"].bundled_file("libonig5")) == {"libonig5"}
    replay.install(jqapp["1.0.2"])
    replay.update(jqapp["1.0.3"])
    last = vm.run(["cat", f"{ledger}/added"], "ledger", check=False).stdout.split()
    replay.remove()
    assert owner_has(vm, "libonig5")
    assert not owner_has(vm, "jq")
    assert_clean(replay)
    # the ledger: outside the download directories, private, and never the owner's package
    assert (mode, first, last) == ("700", ["jq", "libjq1", "libonig5"], ["jq", "libjq1"])


def test_reinstall_over_a_stale_directory_then_remove_for_update(vm: Container, jqapp: dict[str, Build]) -> None:
    """1.0.0 -> 1.0.1 -> RemoveForUpdate to 1.0.2 -> remove; the owner installs libonig5; 1.0.0 again
    (its directory, and whatever it kept there, is still present) -> RemoveForUpdate to 1.0.3 (1.0.0's
    remove string with 1.0.3's bytes under 1.0.0's name) -> remove."""
    replay = Replay.start(vm, jqapp["1.0.0"])
    replay.install(jqapp["1.0.0"])
    replay.update(jqapp["1.0.1"])
    replay.update(jqapp["1.0.2"], remove_for_update=True)
    replay.remove()
    replay.hand_install(*jqapp["1.0.0"].bundled_file("libonig5"))
    replay.install(jqapp["1.0.0"])
    replay.update(jqapp["1.0.3"], remove_for_update=True)
    assert "remove-for-update 1.0.0" in [name for name, _ in replay.steps]
    replay.remove()
    assert owner_has(vm, "libonig5")
    assert_clean(replay)


def test_second_update_and_update_from_an_older_version(vm: Container, jqapp: dict[str, Build]) -> None:
    """1.0.0 -> 1.0.1 -> 1.0.2 (a second update) -> remove; the owner installs libonig5; 1.0.1 again
    (stale directory) -> 1.0.3 (skipping 1.0.2) -> remove; then a reinstall after that remove."""
    replay = Replay.start(vm, jqapp["1.0.0"])
    replay.install(jqapp["1.0.0"])
    replay.update(jqapp["1.0.1"])
    replay.update(jqapp["1.0.2"])
    replay.remove()
    replay.hand_install(*jqapp["1.0.0"].bundled_file("libonig5"))
    replay.install(jqapp["1.0.1"])
    replay.update(jqapp["1.0.3"])
    replay.remove()
    replay.install(jqapp["1.0.2"])
    replay.remove()
    assert owner_has(vm, "libonig5")
    assert_clean(replay)


def test_dependency_installed_by_hand_while_installed_stays(vm: Container, jqapp: dict[str, Build]) -> None:
    """The owner installs libonig5, already there as jq's dependency, by hand while the application is
    installed (apt marks it manual): it is the owner's from then on, through an update and remove."""
    replay = Replay.start(vm, jqapp["1.0.0"])
    replay.install(jqapp["1.0.0"])
    replay.hand_install(*jqapp["1.0.0"].bundled_file("libonig5"), package="libonig5")
    replay.update(jqapp["1.0.1"])
    replay.remove()
    assert owner_has(vm, "libonig5")
    assert not owner_has(vm, "libjq1")
    assert_clean(replay)


def _owner_libonig5(c: Container, build: Build, version: str | None = None, auto: bool = False) -> None:
    """Prepare the VM before the application arrives: libonig5 from the bundle's own file, optionally
    repacked at another version, optionally marked automatically installed."""
    file_name, content = build.bundled_file("libonig5")
    c.put_bytes(content, "/root/prep", file_name)
    script = f"cd /root/prep && cp {file_name} owner.deb"
    if version:
        script = (
            f"cd /root/prep && dpkg-deb -R {file_name} x && sed -i 's/^Version: .*/Version: {version}/' "
            "x/DEBIAN/control && dpkg-deb -b x owner.deb >/dev/null"
        )
    script += " && apt-get -q -y install ./owner.deb >/dev/null"
    if auto:
        script += " && apt-mark auto libonig5"
    c.run(["sh", "-c", script], "prepare the VM")


def test_recipe_package_the_vm_had_as_auto_stays_auto(vm: Container, jqonig: Build) -> None:
    _owner_libonig5(vm, jqonig, auto=True)
    replay = Replay.start(vm, jqonig)
    replay.install(jqonig)
    showauto = ["apt-mark", "showauto", "libonig5"]
    assert vm.run(showauto, "marks").stdout.split() == ["libonig5"], "install left libonig5 marked manual"
    replay.remove()
    assert vm.run(showauto, "marks").stdout.split() == ["libonig5"]
    assert_clean(replay)


@pytest.fixture(scope="session")
def old_onig_image(docker_client: docker.DockerClient, jqonig: Build) -> Iterator[str]:
    """debian:12 with an older libonig5 than the bundle's: install upgrades it."""
    tag = f"vmapp-test/debian-old-onig:12-{SESSION}"  # per session: another session's teardown removes its own
    with Container(docker_client, "debian:12", "verify", network=False) as c:
        _owner_libonig5(c, jqonig, version=OLD_ONIG)
        c.handle.commit(*tag.split(":"))
    try:
        yield tag
    finally:
        with suppress(ImageNotFound):
            docker_client.images.remove(tag, force=True)


def test_upgraded_package_stays_upgraded_and_is_reported(
    docker_client: docker.DockerClient, jqonig: Build, old_onig_image: str
) -> None:
    with Container(docker_client, old_onig_image, "verify", network=False) as c:
        replay = Replay.start(c, jqonig)
        replay.install(jqonig)
        bundled = next(p["version"] for p in jqonig.manifest["packages"] if p["name"] == "libonig5")
        ledger = c.run(["cat", f"{LEDGER_ROOT}/jqonig/upgraded"], "ledger").stdout
        assert ledger == f"libonig5 {OLD_ONIG} {bundled}\n"
        replay.remove()
        assert f"vmapp:   libonig5 {OLD_ONIG} {bundled}" in replay.steps[-1][1].stdout
        assert replay.packages()["libonig5:amd64"] == bundled, "remove downgraded libonig5"
        assert replay.upgraded == {"libonig5:amd64": (OLD_ONIG, bundled)}
        assert_clean(replay)
    proc = run_cli("verify", jqonig.directory, "--image", old_onig_image)
    assert proc.returncode == 0, proc.stderr
    assert f"remove leaves them upgraded: libonig5:amd64 {OLD_ONIG} -> {bundled}" in proc.stdout


def test_cli_verify_update_from_replays_the_lifecycle(
    jqapp: dict[str, Build], docker_client: docker.DockerClient
) -> None:
    proc = run_cli("verify", jqapp["1.0.1"].directory, "--update-from", jqapp["1.0.0"].directory)
    assert proc.returncode == 0, proc.stderr
    for step in ("update", "owner installs libonig5_", "install (older version, again)", "remove-for-update 1.0.0"):
        assert step in proc.stdout


def test_cli_verify_update_from_fails_when_remove_takes_the_owners_package(
    jqapp: dict[str, Build], tmp_path: Path
) -> None:
    """The replay catches the bug it exists for: a remove string that purges a hand-installed package."""
    import json
    import shutil

    broken = tmp_path / "1.0.0"
    shutil.copytree(jqapp["1.0.0"].directory, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["commands"]["remove"] += "\ndpkg --purge libonig5 || :"
    (broken / "manifest.json").write_text(json.dumps(manifest))
    proc = run_cli("verify", jqapp["1.0.1"].directory, "--update-from", broken)
    assert proc.returncode == 4, proc.stdout
    assert "missing: libonig5" in proc.stderr
