"""`vmapp-build image bootstrap`: a real debootstrap of Debian 12 imported into the real engine."""

from __future__ import annotations

import contextlib

import docker
import pytest

from builder.container import Container
from tests.conftest import run_cli

TAG = "vmapp-test/bootstrap:12"


def test_bootstrap_debian_12(docker_client: docker.DockerClient) -> None:
    try:
        proc = run_cli("image", "bootstrap", "debian-12", "--tag", TAG)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(f"{TAG} sha256:")
        # exec, not `containers.run(remove=True)`, whose output of a short-lived container can come back empty
        with Container(docker_client, TAG, "test") as image:
            out = image.run(
                ["sh", "-c", "cat /etc/os-release /etc/apt/sources.list; ls /var/lib/apt/lists"], "look"
            ).stdout
        assert "VERSION_CODENAME=bookworm" in out
        assert "deb http://deb.debian.org/debian bookworm main" in out
        assert "deb http://deb.debian.org/debian-security bookworm-security main" in out
        assert "_Packages" not in out  # no stale lists baked into the image
        config = docker_client.images.get(TAG).attrs["Config"]
        assert any(e.startswith("PATH=") for e in config["Env"])
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(TAG, force=True)


@pytest.mark.parametrize("distro", ["rhel-8", "sles-15"])
def test_bootstrap_refuses_rpm_distros(distro: str) -> None:
    proc = run_cli("image", "bootstrap", distro)
    assert proc.returncode == 2
    assert "cannot be bootstrapped with debootstrap" in proc.stderr
