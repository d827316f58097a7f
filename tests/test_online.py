"""Online mode (linux.resolve: vm): the bundle holds the recipe's packages, the VM's apt fetches the rest.

Real apt in debian:12 containers with their own network reaching Debian's archive: jq's bundle holds
jq alone, install pulls libjq1 and libonig5 from the archive, remove takes them out again, and an
update from an older version and RemoveForUpdate keep the offline ledger's guarantees. The refusals
need no engine.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from dataclasses import replace
from pathlib import Path

import docker
import pytest

from builder.backends.base import Collected, Origin, PackageInfo, Sources
from builder.backends.baseline import FULL, load_baseline
from builder.container import Container
from builder.errors import InputError, RecipeError
from builder.lifecycle import Build, bare, load_build
from builder.lifecycle.verify import verify_packages
from builder.lock import load_lock
from builder.online import online_selection
from builder.pipeline import build
from builder.plan import BuildPlan, make_plan
from builder.rebuild.check import SAME_CLOSURE, _closure
from builder.rebuild.refreshed import Refreshed
from builder.recipe import Repository, load_recipe
from builder.render import render_commands
from tests.conftest import DISTRO, run_cli, write_recipe
from tests.rpm_images import KEY_PATH, REPO_DIR, fixture_image

ONLINE = "linux:\n  packages: [jq]\n  resolve: vm\n  check: jq --version\n"


def recipe_text(version: str = "1.0.0", linux: str = ONLINE) -> str:
    return f"name: jqnet\nversion: {version}\ndescription: jq, online\n{linux}"


@pytest.fixture(scope="module")
def online_builds(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Build]:
    """jqnet 1.0.0 and 1.0.1 in online mode, in one --out root."""
    root = tmp_path_factory.mktemp("online")
    builds = {}
    for version in ("1.0.0", "1.0.1"):
        recipe = write_recipe(root, recipe_text(version), f"jqnet-{version}.yaml")
        result = build(make_plan(load_recipe(recipe), DISTRO, root / "dist"), docker_client)
        builds[version] = load_build(result.manifest.parent)
    return builds


def test_bundle_holds_only_the_recipe_package(online_builds: dict[str, Build]) -> None:
    built = online_builds["1.0.0"]
    assert [p["name"] for p in built.manifest["packages"]] == ["jq"]
    with gzip.open(built.package) as gz, tarfile.open(fileobj=io.BytesIO(gz.read())) as tar:
        members = sorted(tar.getnames())
    assert members == ["Packages", built.manifest["packages"][0]["file"]]
    assert {"libjq1", "libonig5"} <= built.fetched  # what the VM's apt is expected to fetch
    assert built.manifest["recipe"]["resolve"] == "vm"


def test_update_from_an_older_version(online_builds: dict[str, Build]) -> None:
    """apt fetches libjq1 and libonig5 from Debian's archive, remove takes them out again. install
    1.0.0, update to 1.0.1, remove; 1.0.0 again over its stale directory, RemoveForUpdate
    (the old remove with the new bytes under the old name), remove: checked after every step."""
    report = verify_packages(online_builds["1.0.1"].directory, update_from=online_builds["1.0.0"].directory)
    assert report.setting.startswith("online")  # the image's own network: apt fetched the dependencies
    assert {"jq", "libjq1", "libonig5"} <= bare(report.after_install) - bare(report.before)
    assert bare(report.after_remove) == bare(report.before)


def test_rebuild_compares_only_the_bundled_packages_with_the_lock(
    docker_client: docker.DockerClient, online_builds: dict[str, Build]
) -> None:
    """The solver's closure holds libjq1 and libonig5 too; an online lock does not: still unchanged."""
    built = online_builds["1.0.1"]
    plan = make_plan(load_recipe(Path(built.manifest["recipe"]["path"])), DISTRO, built.directory.parents[2])
    assert isinstance(plan, BuildPlan)
    with Refreshed() as refreshed:
        verdict = _closure(plan, load_lock(built.directory) or {}, docker_client, refreshed)
    assert verdict == SAME_CLOSURE, verdict.reason


def test_install_without_network_fails(docker_client: docker.DockerClient, online_builds: dict[str, Build]) -> None:
    """A VM that cannot reach its repositories: install exits non-zero (the offline bundle is for it)."""
    built = online_builds["1.0.0"]
    with Container(docker_client, "debian:12", "verify", network=False) as c:
        c.run(["mkdir", "-p", built.workdir], "download directory")
        c.put_file(built.package, built.workdir, built.package.name)
        result = c.run(["sh", "-c", f"cd {built.workdir} && {built.command('install')}"], "install", check=False)
        assert result.exit_code != 0
        assert "libjq1" in result.output  # apt names the dependency it could not get


# -- no engine needed ------------------------------------------------------------------------------


def test_unknown_resolve_mode_is_refused(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, recipe_text(linux="linux:\n  packages: [jq]\n  resolve: online\n"))
    with pytest.raises(RecipeError, match=r"linux\.resolve: 'online' is not a resolve mode"):
        load_recipe(path)


def test_online_tarball_is_refused(tmp_path: Path) -> None:
    linux = (
        "linux:\n  resolve: vm\n  tarball:\n    source: https://example.org/x.tar.gz\n"
        f'    sha256: "{"0" * 64}"\n    directory: /opt/x\n'
    )
    with pytest.raises(RecipeError, match=r"linux\.resolve: resolve: vm .* a tarball has none"):
        load_recipe(write_recipe(tmp_path, recipe_text(linux=linux)))


def test_per_distro_override_sets_the_mode(tmp_path: Path) -> None:
    linux = "linux:\n  packages: [jq]\n  resolve: vm\n  distros:\n    debian-11:\n      resolve: bundle\n"
    recipe = load_recipe(write_recipe(tmp_path, recipe_text(linux=linux)))
    assert recipe.linux_for("debian-12").online
    assert not recipe.linux_for("debian-11").online


def test_full_baseline_and_rpm_families_are_refused(tmp_path: Path) -> None:
    recipe = load_recipe(write_recipe(tmp_path, recipe_text()))
    with pytest.raises(InputError, match="--full bundles the whole closure"):
        make_plan(recipe, DISTRO, tmp_path, baseline=FULL)
    status = tmp_path / "vm.txt"
    status.write_text("libc6\t2.36-9\n")
    with pytest.raises(InputError, match=r"--baseline .* bundles none"):
        make_plan(recipe, DISTRO, tmp_path, baseline=load_baseline(status))
    with pytest.raises(InputError, match=r"not available for rhel-7 \(yum\): yum 3 prefers the bundle .* plugin"):
        make_plan(recipe, "rhel-7", tmp_path)


def test_cli_refuses_full_with_exit_2(tmp_path: Path) -> None:
    path = write_recipe(tmp_path, recipe_text())
    result = run_cli("recipe", path, "--distro", DISTRO, "--full", "--dry-run")
    assert result.returncode == 2, result.stderr
    assert "linux.resolve: vm: --full" in result.stderr


def test_strings_differ_from_offline_only_in_the_sources(tmp_path: Path) -> None:
    """Remove and the ledger are the offline ones; install and update add the VM's sources and the pin."""
    online = make_plan(load_recipe(write_recipe(tmp_path, recipe_text(), "a.yaml")), DISTRO, tmp_path)
    offline_text = recipe_text(linux="linux:\n  packages: [jq]\n  check: jq --version\n")
    offline = make_plan(load_recipe(write_recipe(tmp_path, offline_text, "b.yaml")), DISTRO, tmp_path)
    on, off = render_commands(online), render_commands(offline)
    assert on.remove == off.remove
    assert on.update is not None and "Pin-Priority: 990" in on.update
    removed = set(off.install.splitlines()) - set(on.install.splitlines())
    assert removed == {'echo "deb [trusted=yes] file:$b/repo ./" >"$b/sources.list"'}
    assert len(on.install.splitlines()) == len(off.install.splitlines()) + 4  # templates/apt/_online.sh.j2


def test_zypper_strings_differ_from_offline_only_in_the_install(tmp_path: Path) -> None:
    """zypper: remove is the offline one; install and update add the bundle's priority and the VM's
    repositories (templates/zypper/_online.sh.j2), within Azure's 4096 characters."""
    online = make_plan(load_recipe(write_recipe(tmp_path, recipe_text(), "a.yaml")), "sles-15", tmp_path)
    offline_text = recipe_text(linux="linux:\n  packages: [jq]\n  check: jq --version\n")
    offline = make_plan(load_recipe(write_recipe(tmp_path, offline_text, "b.yaml")), "sles-15", tmp_path)
    on, off = render_commands(online), render_commands(offline)
    assert on.remove == off.remove
    assert on.update is not None and "--priority 1" in on.update and "--priority 1" not in off.install
    assert max(len(on.install), len(on.update)) < 4096


def test_selection_keeps_recipe_packages_and_third_party_ones(tmp_path: Path) -> None:
    """The recipe's packages and what came from a recipe repository stay; the distro's go (the VM
    fetches them), each recorded with its version."""
    repo = Repository("vendor", "https://vendor.example/apt/", "stable", ("main",))
    text = recipe_text(linux="linux:\n  packages: [app]\n  resolve: vm\n")
    plan = make_plan(load_recipe(write_recipe(tmp_path, text)), DISTRO, tmp_path)
    assert isinstance(plan, BuildPlan)
    plan = replace(plan, repositories=(repo,))
    names = {"app_1_amd64.deb": "app", "applib_2_amd64.deb": "applib", "libc_3_amd64.deb": "libfoo"}
    collected = Collected({f: PackageInfo(n, f.split("_")[1], "amd64") for f, n in names.items()})
    origins = {
        "app_1_amd64.deb": Origin("https://vendor.example/apt"),
        "applib_2_amd64.deb": Origin("https://vendor.example/apt"),
        "libc_3_amd64.deb": Origin("http://deb.debian.org/debian", "bookworm", "main"),
    }
    fetched = online_selection(plan, collected, Sources(origins, ()))
    assert fetched == {"libc_3_amd64.deb": {"name": "libfoo", "version": "3", "architecture": "amd64"}}


# -- dnf and zypper: the VM's configured repository is the suite's own test repository --------------
# (tests/rpm_images.py). zypper's checks the metadata's and packages' signatures with the key the
# image imported, as a SLES's own repositories do.

VM_REPOS = {
    "dnf": ("/etc/yum.repos.d", "[vt]\nname=vt\nbaseurl=file://{dir}\nenabled=1\ngpgcheck=0\n", ""),
    "zypper": (
        "/etc/zypp/repos.d",
        "[vt]\nname=vt\nbaseurl=file://{dir}\nenabled=1\nautorefresh=1\ntype=rpm-md\ngpgcheck=1\n"
        f"pkg_gpgcheck=1\ngpgkey=file://{KEY_PATH}\n",
        f"rpm --import {KEY_PATH}",
    ),
}
DISTROS = {"dnf": "rhel-9", "zypper": "sles-15"}


def online_image(client: docker.DockerClient, family: str) -> str:
    """The family's fixture image (vt-base installed) with the test repository as the VM's own."""
    base = fixture_image(client, family)
    image = f"vmapp-test/{family}-online:{base.rsplit(':', 1)[1]}"
    if not client.images.list(name=image):
        directory, text, trust = VM_REPOS[family]
        with Container(client, base, "image", labelled=False) as box:
            script = f'mkdir -p {directory} && printf %s "$1" >{directory}/vt.repo {"&& " + trust if trust else ""}'
            box.run(["sh", "-c", script, "sh", text.format(dir=REPO_DIR)], "configure the VM's repository")
            box.handle.commit(*image.rsplit(":", 1))
    return image


def online_vt_build(client: docker.DockerClient, root: Path, family: str) -> Build:
    """vt-app in online mode, built in (and verified on) the family's online image: the recipe adds no
    repository."""
    text = "name: vtnet\nversion: 1.0.0\nlinux:\n  packages: [vt-app]\n  resolve: vm\n  check: vt-app\n"
    recipe = load_recipe(write_recipe(root, text, "vtnet.yaml"))
    image = online_image(client, family)
    return load_build(build(make_plan(recipe, DISTROS[family], root / "dist", image=image), client).manifest.parent)


@pytest.mark.parametrize("family", ["dnf", "zypper"])
def test_rpm_bundle_holds_vt_app_and_the_vm_fetches_the_rest(
    docker_client: docker.DockerClient, tmp_path: Path, family: str
) -> None:
    """dnf or zypper installs vt-app from the bundle and its dependencies from the VM's repository;
    remove takes them all out (update from an older version is the apt test's: the ledger is the
    offline one)."""
    built = online_vt_build(docker_client, tmp_path, family)
    assert [p["name"] for p in built.manifest["packages"]] == ["vt-app"]
    assert {"vt-lib", "vt-helper", "vt-keep"} <= built.fetched
    report = verify_packages(built.directory)
    assert {"vt-app", "vt-lib", "vt-helper", "vt-keep"} <= bare(report.after_install) - bare(report.before)
    assert bare(report.after_remove) == bare(report.before)
