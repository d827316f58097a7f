"""Bad input and a broken environment: a clear message, the right exit code, nothing left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from builder.backends import backend_class
from builder.container import Container, leftover_containers
from builder.errors import InputError
from tests.conftest import DISTRO, SESSION, files_under, run_cli, write_recipe

BAD_INPUT, BUILD_FAILED, VERIFY_FAILED, ENVIRONMENT = 2, 3, 4, 5


def test_unknown_distro(tmp_path: Path) -> None:
    proc = run_cli("recipe", "jq", "--distro", "debian-99", "--out", tmp_path)
    assert proc.returncode == BAD_INPUT
    assert "unknown distro 'debian-99'" in proc.stderr
    assert "debian-12" in proc.stderr  # the list of known names
    assert files_under(tmp_path) == []


def test_family_not_supported_yet() -> None:
    with pytest.raises(InputError, match="arch-rolling uses pacman, which vmapp-build does not support yet"):
        backend_class("pacman", "arch-rolling")


def test_malformed_recipe(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, "name: demo\nversion: 1.0.0\nlinux:\n  packages: jq\n")
    proc = run_cli("recipe", recipe, "--distro", DISTRO, "--out", tmp_path / "dist")
    assert proc.returncode == BAD_INPUT
    assert f"{recipe}: linux.packages: expected a list" in proc.stderr
    assert not (tmp_path / "dist").exists()


def test_recipe_that_is_not_yaml(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, "name: [unclosed\n")
    proc = run_cli("recipe", recipe, "--distro", DISTRO)
    assert proc.returncode == BAD_INPUT
    assert "not valid YAML" in proc.stderr


def test_unreachable_docker_engine(tmp_path: Path) -> None:
    proc = run_cli(
        "recipe",
        "jq",
        "--distro",
        DISTRO,
        "--out",
        tmp_path,
        env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"},
    )
    assert proc.returncode == ENVIRONMENT
    assert "no Docker engine is reachable at unix://" in proc.stderr
    assert "make engine" in proc.stderr  # how to fix it
    assert files_under(tmp_path) == []


def test_missing_image_says_how_to_make_it(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    proc = run_cli("recipe", "jq", "--distro", DISTRO, "--out", tmp_path, "--image", "vmapp-test/absent:1")
    assert proc.returncode == ENVIRONMENT
    assert "'vmapp-test/absent:1' is not present locally and cannot be pulled" in proc.stderr
    assert "vmapp-build image bootstrap debian-12" in proc.stderr


def test_unknown_package_names_package_and_distro(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, "name: demo\nversion: 1.0.0\nlinux:\n  packages: [jq, nosuchpkg-vmapp]\n")
    out = tmp_path / "dist"
    proc = run_cli("recipe", recipe, "--distro", DISTRO, "--out", out)
    assert proc.returncode == BAD_INPUT, proc.stderr
    assert "package nosuchpkg-vmapp not found on debian-12" in proc.stderr
    assert files_under(tmp_path) == ["dist", "recipe.yaml"] or files_under(tmp_path) == ["recipe.yaml"]
    assert files_under(out) == []


def test_virtual_package_lists_its_providers(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, "name: demo\nversion: 1.0.0\nlinux:\n  packages: [mail-transport-agent]\n")
    proc = run_cli("recipe", recipe, "--distro", DISTRO, "--out", tmp_path / "dist")
    assert proc.returncode == BAD_INPUT, proc.stderr
    assert "mail-transport-agent is a virtual package on debian-12" in proc.stderr
    assert "postfix" in proc.stderr and "exim4-daemon-light" in proc.stderr


def test_package_over_the_size_limit(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    out = tmp_path / "dist"
    proc = run_cli("recipe", "jq", "--distro", DISTRO, "--out", out, "--max-package-size", "100K")
    assert proc.returncode == BAD_INPUT, proc.stderr
    assert "breaks Azure's limits" in proc.stderr
    assert "is too large: size =" in proc.stderr
    assert files_under(out) == []


def test_nothing_to_bundle_when_the_image_has_everything(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    # Pinned to the version the image has: an update in bookworm-updates must not make it a download.
    with Container(docker_client, "debian:12", "test") as image:
        installed = image.run(["dpkg-query", "-W", "-f", "${Version}", "apt"], "apt's version").stdout
    recipe = write_recipe(tmp_path, f'name: demo\nversion: 1.0.0\nlinux:\n  packages: ["apt={installed}"]\n')
    proc = run_cli("recipe", recipe, "--distro", DISTRO, "--out", tmp_path / "dist")
    assert proc.returncode == BAD_INPUT, proc.stderr
    assert "nothing to bundle" in proc.stderr


def test_verify_of_a_directory_without_manifest(tmp_path: Path) -> None:
    proc = run_cli("verify", tmp_path)
    assert proc.returncode == BAD_INPUT
    assert "manifest.json" in proc.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_build_leaves_nothing(docker_client: docker.DockerClient, tmp_path: Path, sig: int) -> None:
    """Ctrl-C (or a CI job's SIGTERM) mid-build removes the container and the temp files."""
    out = tmp_path / "dist"
    out.mkdir()
    before = set(leftover_containers(docker_client, SESSION))
    proc = subprocess.Popen(
        # --no-cache: no closure memo of an earlier test's git build (it would start no container)
        [sys.executable, "-m", "builder", "recipe", "git", "--distro", DISTRO, "--out", str(out), "--no-cache"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 120
        while not set(leftover_containers(docker_client, SESSION)) - before:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the build never started a container"
            time.sleep(0.1)
        time.sleep(1.0)  # inside the build now (refresh or discovery)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode in (130, 128 + signal.SIGTERM), stderr
    assert set(leftover_containers(docker_client, SESSION)) - before == set()
    assert files_under(out) == []


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "build"])
def test_too_many_packages_for_4096_characters_fail_before_any_container(tmp_path: Path, dry_run: bool) -> None:
    """The strings' length is known from the recipe alone: both a dry run and a build refuse it at once,
    with no engine reachable (DOCKER_HOST points nowhere), instead of after the download."""
    names = "".join(f"\n    - very-long-package-name-number-{i:03d}-for-the-limit" for i in range(120))
    recipe = write_recipe(tmp_path, f"name: big\nversion: 1.0.0\nlinux:\n  packages:{names}\n")
    args: list[str | Path] = [
        "recipe",
        recipe,
        "--distro",
        DISTRO,
        "--out",
        tmp_path / "dist",
        *(["--dry-run"] if dry_run else []),
    ]
    proc = run_cli(*args, env={"DOCKER_HOST": "unix:///nonexistent.sock"})
    assert proc.returncode == BAD_INPUT, proc.stderr
    assert "big 1.0.0 for debian-12 breaks Azure's limits" in proc.stderr
    assert "manageActions.install is " in proc.stderr and "Azure allows at most 4096" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert files_under(tmp_path / "dist") == []
