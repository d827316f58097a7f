"""vmapp-build rebuild: skip what is unchanged, build the next version of what changed upstream, report.

The docker tests run the real command over a real signed apt repository (tests/signed_repo.py) that
gets a newer dependency between two runs; the version policy and the report's parts are unit-tested.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from builder.catalogue import CATALOGUE_DEFAULT, catalogue
from builder.errors import InputError
from builder.rebuild.check import closure_change
from builder.rebuild.report import Row, table
from builder.rebuild.version import INT32_MAX, next_version
from builder.repo_metadata import metadata_url
from tests.conftest import DISTRO, run_cli, write_recipe
from tests.rpm_images import vt_recipe
from tests.signed_repo import SignedRepo, serve_signed_repo
from tests.test_diff import NEWER


def _never(_: str) -> bool:
    return False


# -- the version policy ------------------------------------------------------------------------------


def test_patch_policy_starts_at_the_recipe_then_bumps_the_last_build() -> None:
    assert next_version("patch", "1.0.0", None, _never) == "1.0.0"
    assert next_version("patch", "1.0.0", "1.0.0", _never) == "1.0.1"
    assert next_version("patch", "1.0.0", "1.0.9", _never) == "1.0.10"  # numbers, not strings
    assert next_version("patch", "2.0.0", "1.0.7", _never) == "2.0.0"  # the recipe moved on
    assert next_version("patch", "1.0.0", "1.0.1", lambda v: v in {"1.0.2", "1.0.3"}) == "1.0.4"  # never reused


def test_date_policy_numbers_the_builds_of_a_day_within_int32() -> None:
    day = dt.date(2026, 12, 1)
    assert next_version("date", "1.2.0", None, _never, day) == "1.2.2026120100"
    assert next_version("date", "1.2.0", "1.2.2026120100", _never, day) == "1.2.2026120101"
    assert next_version("date", "1.2.0", "1.0.5", lambda v: v.endswith("00"), day) == "1.2.2026120101"
    assert int(next_version("date", "1.0.0", None, _never, dt.date(2147, 12, 31)).split(".")[2]) <= INT32_MAX
    with pytest.raises(InputError, match="no date version left"):  # a later day's build came first
        next_version("date", "1.2.0", "1.2.202612020000", _never, day)
    with pytest.raises(InputError, match="above Azure's limit"):
        next_version("patch", "1.0.0", f"1.0.{INT32_MAX}", _never)


def test_unknown_policy_and_bad_versions_are_input_errors() -> None:
    with pytest.raises(InputError, match="unknown version policy 'semver'"):
        next_version("semver", "1.0.0", None, _never)
    with pytest.raises(InputError, match=re.escape("the last build's version '1.0' is not Major.Minor.Patch")):
        next_version("patch", "1.0.0", "1.0", _never)


# -- the catalogue, the check's words, the report ------------------------------------------------------


def test_catalogue_targets_and_a_broken_recipe_is_its_own_entry(tmp_path: Path) -> None:
    named = catalogue(("jq", "powershell", "myapp-msi"))
    targets = {(e.app, e.target) for e in named}
    assert {("jq", d) for d in CATALOGUE_DEFAULT} <= targets  # no linux.targets: the catalogue's default
    assert ("powershell", "ubuntu-22.04") in targets and ("powershell", "debian-12") not in targets
    assert ("myapp-msi", "windows") in targets
    assert {e.target for e in catalogue(("jq", "powershell"), ("debian-11",))} == {"debian-11"}
    # a recipe for any distro is built for the distros asked; one with linux.targets only for its own
    assert {(e.app, e.target) for e in catalogue(("jq", "powershell"), ("rhel-9", "ubuntu-22.04"))} == {
        ("jq", "rhel-9"),
        ("jq", "ubuntu-22.04"),
        ("powershell", "ubuntu-22.04"),
    }
    broken = write_recipe(tmp_path, "name: [not text\n", "broken.yaml")
    (entry,) = catalogue((str(broken),))
    assert entry.error is not None and entry.app == "broken"


def test_closure_change_names_upgrades_additions_and_removals() -> None:
    locked = {("jq", "1.6-2.1", "amd64"), ("libonig5", "6.9.8-1", "amd64")}
    resolved = {("jq", "1.6-2.1+deb12u1", "amd64"), ("libjq1", "1.6-2.1", "amd64")}
    assert closure_change(locked, resolved) == (
        "the closure changed: jq 1.6-2.1 -> 1.6-2.1+deb12u1, +libjq1 1.6-2.1, -libonig5 6.9.8-1"
    )


def test_metadata_url_only_for_http_apt_repositories() -> None:
    repo = {"url": "http://deb.debian.org/debian", "suite": "bookworm", "metadata": "InRelease", "sha256": "0"}
    assert metadata_url(repo) == "http://deb.debian.org/debian/dists/bookworm/InRelease"
    assert metadata_url({**repo, "suite": "./", "url": "https://x.test/flat/"}) == "https://x.test/flat/InRelease"
    assert metadata_url({**repo, "url": "file:/srv/repo"}) is None
    assert metadata_url({**repo, "metadata": "repomd.xml"}) is None


def test_report_table_shows_versions_changes_and_errors() -> None:
    rows = [
        Row("jq", "jq", "debian-12", "unchanged", "1.0.3", None, "dist/jq/1.0.3/debian-12"),
        Row("curl", "curl", "debian-12", "built", "1.0.0", "1.0.1", "p", "", {"lines": ["upgraded libc 1 -> 2"]}, 42),
        Row("bad", "bad", "-", "failed", error="bad.yaml: name: missing\nhint: x", exit_code=2),
    ]
    lines = table(rows).splitlines()
    assert lines[0].split() == ["app", "distro", "status", "version", "size", "changes"]
    assert "1.0.0 -> 1.0.1" in lines[2] and "upgraded libc 1 -> 2" in lines[2] and "42" in lines[2]
    assert lines[1].split()[:4] == ["jq", "debian-12", "unchanged", "1.0.3"]
    assert lines[3].endswith("bad.yaml: name: missing")


# -- the real thing: a repository that changes between runs ------------------------------------------


@pytest.fixture
def repo(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignedRepo]:
    """A repository of each test's own: the tests change it."""
    with serve_signed_repo(docker_client, tmp_path_factory.mktemp("keys")) as served:
        yield served


# vmapp-hello 1.1.1, still a working command, needing vmapp-hello-data 1.1.0 (NEWER's) and no libonig5.
FIXED = r"""
d=/tmp/fixed/vmapp-hello
mkdir -p "$d/DEBIAN" "$d/usr/bin"
printf 'Package: vmapp-hello\nVersion: 1.1.1\nArchitecture: all\nMaintainer: t <t@vmapp.test>\n' >"$d/DEBIAN/control"
printf 'Depends: vmapp-hello-data (>= 1.1.0)\nDescription: fixed test package\n' >>"$d/DEBIAN/control"
printf '#!/bin/sh\necho hello 1.1.1\n' >"$d/usr/bin/vmapp-hello" && chmod 755 "$d/usr/bin/vmapp-hello"
dpkg-deb --root-owner-group --build "$d" /srv/repo/pool/main/vmapp-hello_1.1.1_all.deb >/dev/null
"""


def _rebuild(out: Path, *args: str | Path) -> tuple[int, dict[str, Any], str]:
    proc = run_cli("rebuild", *args, "--out", out)
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else {}
    return proc.returncode, report, proc.stdout + proc.stderr


def _entries(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["app"]: e for e in report["entries"]}


def _hashes(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in directory.rglob("*")
        if p.is_file()
    }


@pytest.mark.docker
def test_rebuild_skips_unchanged_then_builds_the_next_version_when_a_dependency_is_updated(
    repo: SignedRepo, tmp_path: Path
) -> None:
    shutil.copy(repo.key, tmp_path / "repo.asc")
    recipe = write_recipe(tmp_path, repo.recipe("hello"), "hello.yaml")
    out = tmp_path / "dist % & out"
    code, report, text = _rebuild(out, recipe, "--distro", DISTRO, "--no-verify")  # proved below, by the lifecycle
    assert code == 0, text
    first = _entries(report)["hello"]
    assert (first["status"], first["old_version"], first["new_version"]) == ("built", None, "1.0.0"), first
    manifest = json.loads((out / "hello/1.0.0" / DISTRO / "manifest.json").read_text())
    assert manifest["release"] == {"policy": "patch", "base": "1.0.0", "previous": None}
    built_first = _hashes(out / "hello/1.0.0")

    code, report, text = _rebuild(out, recipe, "--distro", DISTRO)
    again = _entries(report)["hello"]
    assert code == 0 and again["status"] == "unchanged" and again["old_version"] == "1.0.0", text
    assert sorted(p.name for p in (out / "hello").iterdir()) == ["1.0.0"]  # nothing new written

    # vmapp-hello 1.1.0 upstream has lost its command: the new version fails verification, is kept
    # aside as <distro>.failed (never the last build), and the run fails with verify's code.
    repo.update(NEWER)
    code, report, text = _rebuild(out, recipe, "--distro", DISTRO)
    broken = _entries(report)["hello"]
    assert code == 4 and broken["status"] == "failed" and "vmapp-hello: not found" in broken["error"], text
    assert broken["old_version"] == "1.0.0" and "1.0.0  " in text  # the table keeps the last good version
    assert (out / "hello/1.0.1" / f"{DISTRO}.failed/manifest.json").is_file()
    assert not (out / "hello/1.0.1" / DISTRO).exists()

    repo.update(FIXED)  # upstream fixes it: the next version follows the last good build, 1.0.1 is used
    code, report, text = _rebuild(out, recipe, "--distro", DISTRO)
    bumped = _entries(report)["hello"]
    assert code == 0, text
    assert (bumped["status"], bumped["old_version"], bumped["new_version"]) == ("built", "1.0.0", "1.0.2"), bumped
    assert "vmapp-hello 1.0.0 -> 1.1.1" in bumped["reason"] and "-libonig5" in bumped["reason"]
    assert {c["name"] for c in bumped["changes"]["upgraded"]} == {"vmapp-hello", "vmapp-hello-data"}
    assert "1.0.0 -> 1.0.2" in text and "upgraded vmapp-hello-data 1.0.0 -> 1.1.0" in text
    manifest = json.loads((out / "hello/1.0.2" / DISTRO / "manifest.json").read_text())
    assert manifest["release"] == {"policy": "patch", "base": "1.0.0", "previous": "1.0.0"}
    assert bumped["verified"].startswith("lifecycle over 1.0.0, 1.0.2 ("), bumped  # the failed 1.0.1 is no build
    assert _hashes(out / "hello/1.0.0") == built_first  # Azure versions are immutable: never rewritten

    code, report, text = _rebuild(out, recipe, "--distro", DISTRO)
    assert code == 0 and _entries(report)["hello"]["status"] == "unchanged", text


@pytest.mark.docker
def test_rebuild_asks_the_solver_when_metadata_changed_but_not_the_closure(repo: SignedRepo, tmp_path: Path) -> None:
    shutil.copy(repo.key, tmp_path / "repo.asc")
    recipe = write_recipe(tmp_path, repo.recipe("other"), "other.yaml")
    out = tmp_path / "dist"
    code, _, text = _rebuild(out, recipe, "--distro", DISTRO, "--no-verify")
    assert code == 0, text
    # An unrelated package: the repository's Release changes, the closure does not.
    repo.update(NEWER.replace("newer vmapp-hello", "newer vmapp-unrelated", 1).rsplit("\nnewer ", 1)[0] + "\n")
    code, report, text = _rebuild(out, recipe, "--distro", DISTRO, "--no-verify")
    entry = _entries(report)["other"]
    assert code == 0 and entry["status"] == "unchanged", text
    assert entry["reason"] == "unchanged: the solver picks the locked versions"

    recipe.write_text(recipe.read_text().replace("check: vmapp-hello", "check: vmapp-hello >/dev/null"))
    code, report, text = _rebuild(out, recipe, "--distro", DISTRO, "--no-verify")
    entry = _entries(report)["other"]
    assert (entry["status"], entry["new_version"], entry["reason"]) == ("built", "1.0.1", "the recipe changed"), text


@pytest.mark.docker
def test_a_failing_recipe_does_not_stop_the_others(repo: SignedRepo, tmp_path: Path) -> None:
    shutil.copy(repo.key, tmp_path / "repo.asc")
    good = write_recipe(tmp_path, repo.recipe("good"), "good.yaml")
    missing = write_recipe(tmp_path, repo.recipe("missing").replace("[vmapp-hello]", "[vmapp-nowhere]"), "m.yaml")
    broken = write_recipe(tmp_path, "name: broken\nversion: 1\n", "broken.yaml")
    out = tmp_path / "dist"
    code, report, text = _rebuild(out, missing, broken, good, "--distro", DISTRO, "--jobs", "2", "--no-verify")
    entries = _entries(report)
    assert entries["good"]["status"] == "built" and (out / "good/1.0.0" / DISTRO / "manifest.json").is_file()
    assert entries["missing"]["status"] == "failed" and "vmapp-nowhere" in entries["missing"]["error"]
    assert entries["broken"]["status"] == "failed" and "version" in entries["broken"]["error"]
    assert code == 2, text  # the highest failure's code: both are input errors (a package not found, a bad version)
    assert not (out / "missing").exists()  # nothing half-written for the failed one
    assert "2 of 3 failed" in text


@pytest.mark.docker
@pytest.mark.parametrize(("family", "distro"), [("dnf", "rhel-9"), ("zypper", "sles-15")])
def test_rpm_rebuild_asks_the_solver_and_skips_what_is_unchanged(
    docker_client: docker.DockerClient, tmp_path: Path, family: str, distro: str
) -> None:
    """An RPM lock's repomd.xml cannot be fetched from the host: the solver (after a refresh) answers."""
    image, recipe = vt_recipe(docker_client, family, tmp_path)
    config = tmp_path / "vmapp-build.toml"
    config.write_text(f'[images]\n"{distro}" = "{image}"\n')
    out = tmp_path / "dist"
    env = {"VMAPP_BUILD_CONFIG": str(config)}
    first = run_cli("rebuild", recipe, "--distro", distro, "--out", out, "--no-verify", env=env)
    assert first.returncode == 0, first.stderr
    again = run_cli("rebuild", recipe, "--distro", distro, "--out", out, "--no-verify", env=env)
    entry = _entries(json.loads((out / "report.json").read_text()))["vt"]
    assert again.returncode == 0 and entry["status"] == "unchanged", again.stdout + again.stderr
    assert entry["reason"] == "unchanged: the solver picks the locked versions"
