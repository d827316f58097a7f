"""verify's shared skeleton and its dispatch: every target of the distro table has its verify, and the
CLI's line is the report's own (no engine needed)."""

from __future__ import annotations

from pathlib import Path

from builder.container import Result
from builder.distros import DISTROS
from builder.lifecycle.run import verify_lifecycle
from builder.lifecycle.verify import PackageReport, verify_packages
from builder.lifecycle.windows import verify_windows_lifecycle
from builder.steps import StepResult, VerifyReport, tail
from builder.verify import LIFECYCLES, VERIFIERS
from builder.windows.verify import verify_windows
from tests.conftest import run_cli


def test_every_family_of_the_distro_table_has_its_verify() -> None:
    assert set(VERIFIERS) == {d.family for d in DISTROS.values()}
    assert {family: v for family, v in VERIFIERS.items() if v is not verify_packages} == {"windows": verify_windows}


def test_every_family_of_the_distro_table_has_its_lifecycle_replay() -> None:
    assert set(LIFECYCLES) == {d.family for d in DISTROS.values()}
    assert {f: v for f, v in LIFECYCLES.items() if v is not verify_lifecycle} == {"windows": verify_windows_lifecycle}


def test_the_summary_says_how_and_where_the_steps_ran() -> None:
    ran = Result(["/bin/sh", "-c", "true"], 0, "", "")
    steps: list[tuple[str, StepResult]] = [("install", ran), ("check", ran)]
    windows = VerifyReport("app", "1.0.0", "wine:10", "C:\\d", "under Wine in wine:10 (C:\\d)", steps=steps)
    assert windows.summary() == "verified app 1.0.0 under Wine in wine:10 (C:\\d): install, check"
    linux = PackageReport("jq", "1.0.0", "debian:12", "/v", "offline in debian:12", steps=steps)
    linux.before, linux.after_install = {"a": "1"}, {"a": "1", "jq:amd64": "1.6", "libjq1:amd64": "1.6"}
    assert linux.summary() == "verified jq 1.0.0 offline in debian:12: install, check; 2 packages added and removed"


def test_tail_keeps_the_last_lines() -> None:
    assert tail("".join(f"{n}\n" for n in range(50)), 3) == "47\n48\n49"
    assert tail(" \n") == "(empty)"


def test_update_from_is_refused_for_a_windows_build(tmp_path: Path) -> None:
    """A Windows version has no update string: --update-from is bad input (exit 2), before any engine."""
    proc = run_cli("recipe", "myapp-msi", "--distro", "windows", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    build = next(tmp_path.rglob("manifest.json")).parent
    proc = run_cli("verify", build, "--update-from", build)
    assert proc.returncode == 2, proc.stderr
    assert "--update-from does not apply to windows builds" in proc.stderr
