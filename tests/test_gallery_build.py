"""The build with gallery settings, in a real container: definitions beside the package, immutable versions."""

from __future__ import annotations

import json
from pathlib import Path

import docker
import pytest

from builder.azure.settings import gallery_settings_for
from builder.errors import LimitError
from builder.pipeline import build
from builder.plan import make_plan
from builder.recipe import load_recipe
from tests.conftest import DISTRO, run_cli, write_recipe

RECIPE = """\
name: jqg
version: 1.0.0
description: jq, published
linux:
  packages: [{packages}]
gallery:
  name: appsGallery
  resource_group: rg-apps
  location: westeurope
  target_regions: [{{name: westeurope, replicas: 2}}]
"""


def test_build_writes_definitions_and_refuses_a_changed_version(
    docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    out = tmp_path / "dist"
    recipe = load_recipe(write_recipe(tmp_path, RECIPE.format(packages="jq")))
    settings = gallery_settings_for(recipe.path, recipe.raw, None)
    result = build(make_plan(recipe, DISTRO, out), docker_client, gallery=settings)
    gallery = result.package.parent / "gallery"
    template = json.loads((gallery / "template.json").read_text())
    profile = template["resources"][1]["properties"]["publishingProfile"]
    assert profile["manageActions"]["install"] == result.document["commands"]["install"]
    assert profile["settings"]["packageFileName"] == "jqg.tar.gz"
    assert profile["targetRegions"] == [{"name": "westeurope", "regionalReplicaCount": 2}]
    assert (gallery / "settings.json").is_file() and (gallery / "az.sh").is_file()

    build(make_plan(recipe, DISTRO, out), docker_client, gallery=settings)  # same strings: fine

    changed = load_recipe(write_recipe(tmp_path, RECIPE.format(packages="jq, curl"), name="changed.yaml"))
    with pytest.raises(LimitError) as info:
        build(make_plan(changed, DISTRO, out), docker_client, gallery=settings)
    assert "create a new version" in str(info.value)
    assert "manageActions.install" in str(info.value)
    assert json.loads(result.manifest.read_text())["commands"] == result.document["commands"]  # untouched


def test_recipe_command_rejects_bad_gallery_settings_before_building(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, RECIPE.format(packages="jq").replace("replicas: 2", "replicas: 7"))
    result = run_cli("recipe", recipe, "--distro", DISTRO, "--out", tmp_path / "dist")
    assert result.returncode == 2
    assert "The value 7 of parameter 'galleryApplicationVersion.properties.publishingProfile.targetRegions[0]" in (
        result.stderr
    )
    assert not (tmp_path / "dist").exists()
