"""`vmapp-build verify BUILD --lifecycle` with real dnf (tests/rpm_images.py's fixture image): two builds of
the test application `vt`, replayed on the "newer" image, whose vt-keep 2.0 (the bundle carries 1.0) is
the pre-existing newer dependency every step must keep."""

from __future__ import annotations

import json

import docker
import pytest

from builder.lifecycle import Build
from builder.lifecycle.sequence import plan
from tests.conftest import run_cli
from tests.lifecycle_rpm_fixtures import DISTROS, build_versions
from tests.rpm_images import extract_key, fixture_image

pytestmark = pytest.mark.docker

FAMILY = "dnf"
VERSIONS = ["1.0.0", "1.0.1"]


@pytest.fixture(scope="module")
def vt(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Build]:
    image = fixture_image(docker_client, FAMILY)
    work = tmp_path_factory.mktemp("lifecycle-sequence-dnf")
    key = extract_key(docker_client, image, work / "key.asc")
    return build_versions(docker_client, FAMILY, image, key, work, VERSIONS)


def test_dnf_lifecycle_keeps_the_vms_newer_dependency(vt: dict[str, Build], docker_client: docker.DockerClient) -> None:
    newer_image = fixture_image(docker_client, FAMILY, newer=True)
    proc = run_cli("verify", vt["1.0.1"].directory, "--lifecycle", "--image", newer_image, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["distro"] == DISTROS[FAMILY] and report["versions"] == VERSIONS
    assert [s["step"] for s in report["steps"]] == [s.label for s in plan(VERSIONS[:-1], "1.0.1")]
    assert all(s["outcome"] == "ok" and s["exit_code"] == 0 for s in report["steps"]), report["steps"]
    assert any(n.startswith("the VM had a newer vt-keep 2.0") for n in report["notes"]), report["notes"]
    assert any(n.startswith("the owner's hand installs") for n in report["notes"]), report["notes"]
    update = report["steps"][1]
    assert update["commands"][0] == "update 1.0.0 -> 1.0.1" and update["directory"].endswith("/vt/1.0.1")
    assert report["steps"][5]["commands"][:2] == ["remove-for-update 1.0.0", "install 1.0.1 (after remove-for-update)"]
