"""`vmapp-build simulate` on Windows: one Wine prefix, the shipped MSI recipe's build and a probe build,
in order; then a goal state that leaves the MSI out (its remove runs, in its download directory)."""

from __future__ import annotations

from pathlib import Path

import docker

from builder.simulate import load_plan, simulate
from builder.windows.verify import download_dir
from tests.conftest import run_cli
from tests.test_simulate_linux import outcomes, probe_build, write_plan
from tests.test_windows_e2e import WINE_IMAGE, wine_image

__all__ = ["wine_image"]  # the session fixture, shared with test_windows_e2e

MSI_PRESENT = r'if exist "%ProgramFiles%\MyApp\readme.txt" (echo msi-present) else (echo msi-absent)'


def test_two_apps_in_order_then_one_removed(
    docker_client: docker.DockerClient, wine_image: str, tmp_path: Path
) -> None:
    proc = run_cli("recipe", "myapp-msi", "--distro", "windows", "--out", tmp_path / "dist")
    assert proc.returncode == 0, proc.stderr
    msi = {"build": "dist/myapp-msi/1.0.0/windows", "order": 1, "treatFailureAsDeploymentFailure": True}
    probe = {"family": "windows", "distro": "windows", "image": WINE_IMAGE}
    first = probe_build(tmp_path, "probe", "1.0.0", install=MSI_PRESENT, remove="exit 0", **probe)
    second = probe_build(tmp_path, "probe", "2.0.0", install="exit 9", remove="exit 0", update=MSI_PRESENT, **probe)
    states = [
        {"applications": [{"build": str(first.relative_to(tmp_path)), "order": 2}, msi]},
        {"applications": [{"build": str(second.relative_to(tmp_path)), "order": 2}]},
    ]
    installed, removed = simulate(load_plan(write_plan(tmp_path, states)), docker_client)
    assert [installed.status, removed.status] == ["success", "success"]
    assert outcomes(installed) == [("myapp-msi", "install", "success"), ("probe", "install", "success")]
    assert installed.commands[0].workdir == download_dir("myapp-msi", "1.0.0")
    assert installed.commands[1].stdout.strip() == "msi-present"  # order 1 ran before order 2
    # removals first: the MSI is gone when the probe's update (its new version's string) runs
    assert outcomes(removed) == [("myapp-msi", "remove", "success"), ("probe", "update", "success")]
    assert removed.commands[0].workdir == download_dir("myapp-msi", "1.0.0")
    assert removed.commands[1].workdir == download_dir("probe", "2.0.0")
    assert removed.commands[1].stdout.strip() == "msi-absent"
