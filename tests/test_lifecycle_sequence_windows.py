"""`vmapp-build verify BUILD` across the earlier Windows builds beside it, under Wine (builder.lifecycle.windows):
two versions of the shipped MSI recipe; every update is Azure's replacement (the old remove string in the
old directory, then the new install), and each remove leaves the Uninstall key as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder.pipeline import build
from builder.plan import make_plan
from builder.recipe import load_recipe
from tests.conftest import REPO, run_cli
from tests.test_windows_e2e import wine_image

__all__ = ["wine_image"]  # the session fixture, shared with test_windows_e2e
pytestmark = pytest.mark.docker

VERSIONS = ["1.0.0", "1.0.1"]


@pytest.fixture(scope="module")
def msi_builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The shipped myapp-msi recipe at two versions, in one --out root."""
    root = tmp_path_factory.mktemp("lifecycle-windows")
    text = (REPO / "recipes" / "myapp-msi.yaml").read_text()
    text = text.replace("source: windows/myapp.msi", f"source: {REPO / 'recipes' / 'windows' / 'myapp.msi'}")
    builds = {}
    for version in VERSIONS:
        recipe = root / f"myapp-msi-{version}.yaml"
        recipe.write_text(text.replace("version: 1.0.0", f"version: {version}"))
        builds[version] = build(make_plan(load_recipe(recipe), "windows", root / "dist")).manifest.parent
    return builds


def test_windows_lifecycle_is_the_default_and_replaces_each_version(
    msi_builds: dict[str, Path], wine_image: str
) -> None:
    proc = run_cli("verify", msi_builds["1.0.1"], "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    steps = report["steps"]
    assert [s["step"] for s in steps] == [
        "install 1.0.0",
        "remove-for-update 1.0.0 -> 1.0.1",  # no update string: the update is Azure's replacement
        "remove 1.0.1",
        "owner installs a dependency by hand",
        "install 1.0.0",
        "remove-for-update 1.0.0 -> 1.0.1",
        "remove 1.0.1",
    ]
    assert [s["outcome"] for s in steps] == ["ok", "ok", "ok", "skipped", "ok", "ok", "ok"], steps
    # Azure's replacement: 1.0.0's remove in 1.0.0's directory, then 1.0.1's install in its own
    assert steps[1]["commands"] == ["remove-for-update 1.0.0", "install 1.0.1", "check"]
    assert steps[1]["directory"].endswith(r"\myapp-msi\1.0.0, " + steps[2]["directory"])
    assert steps[2]["commands"] == ["remove 1.0.1", "check after remove"]
