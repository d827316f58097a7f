"""The templates and shipped recipes work from a wheel installed in a venv outside the checkout."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

from tests.conftest import REPO


def test_wheel_carries_templates_and_recipes(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(wheels), str(REPO)],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = wheels.glob("vmapp_build-*.whl")
    env_dir = tmp_path / "venv"
    # System site-packages provide the runtime dependencies when present; pip fetches any missing.
    venv.EnvBuilder(with_pip=True, system_site_packages=True).create(env_dir)
    subprocess.run([str(env_dir / "bin/pip"), "install", "-q", str(wheel)], check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    proc = subprocess.run(
        [str(env_dir / "bin/vmapp-build"), "recipe", "jq", "--distro", "debian-12", "--dry-run"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
    )
    assert proc.returncode == 0, proc.stderr
    recipe_line = next(line for line in proc.stdout.splitlines() if line.startswith("recipe"))
    assert "site-packages/builder/recipes/jq.yaml" in recipe_line  # not the checkout's copy
    assert str(REPO) not in proc.stdout
    assert "tar -xzf jq.tar.gz" in proc.stdout  # the templates rendered from the wheel
    proc = subprocess.run([str(env_dir / "bin/vmapp-build"), "distros"], capture_output=True, text=True, cwd=elsewhere)
    assert proc.returncode == 0 and "debian-12" in proc.stdout
