"""`vmapp-build verify BUILD` across the earlier builds beside it (builder.lifecycle.run), with real apt in
network-less debian:12 containers: the default when earlier builds exist, every step in the table, and a
broken remove string caught at its step with the package and what the VM had."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from builder.lifecycle import Build
from builder.lifecycle.newer import SUFFIX
from builder.lifecycle.sequence import plan
from tests.conftest import DISTRO, run_cli
from tests.test_lifecycle_apt import jqapp

pytestmark = pytest.mark.docker

__all__ = ["jqapp"]  # the session fixture, shared with test_lifecycle_apt: jqapp 1.0.0 ... 1.0.3 in one root
VERSIONS = ["1.0.0", "1.0.1", "1.0.2"]  # verifying 1.0.2: the newer 1.0.3 beside it is not an earlier build


def test_lifecycle_is_the_default_and_the_table_lists_every_step(jqapp: dict[str, Build]) -> None:
    proc = run_cli("verify", jqapp["1.0.2"].directory)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("lifecycle of jqapp 1.0.0 -> 1.0.1 -> 1.0.2 on debian-12")
    rows = [line for line in lines if line[:1].isdigit()]
    expected = [step.label for step in plan(VERSIONS[:-1], "1.0.2")]
    assert len(rows) == len(expected) == 11
    for i, (row, label) in enumerate(zip(rows, expected, strict=True), 1):
        assert row.startswith(f"{i} ") and label in row and row.split()[-1] == "ok", row
    # the owner's hand install and the VM's newer libonig5 were mixed in, and both survived
    assert "owner installs a dependency by hand" in proc.stdout
    assert f"note: the VM had a newer libonig5 {bundled(jqapp['1.0.2'], 'libonig5')}{SUFFIX}" in proc.stdout


def bundled(build: Build, name: str) -> str:
    return next(str(p["version"]) for p in build.manifest["packages"] if p["name"] == name)


def broken_root(jqapp: dict[str, Build], root: Path) -> Path:
    """1.0.0 and a 1.0.1 whose remove string also purges libonig5, which the VM had before."""
    for version in ("1.0.0", "1.0.1"):
        shutil.copytree(jqapp[version].directory, root / "jqapp" / version / DISTRO)
    broken = root / "jqapp" / "1.0.1" / DISTRO
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["commands"]["remove"] += "\ndpkg --purge libonig5 || :"
    (broken / "manifest.json").write_text(json.dumps(manifest))
    return broken


def test_a_remove_string_that_deletes_the_vms_package_is_caught_at_its_step(
    jqapp: dict[str, Build], tmp_path: Path
) -> None:
    proc = run_cli("verify", broken_root(jqapp, tmp_path), "--json")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is False and report["versions"] == ["1.0.0", "1.0.1"]
    steps = report["steps"]
    assert [s["step"] for s in steps[:3]] == ["install 1.0.0", "update 1.0.0 -> 1.0.1", "remove 1.0.1"]
    assert [s["outcome"] for s in steps[:3]] == ["ok", "ok", "problems"]
    remove = steps[2]
    assert remove["version"] == "1.0.1" and remove["exit_code"] == 0 and remove["directory"].endswith("/jqapp/1.0.1")
    had = f"libonig5 {bundled(jqapp['1.0.1'], 'libonig5')}{SUFFIX} before the first step"
    assert f"after remove 1.0.1: missing: libonig5 (the VM had {had})" in remove["problems"]
    assert "failed at step 3 (remove 1.0.1)" in proc.stderr
    assert f"missing: libonig5 (the VM had {had})" in proc.stderr
