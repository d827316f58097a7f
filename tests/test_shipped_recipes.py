"""Every shipped recipe, for every distro it targets: loads, plans, renders POSIX sh within Azure's limits.

No container: the repositories some recipes use (packages.microsoft.com) are not reachable here, so
this is what can be proved about them offline. A recipe without `linux.targets` is for any distro
whose package family vmapp-build supports.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from builder.azure.limits import MAX_FIELD_CHARS
from builder.backends import BACKENDS
from builder.backends.apt_output import sources_line
from builder.distros import DISTROS
from builder.errors import InputError, RecipeError
from builder.plan import make_plan
from builder.recipe import Recipe, load_recipe
from builder.render import render_commands
from builder.resources import data_dir
from tests.conftest import write_recipe
from tests.narrow import linux_plan

SHIPPED = sorted(p.stem for p in data_dir("recipes").glob("*.yaml"))
# Windows-only recipes are built and verified under Wine in tests/test_windows_e2e.py.
SHIPPED_LINUX = [name for name in SHIPPED if load_recipe(name).linux is not None]
# /bin/sh is what the extension runs (dash on Debian and Ubuntu); dash is checked too when it is another.
SHELLS = list(dict.fromkeys(s for s in ("/bin/sh", shutil.which("dash")) if s))
UBUNTU_RELEASES = ["ubuntu-18.04", "ubuntu-20.04", "ubuntu-22.04", "ubuntu-24.04"]


def targets(recipe: Recipe) -> list[str]:
    if recipe.targets:
        return list(recipe.targets)
    return [name for name, d in DISTROS.items() if d.family in BACKENDS]


def syntax_errors(script: str) -> list[str]:
    """`sh -n` of the script with each shell: what they complain about (nothing when it parses)."""
    problems = []
    for shell in SHELLS:
        proc = subprocess.run([shell, "-n"], input=script, capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            problems.append(f"{shell}: {proc.stderr.strip()}")
    return problems


def test_recipes_are_shipped() -> None:
    assert {"jq", "git", "curl", "powershell"} <= set(SHIPPED)
    assert SHELLS and Path(SHELLS[0]).name == "sh"


@pytest.mark.parametrize("name", SHIPPED_LINUX)
def test_shipped_recipe_plans_and_renders_for_each_target(name: str, tmp_path: Path) -> None:
    recipe = load_recipe(name)
    distros = targets(recipe)
    assert distros, f"{name} targets no distro vmapp-build supports"
    for distro in distros:
        plan = linux_plan(make_plan(recipe, distro, tmp_path / "dist"))
        where = f"{name} on {distro}"
        assert plan.packages or plan.tarball, f"{where}: nothing to install"
        assert plan.distro.name == distro
        commands = render_commands(plan)
        for kind, command in commands.as_dict().items():
            assert len(command) <= MAX_FIELD_CHARS, f"{where}: {kind} is {len(command)} characters"
            assert syntax_errors(command) == [], f"{where}: {kind} is not POSIX sh"
        assert plan.package_file_name in commands.install
        if plan.check:
            assert syntax_errors(plan.check) == [], f"{where}: check is not POSIX sh"
        for repo in plan.repositories:
            # Shipped repositories are verified with their vendor's key: a URL, or a file shipped beside.
            assert repo.key.startswith("https://") or Path(repo.key).is_file(), f"{where}: {repo.name} key"
            assert repo.url.startswith("https://"), f"{where}: {repo.name} is fetched without TLS"
            if plan.distro.family == "apt":
                line = sources_line(repo, f"/etc/apt/keyrings/vmapp-{repo.name}.asc")
                assert "signed-by=" in line and "trusted" not in line, where


def test_powershell_uses_microsofts_repository_of_each_ubuntu_release(tmp_path: Path) -> None:
    recipe = load_recipe("powershell")
    assert set(UBUNTU_RELEASES) <= set(recipe.targets)
    seen = set()
    for distro in UBUNTU_RELEASES:
        plan = linux_plan(make_plan(recipe, distro, tmp_path))
        assert plan.packages == ("powershell",)
        assert plan.check and plan.check.startswith("pwsh ")
        (repo,) = plan.repositories
        release = distro.removeprefix("ubuntu-")
        assert repo.url == f"https://packages.microsoft.com/ubuntu/{release}/prod", distro
        assert repo.suite == DISTROS[distro].codename
        assert repo.components == ("main",)
        assert repo.key == "https://packages.microsoft.com/keys/microsoft.asc"
        seen.add((repo.url, repo.suite))
    assert len(seen) == len(UBUNTU_RELEASES), "each release has its own repository"


def test_a_recipe_is_not_built_for_a_distro_it_does_not_target(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        make_plan(load_recipe("powershell"), "debian-12", tmp_path)
    message = str(caught.value)
    assert "powershell does not target debian-12" in message
    assert "ubuntu-22.04" in message  # what it does target


TARGETED = """\
name: demo
version: 1.0.0
linux:
  targets: {targets}
  packages: [jq]
  distros:
    debian-11:
      packages: [jq]
"""


@pytest.mark.parametrize(
    ("targets_yaml", "key", "problem"),
    [
        ("[debian-11, debian-99]", "linux.targets[1]", "'debian-99': unknown distro"),
        ("[debian-11, debian-11]", "linux.targets", "lists a distro twice"),
        ("[]", "linux.targets", "expected at least one distro"),
        ("debian-11", "linux.targets", "expected a list"),
        ("[debian-12]", "linux.distros.debian-11", "not in linux.targets"),
    ],
)
def test_bad_targets_name_the_key(tmp_path: Path, targets_yaml: str, key: str, problem: str) -> None:
    path = write_recipe(tmp_path, TARGETED.format(targets=targets_yaml))
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    assert caught.value.key == key
    assert problem in str(caught.value)


def test_targets_are_kept_in_order(tmp_path: Path) -> None:
    recipe = load_recipe(write_recipe(tmp_path, TARGETED.format(targets="[debian-12, debian-11]")))
    assert recipe.targets == ("debian-12", "debian-11")
    assert load_recipe("jq").targets == ()
