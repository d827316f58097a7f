"""Which lifecycle `verify --lifecycle` plans (builder.lifecycle.sequence): the earlier builds it finds
beside a build, their order, and the steps for one, two and three of them. No engine needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder.errors import InputError
from builder.lifecycle import load_build
from builder.lifecycle.report import LifecycleReport, Row
from builder.lifecycle.sequence import earlier_builds, plan, version_key, without_update_string
from builder.manifest import SCHEMA
from builder.verify import verify_any
from tests.conftest import run_cli


def labels(earlier: list[str], current: str) -> list[str]:
    return [step.label for step in plan(earlier, current)]


def test_no_earlier_build_plans_nothing() -> None:
    assert plan([], "1.0.0") == []


def test_one_earlier_build() -> None:
    assert labels(["1.0.0"], "1.0.1") == [
        "install 1.0.0",
        "update 1.0.0 -> 1.0.1",
        "remove 1.0.1",
        "owner installs a dependency by hand",
        "install 1.0.0",
        "remove-for-update 1.0.0 -> 1.0.1",
        "remove 1.0.1",
    ]


def test_two_earlier_builds() -> None:
    assert labels(["1.0.0", "1.0.1"], "1.0.2") == [
        "install 1.0.0",
        "update 1.0.0 -> 1.0.1",
        "update 1.0.1 -> 1.0.2",
        "remove 1.0.2",
        "owner installs a dependency by hand",
        "install 1.0.0",
        "update 1.0.0 -> 1.0.2",
        "remove 1.0.2",
        "install 1.0.1",
        "remove-for-update 1.0.1 -> 1.0.2",
        "remove 1.0.2",
    ]


def test_three_earlier_builds_update_through_each_and_from_each() -> None:
    steps = plan(["1.0.0", "1.0.1", "1.0.2"], "1.0.3")
    assert [s.label for s in steps] == [
        "install 1.0.0",
        "update 1.0.0 -> 1.0.1",
        "update 1.0.1 -> 1.0.2",
        "update 1.0.2 -> 1.0.3",
        "remove 1.0.3",
        "owner installs a dependency by hand",
        "install 1.0.0",
        "update 1.0.0 -> 1.0.3",
        "remove 1.0.3",
        "install 1.0.1",
        "update 1.0.1 -> 1.0.3",
        "remove 1.0.3",
        "install 1.0.2",
        "remove-for-update 1.0.2 -> 1.0.3",
        "remove 1.0.3",
    ]
    # every earlier version reaches 1.0.3 directly, and the VM ends with the application removed
    direct = {s.source for s in steps if s.action in ("update", "remove-for-update") and s.version == "1.0.3"}
    assert direct == {"1.0.0", "1.0.1", "1.0.2"}
    assert steps[-1].action == "remove"


def test_versions_order_as_integers() -> None:
    assert version_key("1.0.10") > version_key("1.0.9")  # type: ignore[operator]
    assert version_key("2.0.0") > version_key("1.99.99")  # type: ignore[operator]
    for not_a_version in ("1.0", "1.0.0.0", "01.0.0", "1.0.0-rc1", "latest"):
        assert version_key(not_a_version) is None


def fake_build(root: Path, app: str, version: str, distro: str = "debian-12", named: str = "") -> Path:
    directory = root / app / (named or version) / distro
    directory.mkdir(parents=True)
    (directory / "jq.tar.gz").write_bytes(b"")
    manifest = {
        "schema": SCHEMA,
        "application": {"name": app, "version": version},
        "distro": {"name": distro, "family": "apt"},
        "packageFileName": "jq.tar.gz",
        "commands": {},
        "recipe": {"packages": []},
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def test_earlier_builds_are_siblings_of_the_same_app_and_distro_oldest_first(tmp_path: Path) -> None:
    for version in ("1.0.10", "1.0.2", "1.0.9", "2.0.0"):
        fake_build(tmp_path, "jq", version)
    current = fake_build(tmp_path, "jq", "1.1.0")
    fake_build(tmp_path, "jq", "1.0.3", distro="debian-11")  # another distro
    fake_build(tmp_path, "other", "1.0.0")  # another application
    (tmp_path / "jq" / "notes").mkdir()  # not a version
    (tmp_path / "jq" / "1.0.4").mkdir()  # no build for this distro
    fake_build(tmp_path, "jq", "1.0.5", named="1.0.6")  # a manifest of another version than its directory
    found = earlier_builds(load_build(current))
    assert [b.version for b in found] == ["1.0.2", "1.0.9", "1.0.10"]
    assert earlier_builds(load_build(tmp_path / "jq" / "1.0.2" / "debian-12")) == []
    # rebuild's --lifecycle-depth: the newest earlier builds only, still oldest first
    assert [b.version for b in earlier_builds(load_build(current), 2)] == ["1.0.9", "1.0.10"]
    assert [b.version for b in earlier_builds(load_build(current), 9)] == ["1.0.2", "1.0.9", "1.0.10"]


def test_a_build_outside_an_output_root_has_no_earlier_builds(tmp_path: Path) -> None:
    build = fake_build(tmp_path, "jq", "1.0.0")
    moved = tmp_path / "elsewhere"
    build.rename(moved)
    assert earlier_builds(load_build(moved)) == []


def test_report_table_and_json_list_every_step() -> None:
    report = LifecycleReport("jq", "debian-12", "debian:12", ["1.0.0", "1.0.1"])
    report.rows = [
        Row("install 1.0.0", "1.0.0", "/var/lib/waagent/Microsoft.CPlat.Core.VMApplicationManagerLinux/jq/1.0.0", 0),
        Row("remove 1.0.1", "1.0.1", "x", 0, 1.25, "problems", ["after remove 1.0.1: missing: a"]),
    ]
    report.problems = ["step 2 (remove 1.0.1): after remove 1.0.1: missing: a"]
    table = report.table().splitlines()
    assert table[1].split() == ["#", "step", "version", "directory", "exit", "seconds", "outcome"]
    assert table[2].split() == ["1", "install", "1.0.0", "1.0.0", "jq/1.0.0", "0", "0.0", "not", "run"]
    assert "remove 1.0.1" in table[3] and "1.2" in table[3] and table[3].endswith("problems")
    document = report.to_json()
    assert document["ok"] is False
    assert document["steps"][1]["problems"] == ["after remove 1.0.1: missing: a"]
    assert "at step 2 (remove 1.0.1)" in report.error().message


def test_lifecycle_and_update_from_exclude_each_other(tmp_path: Path) -> None:
    older, build = fake_build(tmp_path, "jq", "1.0.0"), fake_build(tmp_path, "jq", "1.0.1")
    with pytest.raises(InputError, match="give one"):
        verify_any(build, update_from=older, lifecycle=True)


def test_an_update_to_a_version_without_an_update_string_is_planned_as_remove_for_update() -> None:
    steps = without_update_string(plan(["1.0.0", "1.0.1"], "1.0.2"), lambda version: version != "1.0.1")
    assert [s.label for s in steps][:3] == [
        "install 1.0.0",
        "remove-for-update 1.0.0 -> 1.0.1",  # 1.0.1 has no update string
        "update 1.0.1 -> 1.0.2",
    ]
    assert sum(s.action == "remove-for-update" for s in steps) == 2  # and the planned one at the end


def test_json_needs_the_lifecycle(tmp_path: Path) -> None:
    build = fake_build(tmp_path, "jq", "1.0.0")  # no earlier build: plain verify, which has no JSON
    proc = run_cli("verify", build, "--json")
    assert proc.returncode == 2 and "--json prints the lifecycle's steps" in proc.stderr, proc.stderr
