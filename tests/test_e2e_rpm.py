"""End to end for the RPM families in real containers: Debian's real dnf and zypper, pointed at a
signed RPM repository the tests build (tests/rpm_images.py), then the bundle verified offline."""

from __future__ import annotations

import json
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from builder.backends.baseline import FULL, load_baseline
from builder.container import Container
from builder.errors import VerifyError
from builder.pipeline import BuildResult, build
from builder.plan import make_plan
from builder.recipe import load_recipe
from builder.verify import verify
from tests.conftest import files_under, run_cli, write_recipe
from tests.narrow import package_report
from tests.rpm_images import KEY_PATH, REPO_DIR, extract_key, fixture_image, recipe_text

pytestmark = pytest.mark.docker

DISTROS = {"dnf": "rhel-9", "zypper": "sles-15"}


@dataclass(frozen=True)
class RpmEnv:
    family: str
    distro: str
    image: str
    newer_image: str
    key: Path

    def recipe(self, directory: Path, packages: list[str], **kwargs: str) -> Path:
        return write_recipe(directory, recipe_text(packages, self.key, **kwargs), f"vt-{self.family}.yaml")


_envs: dict[str, RpmEnv] = {}
_builds: dict[str, BuildResult] = {}


@pytest.fixture(scope="session", params=sorted(DISTROS))
def rpm_env(
    request: pytest.FixtureRequest, docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> RpmEnv:
    family = request.param
    if family not in _envs:
        image = fixture_image(docker_client, family)
        key = extract_key(docker_client, image, tmp_path_factory.mktemp(f"key-{family}") / "key.asc")
        _envs[family] = RpmEnv(family, DISTROS[family], image, fixture_image(docker_client, family, newer=True), key)
    return _envs[family]


@pytest.fixture
def app_build(
    rpm_env: RpmEnv, docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> BuildResult:
    """vt-app built once per family."""
    if rpm_env.family not in _builds:
        work = tmp_path_factory.mktemp(f"build-{rpm_env.family}")
        plan = make_plan(load_recipe(rpm_env.recipe(work, ["vt-app"])), rpm_env.distro, work / "dist", rpm_env.image)
        _builds[rpm_env.family] = build(plan, docker_client)
    return _builds[rpm_env.family]


def members(path: Path) -> list[str]:
    with tarfile.open(path, "r:gz") as tar:
        return sorted(m.name for m in tar.getmembers())


def test_bundle_is_the_solver_closure_relative_to_the_image(rpm_env: RpmEnv, app_build: BuildResult) -> None:
    doc = app_build.document
    bundled = {p["name"]: p["version"] for p in doc["packages"]}
    # the newest of two candidates, one side of the rich dependency, the file provider, one provider
    # of the virtual vt-mta; vt-base is in the image already.
    assert bundled["vt-lib"] == "1.2-1"
    assert len({"vt-tls-a", "vt-tls-b"} & set(bundled)) == 1
    assert "vt-helper" in bundled
    assert len({"vt-mta-exim", "vt-mta-postfix"} & set(bundled)) == 1
    assert bundled["vt-keep"] == "1.0-1"
    assert "vt-base" not in bundled
    assert set(bundled) <= {
        "vt-app",
        "vt-lib",
        "vt-tls-a",
        "vt-tls-b",
        "vt-helper",
        "vt-mta-exim",
        "vt-mta-postfix",
        "vt-keep",
    }
    assert len(bundled) == 6
    names = members(app_build.package)
    rpms = [n for n in names if n.endswith(".rpm")]
    assert sorted(p["file"] for p in doc["packages"]) == rpms
    if rpm_env.family == "dnf":
        assert "repodata/repomd.xml" in names  # createrepo_c metadata: the bundle is a repository
    else:
        assert names == rpms  # a plaindir repository needs no index
    assert doc["distro"] == {"name": rpm_env.distro, "family": rpm_env.family, "arch": "amd64"}
    # discovery is kept as a report, with the kinds of requirement the documented command shows
    direct = doc["discovery"]["direct"]
    app = next(d for d in direct if d["package"].startswith("vt-app"))
    requirements = app["dependencies"] if rpm_env.family == "dnf" else app["requires"]
    kinds = {r["requirement"]: r["kind"] for r in requirements}
    assert kinds["(vt-tls-a or vt-tls-b)"] == "rich"
    assert kinds["/usr/bin/vt-helper"] == "file"
    assert kinds["vt-lib >= 1.1"] == "versioned"


def test_installs_offline_and_removes_exactly_what_it_added(
    app_build: BuildResult, docker_client: docker.DockerClient
) -> None:
    report = package_report(verify(app_build.manifest.parent, client=docker_client))
    assert [s for s, _ in report.steps] == ["install", "check", "remove", "check after remove"]
    assert "vt-app 1.0" in dict(report.steps)["check"].stdout
    added = {n.split(":")[0] for n in report.added}
    assert {"vt-app", "vt-lib", "vt-helper", "vt-keep"} <= added
    assert "vt-base:noarch" in report.before and "vt-base:noarch" in report.after_remove
    assert set(report.after_remove) == set(report.before)


def test_newer_installed_version_survives(
    rpm_env: RpmEnv, app_build: BuildResult, docker_client: docker.DockerClient
) -> None:
    """The VM has vt-keep 2.0; the bundle carries 1.0: install keeps 2.0, remove leaves it."""
    report = package_report(verify(app_build.manifest.parent, image=rpm_env.newer_image, client=docker_client))
    assert report.before["vt-keep:noarch"] == "2.0-1"
    assert report.after_install["vt-keep:noarch"] == "2.0-1", "install downgraded vt-keep"
    assert "vt-keep:noarch" not in report.added
    assert report.after_remove["vt-keep:noarch"] == "2.0-1"


def test_update_from_an_older_version_then_remove(
    rpm_env: RpmEnv, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    """1.0.0 ships vt-helper; 1.1.0 ships vt-app. Update over 1.0.0, then remove: nothing is left."""
    old = write_recipe(
        tmp_path, recipe_text(["vt-helper"], rpm_env.key).replace("check: vt-app", "check: vt-helper"), "old.yaml"
    )
    new = write_recipe(tmp_path, recipe_text(["vt-app"], rpm_env.key, version="1.1.0"), "new.yaml")
    out = tmp_path / "dist"
    old_build = build(make_plan(load_recipe(old), rpm_env.distro, out, rpm_env.image), docker_client)
    new_build = build(make_plan(load_recipe(new), rpm_env.distro, out, rpm_env.image), docker_client)
    report = package_report(
        verify(new_build.manifest.parent, update_from=old_build.manifest.parent, client=docker_client)
    )
    assert [s for s, _ in report.steps][:2] == ["install (older version)", "update"]
    assert {"vt-app", "vt-helper", "vt-lib"} <= {n.split(":")[0] for n in report.added}
    assert set(report.after_remove) == set(report.before)


def test_cli_recipe_with_verify(rpm_env: RpmEnv, tmp_path: Path) -> None:
    distro = "rhel-8" if rpm_env.family == "dnf" else rpm_env.distro
    recipe = rpm_env.recipe(tmp_path, ["vt-app"])
    proc = run_cli("recipe", recipe, "--distro", distro, "--image", rpm_env.image, "--out", tmp_path / "d", "--verify")
    assert proc.returncode == 0, proc.stderr
    assert "verified vt 1.0.0 offline" in proc.stdout
    assert files_under(tmp_path / "d")[-4:] == [
        f"vt/1.0.0/{distro}/lock.json",
        f"vt/1.0.0/{distro}/manifest.json",
        f"vt/1.0.0/{distro}/sbom.cdx.json",
        f"vt/1.0.0/{distro}/vt.tar.gz",
    ]
    manifest = json.loads((tmp_path / "d" / "vt/1.0.0" / distro / "manifest.json").read_text())
    assert manifest["distro"]["name"] == distro
    proc = run_cli("verify", tmp_path / "d" / "vt/1.0.0" / distro)  # the verify command on its own
    assert proc.returncode == 0, proc.stderr


def test_unknown_package_names_package_repository_and_distro(rpm_env: RpmEnv, tmp_path: Path) -> None:
    recipe = rpm_env.recipe(tmp_path, ["vt-app", "vt-nosuch"])
    proc = run_cli("recipe", recipe, "--distro", rpm_env.distro, "--image", rpm_env.image, "--out", tmp_path / "d")
    assert proc.returncode == 2, proc.stderr
    assert "vt-nosuch not found on " + rpm_env.distro in proc.stderr
    assert "vmapp-test" in proc.stderr
    assert files_under(tmp_path / "d") == []


def test_broken_repository_names_repository_and_distro(rpm_env: RpmEnv, tmp_path: Path) -> None:
    recipe = rpm_env.recipe(tmp_path, ["vt-app"], url="file:///srv/vmapp-test/nowhere")
    proc = run_cli("recipe", recipe, "--distro", rpm_env.distro, "--image", rpm_env.image, "--out", tmp_path / "d")
    assert proc.returncode == 3, proc.stderr
    assert f"on {rpm_env.distro}" in proc.stderr
    assert "failed for repository vmapp-test" in proc.stderr
    assert files_under(tmp_path / "d") == []


def test_dependency_no_repository_provides(rpm_env: RpmEnv, tmp_path: Path) -> None:
    recipe = rpm_env.recipe(tmp_path, ["vt-broken"])
    proc = run_cli("recipe", recipe, "--distro", rpm_env.distro, "--image", rpm_env.image, "--out", tmp_path / "d")
    assert proc.returncode == 3, proc.stderr
    assert "vt-broken" in proc.stderr and "needs vt-missing, which no repository provides" in proc.stderr
    assert f"on {rpm_env.distro}" in proc.stderr and "vmapp-test" in proc.stderr


def test_rpm_version_order_is_rpms_own(rpm_env: RpmEnv, docker_client: docker.DockerClient) -> None:
    from builder.backends import backend_class

    backend = backend_class(rpm_env.family, rpm_env.distro)
    with Container(docker_client, rpm_env.image, "verify", network=False) as c:
        assert backend.is_older(c, "1.9-1", "1.10-1")  # not string order
        assert backend.is_older(c, "2.0~rc1-1", "2.0-1")  # tilde sorts before
        assert backend.is_older(c, "2.0-1", "1:1.0-1")  # the epoch wins
        assert not backend.is_older(c, "1.0-2", "1.0-1")
        assert not backend.is_older(c, "1.0-1", "1.0-1")


def test_full_bundles_the_whole_closure(rpm_env: RpmEnv, docker_client: docker.DockerClient, tmp_path: Path) -> None:
    """--full: the solver works in an empty root, so vt-base, which the image has, is bundled too; the
    offline install then leaves the image's own vt-base alone (same version)."""
    recipe = load_recipe(rpm_env.recipe(tmp_path, ["vt-app"]))
    plan = make_plan(recipe, rpm_env.distro, tmp_path / "dist", rpm_env.image, baseline=FULL)
    result = build(plan, docker_client)
    names = {p["name"] for p in result.document["packages"]}
    assert {"vt-app", "vt-lib", "vt-base", "vt-keep"} <= names
    assert result.document["baseline"] == {"kind": "full"}
    report = package_report(verify(result.manifest.parent, client=docker_client))
    assert "vt-base" not in {n.split(".")[0] for n in report.added}


def test_baseline_from_a_richer_vm(rpm_env: RpmEnv, docker_client: docker.DockerClient, tmp_path: Path) -> None:
    """A VM that already has vt-lib: its `rpm -qa` makes the solver leave vt-lib out of the bundle,
    which then verifies offline on that VM's image (and says what it lacks on the plain one)."""
    richer = f"vmapp-test/{rpm_env.family}-richer:{uuid.uuid4().hex[:8]}"
    add_lib = f"rpm -i --nodeps $(find {REPO_DIR} -name 'vt-lib-1.2-*.rpm') 2>/dev/null; rpm -q vt-lib"
    with Container(docker_client, rpm_env.image, "test", labelled=False) as vm:
        vm.run(["sh", "-c", add_lib], "installing vt-lib")
        code, qa = vm.handle.exec_run(["rpm", "-qa"])
        assert code == 0 and isinstance(qa, bytes)  # not streamed
        (tmp_path / "rpm-qa.txt").write_bytes(qa)
        vm.handle.commit(*richer.split(":"))
    try:
        recipe = load_recipe(rpm_env.recipe(tmp_path, ["vt-app"]))
        plan = make_plan(
            recipe, rpm_env.distro, tmp_path / "dist", rpm_env.image, baseline=load_baseline(tmp_path / "rpm-qa.txt")
        )
        result = build(plan, docker_client)
        names = {p["name"] for p in result.document["packages"]}
        assert "vt-app" in names
        assert not names & {"vt-lib", "vt-base"}  # the VM has them
        assert result.document["baseline"]["format"] == "rpm"
        verify(result.manifest.parent, image=richer, client=docker_client)
        with pytest.raises(VerifyError, match=r"lacks 1 packages of the baseline .*: vt-lib"):
            verify(result.manifest.parent, client=docker_client)
    finally:
        docker_client.images.remove(richer, force=True)


def test_download_only_packages_have_their_signatures_checked(
    rpm_env: RpmEnv, docker_client: docker.DockerClient
) -> None:
    """dnf checks signatures only when it installs: the build checks the downloaded closure itself,
    against the keys the image trusts for the image's own repositories."""
    from builder.backends.rpm_signatures import image_source, refusals

    image_repo = image_source("base", {})
    with Container(docker_client, rpm_env.image, "test") as c:
        c.run(["sh", "-c", f"mkdir -p /tmp/c && cp $(find {REPO_DIR} -name 'vt-lib-1.2-*.rpm') /tmp/c/"], "copy")
        origins = {"vt-lib-1.2-1.noarch.rpm": [image_repo]}
        problems = refusals(c, "/tmp/c", origins)  # the repository's key is not in rpm's database
        assert len(problems) == 1 and "which is not a key the image trusts" in problems[0]
        c.run(["rpm", "--import", KEY_PATH], "import the key")
        assert refusals(c, "/tmp/c", origins) == []
