"""`vmapp-build simulate` on the dnf family: the test application `vt` (tests/lifecycle_rpm_fixtures.py)
built for rhel-9 in the dnf fixture image; install, RemoveForUpdate through dnf, remove."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker
import pytest

from builder.lifecycle import EXTENSION_DIR
from builder.simulate import load_plan, simulate
from tests.lifecycle_rpm_fixtures import DISTROS, build_versions
from tests.rpm_images import extract_key, fixture_image
from tests.test_simulate_linux import outcomes, probe_build, without_update, write_plan

pytestmark = pytest.mark.docker

QUERY = "rpm -q vt-app vt-helper vt-lib | sort"


def test_dnf_install_remove_for_update_and_remove(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    image = fixture_image(docker_client, "dnf")
    key = extract_key(docker_client, image, tmp_path / "key.asc")
    builds = build_versions(docker_client, "dnf", image, key, tmp_path, ["1.0.0", "1.0.1"])
    without_update(builds["1.0.1"].directory)
    vt = {v: {"build": str(b.directory.relative_to(tmp_path)), "order": 1} for v, b in builds.items()}
    probe = {"image": image, "family": "dnf", "distro": DISTROS["dnf"]}
    look = {"build": str(probe_build(tmp_path, "look", "1.0.0", install=QUERY, **probe).relative_to(tmp_path))}
    states: list[dict[str, Any]] = [
        {"applications": [vt["1.0.0"], {**look, "order": 2}]},
        {"applications": [vt["1.0.1"], {**look, "order": 2}]},
        {"applications": []},
        {"applications": [look]},
    ]
    installed, updated, removed, after = simulate(load_plan(write_plan(tmp_path, states)), docker_client)
    assert outcomes(installed) == [("vt", "install", "success"), ("look", "install", "success")]
    assert "vt-app-1.0" in installed.commands[1].stdout
    assert outcomes(updated) == [("vt", "remove-for-update", "success"), ("vt", "install", "success")]
    assert [c.workdir for c in updated.commands] == [f"{EXTENSION_DIR}/vt/1.0.0", f"{EXTENSION_DIR}/vt/1.0.1"]
    assert sorted(outcomes(removed)) == [("look", "remove", "success"), ("vt", "remove", "success")]
    assert "package vt-app is not installed" in after.commands[0].stdout
