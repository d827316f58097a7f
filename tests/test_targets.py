"""Targets are peers: every row of the target table plans through make_plan and builds through the one
pipeline, Windows as much as Linux. No engine needed: a tarball and a Windows installer build offline."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from builder.distros import DISTROS
from builder.plan import KINDS, BuildPlan, WindowsPlan, make_plan, supported
from builder.recipe import load_recipe
from builder.render import render_commands
from tests.conftest import files_under, run_cli, write_recipe


def both_recipe(directory: Path) -> Path:
    """One application for Linux (a tarball) and Windows (an installer), both local files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("demo/README")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    (directory / "demo.tar.gz").write_bytes(buffer.getvalue())
    (directory / "setup.exe").write_bytes(b"MZ installer")
    sha = {name: hashlib.sha256((directory / name).read_bytes()).hexdigest() for name in ("demo.tar.gz", "setup.exe")}
    return write_recipe(
        directory,
        "name: demo\nversion: 1.0.0\n"
        f"linux:\n  tarball:\n    source: demo.tar.gz\n    sha256: '{sha['demo.tar.gz']}'\n    directory: /opt\n"
        f"windows:\n  installers:\n    - source: setup.exe\n      sha256: '{sha['setup.exe']}'\n"
        "      arguments: [/S]\n      remove: 'uninstall.exe /S'\n",
    )


@pytest.mark.parametrize("name", sorted(DISTROS))
def test_every_row_plans_by_its_kind(name: str, tmp_path: Path) -> None:
    distro = DISTROS[name]
    assert distro.kind in KINDS, f"{name}: no planner for kind {distro.kind!r}"
    assert supported(distro)
    plan = make_plan(load_recipe(both_recipe(tmp_path)), name, tmp_path / "dist")
    assert isinstance(plan, WindowsPlan if distro.kind == "windows" else BuildPlan)
    assert plan.distro is distro and plan.out_dir == tmp_path / "dist" / "demo" / "1.0.0" / name
    commands = render_commands(plan).as_dict()
    assert set(commands) == ({"install", "remove"} if distro.kind == "windows" else {"install", "remove", "update"})


def test_windows_and_linux_build_in_one_run_through_one_pipeline(tmp_path: Path) -> None:
    """`--distro windows --distro debian-12` is one list of plans, built in the order given, each through
    the one finish step (manifest, limits), and summed up in one table."""
    recipe = both_recipe(tmp_path)
    out = tmp_path / "dist"
    proc = run_cli("recipe", recipe, "--distro", "windows", "--distro", "debian-12", "--out", out)
    assert proc.returncode == 0, proc.stderr
    built = [line for line in proc.stdout.splitlines() if line.startswith("built ")]
    assert [Path(line.split()[1]).parent.name for line in built] == ["windows", "debian-12"]
    assert built[0].endswith("1 installers)") and built[1].endswith("1 packages)")
    table = proc.stdout.split("\n\n", 1)[1].splitlines()
    assert table[0].split() == ["distro", "packages", "bytes", "file"]
    assert [row.split()[0] for row in table[1:]] == ["windows", "debian-12"]
    assert files_under(out / "demo" / "1.0.0") == [
        "debian-12",
        "debian-12/demo.tar.gz",
        "debian-12/lock.json",
        "debian-12/manifest.json",
        "debian-12/sbom.cdx.json",
        "windows",
        "windows/lock.json",
        "windows/manifest.json",
        "windows/sbom.cdx.json",
        "windows/setup.exe",
    ]
    windows = json.loads((out / "demo/1.0.0/windows/manifest.json").read_text())
    linux = json.loads((out / "demo/1.0.0/debian-12/manifest.json").read_text())
    assert set(windows["commands"]) == {"install", "remove"} and windows["interpreter"] == "cmd /C"
    assert set(linux["commands"]) == {"install", "remove", "update"} and linux["kind"] == "tarball"
    for doc in (windows, linux):
        assert doc["application"] == {"name": "demo", "version": "1.0.0", "description": ""}
        assert all(r["level"] == "ok" for r in doc["limits"])


def test_a_plan_error_in_any_target_stops_the_run_before_any_build(tmp_path: Path) -> None:
    """Every plan is computed before the first build: a bad row later in the list leaves nothing behind."""
    recipe = both_recipe(tmp_path)
    proc = run_cli("recipe", recipe, "--distro", "windows", "--distro", "debian-99", "--out", tmp_path / "dist")
    assert proc.returncode == 2, proc.stderr
    assert "unknown distro 'debian-99'" in proc.stderr
    assert files_under(tmp_path / "dist") == []


def test_dry_run_shows_every_target_in_order(tmp_path: Path) -> None:
    proc = run_cli("recipe", both_recipe(tmp_path), "--distro", "debian-12", "--distro", "windows", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    heads = [line for line in proc.stdout.splitlines() if line.startswith(("distro ", "target "))]
    assert heads == [
        "distro       debian-12 (apt)",
        "target       windows (cmd /C; verified under Wine in vmapp-build/wine:10)",
    ]
    assert proc.stdout.count("--- update (") == 1 and proc.stdout.count("--- install (") == 2
