"""`vmapp-build matrix`: the catalogue as GitHub's matrix `include` list, through the real command line.

No engine: the matrix only loads recipes. The nightly workflow feeds its JSON to `fromJSON` and hands
each value to `vmapp-build rebuild` through the environment, so a recipe path with spaces, `%`, `&`
or quotes must come back from the JSON exactly as given.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from builder.catalogue import CATALOGUE_DEFAULT
from builder.recipe import load_recipe
from builder.resources import data_dir
from tests.conftest import run_cli, write_recipe

BAD_INPUT = 2
HOSTILE = Path("/work/shared/data/hostile-strings.json")
SHIPPED = sorted(p.stem for p in data_dir("recipes").glob("*.yaml"))


def demo_recipe(directory: Path, name: str = "demo.yaml", targets: str = "[debian-11]") -> Path:
    text = f"name: demo\nversion: 1.0.0\ndescription: d\nlinux:\n  targets: {targets}\n  packages: [jq]\n"
    return write_recipe(directory, text, name)


def matrix_json(*args: str | Path) -> list[dict[str, Any]]:
    proc = run_cli("matrix", "--json", *args)
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert list(document) == ["include"]
    include: list[dict[str, Any]] = document["include"]
    return include


def targets_of(include: list[dict[str, Any]], recipe: str) -> list[str]:
    return [e["distro"] for e in include if e["recipe"] == recipe]


def test_every_shipped_recipe_times_its_targets() -> None:
    include = matrix_json()
    assert all(set(e) == {"recipe", "app", "distro", "directory"} for e in include)
    assert all(e["directory"] == e["distro"] for e in include)  # no arm64 target among the shipped recipes
    assert sorted({e["recipe"] for e in include}) == SHIPPED
    for name in SHIPPED:
        recipe = load_recipe(name)
        linux = list(recipe.targets or CATALOGUE_DEFAULT) if recipe.linux is not None else []
        windows = ["windows"] if recipe.windows is not None else []
        assert targets_of(include, name) == linux + windows, name
    assert targets_of(include, "jq") == list(CATALOGUE_DEFAULT)  # no linux.targets: the catalogue's default
    assert targets_of(include, "powershell") == list(load_recipe("powershell").targets or ())
    assert "ubuntu-22.04" in targets_of(include, "powershell")
    assert targets_of(include, "myapp-msi") == ["windows"]
    assert len(include) == len({(e["recipe"], e["distro"]) for e in include})  # no pair twice


def test_distro_narrows_and_never_adds() -> None:
    include = matrix_json("--distro", "debian-12", "--distro", "windows")
    assert {e["distro"] for e in include} == {"debian-12", "windows"}
    assert targets_of(include, "jq") == ["debian-12"]
    assert targets_of(include, "myapp-msi") == ["windows"]
    assert targets_of(include, "powershell") == []  # its linux.targets exclude debian-12
    assert targets_of(include, "azure-cli") == []


def test_named_recipes_only(tmp_path: Path) -> None:
    recipe = demo_recipe(tmp_path)
    assert matrix_json("jq", recipe) == [
        {"recipe": "jq", "app": "jq", "distro": "debian-12", "directory": "debian-12"},
        {"recipe": "jq", "app": "jq", "distro": "debian-11", "directory": "debian-11"},
        {"recipe": str(recipe), "app": "demo", "distro": "debian-11", "directory": "debian-11"},
    ]


def test_an_arm64_target_has_a_directory_without_a_slash(tmp_path: Path) -> None:
    """The workflow names paths, caches and artifacts by `directory`: a '/' there would nest them."""
    recipe = demo_recipe(tmp_path, targets="[debian-12, debian-12/arm64]")
    assert [(e["distro"], e["directory"]) for e in matrix_json(recipe)] == [
        ("debian-12", "debian-12"),
        ("debian-12/arm64", "debian-12-arm64"),
    ]


def test_unknown_distro_is_refused() -> None:
    proc = run_cli("matrix", "--json", "--distro", "debian-99")
    assert proc.returncode == BAD_INPUT
    assert "unknown distro 'debian-99'" in proc.stderr
    assert proc.stdout == ""


def test_no_pair_left_is_refused() -> None:
    proc = run_cli("matrix", "--json", "jq", "--distro", "windows")
    assert proc.returncode == BAD_INPUT
    assert "no (recipe, target) pair for jq with --distro windows" in proc.stderr
    assert proc.stdout == ""


def test_broken_recipe_fails_the_matrix_and_is_named(tmp_path: Path) -> None:
    good = demo_recipe(tmp_path)
    broken = write_recipe(tmp_path, "name: broken\nversion: 1.0.0\nlinux:\n  packages: jq\n", "broken.yaml")
    proc = run_cli("matrix", "--json", good, broken, "jq")
    assert proc.returncode == BAD_INPUT
    assert f"error: recipe {broken}: {broken}: linux.packages: expected a list" in proc.stderr
    assert f"1 recipe(s) do not load: {broken}" in proc.stderr
    assert proc.stdout == ""  # no partial matrix a workflow could run with


def test_table_without_json(tmp_path: Path) -> None:
    proc = run_cli("matrix", "jq", "myapp-msi")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["recipe", "app", "distro"]
    assert [line.split() for line in lines[1:-1]] == [
        ["jq", "jq", "debian-12"],
        ["jq", "jq", "debian-11"],
        ["myapp-msi", "myapp-msi", "windows"],
    ]
    assert lines[-1] == "3 entries"


def hostile_names() -> list[str]:
    """The hostile strings a directory can be named (no NUL or '/', not '.' or '..', within NAME_MAX)."""
    strings: list[str] = json.loads(HOSTILE.read_text())["strings"]
    return [
        s for s in strings if s and "\0" not in s and "/" not in s and s not in (".", "..") and len(s.encode()) <= 200
    ]


def test_hostile_recipe_paths_round_trip_through_json(tmp_path: Path) -> None:
    names = hostile_names()
    assert {"with space", "percent%", "amp&ersand", 'double"quote', "single'quote", "$(id)"} <= set(names)
    paths = []
    for index, name in enumerate(names):
        directory = tmp_path / f"{index}-{name}"
        directory.mkdir()
        paths.append(demo_recipe(directory, f"{name}.yaml"))
    include = matrix_json("--", *paths)
    assert [e["recipe"] for e in include] == [str(p) for p in paths]
    assert {e["distro"] for e in include} == {"debian-11"}


def test_hostile_path_from_json_reaches_the_command_through_env(tmp_path: Path) -> None:
    """As the workflow does it: the value in an environment variable, quoted, after `--`."""
    directory = tmp_path / "a b & c % 'd' \"e\" $(id) `id`"
    directory.mkdir()
    recipe = demo_recipe(directory, "-leading dash.yaml")
    (entry,) = matrix_json("--", recipe)
    script = '"$PYTHON" -m builder matrix --json --distro "$DISTRO" -- "$RECIPE"'
    env = {**os.environ, "PYTHON": sys.executable, "RECIPE": entry["recipe"], "DISTRO": entry["distro"]}
    proc = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["include"] == [entry]
