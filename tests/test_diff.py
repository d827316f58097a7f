"""vmapp-build diff: the difference between two builds, on manifests (unit) and two real builds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import docker
import pytest

from builder.diff import compare_versions, diff_builds
from builder.lock import LOCK_NAME
from builder.pipeline import build
from builder.plan import make_plan
from builder.recipe import load_recipe
from tests.conftest import DISTRO, run_cli, write_recipe
from tests.signed_repo import serve_signed_repo


def _manifest(
    version: str,
    packages: list[tuple[str, str, int]],
    *,
    app: str = "jq",
    distro: str = "debian-12",
    family: str = "apt",
) -> dict[str, Any]:
    return {
        "schema": 1,
        "application": {"name": app, "version": version},
        "distro": {"name": distro, "family": family},
        "package": {"file": f"{app}.tar.gz", "size": sum(p[2] for p in packages), "sha256": "0" * 64},
        "packages": [
            {"name": n, "version": v, "architecture": "amd64", "size": s, "sha256": f"{n}{v}", "file": f"{n}.deb"}
            for n, v, s in packages
        ],
    }


def _write(root: Path, document: dict[str, Any]) -> Path:
    application, distro = document["application"], document["distro"]
    directory: Path = root / application["name"] / application["version"] / distro["name"]
    directory.mkdir(parents=True)
    (directory / "manifest.json").write_text(json.dumps(document))
    return directory


@pytest.fixture
def two_builds(tmp_path: Path) -> tuple[Path, Path]:
    old = _manifest(
        "1.0.0", [("jq", "1.6-2.1", 100), ("libjq1", "1.6-2.1", 200), ("gone", "1.0", 50), ("back", "2:1.0", 10)]
    )
    new = _manifest(
        "1.0.1",
        [("jq", "1.6-2.1+deb12u1", 110), ("libjq1", "1.6-2.1", 200), ("fresh", "0.1", 30), ("back", "1:9.9", 12)],
    )
    return _write(tmp_path, old), _write(tmp_path, new)


def test_diff_names_added_removed_upgraded_downgraded_with_sizes(two_builds: tuple[Path, Path]) -> None:
    result = diff_builds(*two_builds)
    kinds = {c.name: (c.kind, c.old_version, c.new_version, c.size_change) for c in result.changes}
    assert kinds == {
        "jq": ("upgraded", "1.6-2.1", "1.6-2.1+deb12u1", 10),
        "fresh": ("added", None, "0.1", 30),
        "gone": ("removed", "1.0", None, -50),
        "back": ("downgraded", "2:1.0", "1:9.9", 2),  # the epoch decides, not the string
    }
    assert (result.old_size, result.new_size) == (360, 352)


def test_diff_json_shape(two_builds: tuple[Path, Path]) -> None:
    out = run_cli("diff", *two_builds, "--json")
    assert out.returncode == 0, out.stderr
    document = json.loads(out.stdout)
    assert set(document) == {
        "application",
        "distro",
        "old",
        "new",
        "size_change",
        "added",
        "removed",
        "upgraded",
        "downgraded",
        "changed",
    }
    assert document["size_change"] == -8
    assert document["upgraded"] == [
        {
            "kind": "upgraded",
            "name": "jq",
            "architecture": "amd64",
            "size_change": 10,
            "old": {"version": "1.6-2.1", "size": 100},
            "new": {"version": "1.6-2.1+deb12u1", "size": 110},
        }
    ]
    text = run_cli("diff", *two_builds)
    assert text.returncode == 0, text.stderr
    assert "upgraded   jq:amd64 1.6-2.1 -> 1.6-2.1+deb12u1 (+10 bytes)" in text.stdout
    assert "removed    gone:amd64 1.0 (-50 bytes)" in text.stdout


def test_diff_refuses_another_app_or_distro_and_a_missing_build(tmp_path: Path) -> None:
    old = _write(tmp_path, _manifest("1.0.0", [("jq", "1", 1)]))
    other_distro = _write(tmp_path, _manifest("1.0.1", [("jq", "1", 1)], distro="debian-11"))
    other_app = _write(tmp_path, _manifest("1.0.0", [("jq", "1", 1)], app="curl"))
    out = run_cli("diff", old, other_distro)
    assert out.returncode == 2 and "different distro: debian-12 and debian-11" in out.stderr, out.stderr
    out = run_cli("diff", old, other_app)
    assert out.returncode == 2 and "different app: jq and curl" in out.stderr, out.stderr
    out = run_cli("diff", old, tmp_path / "nowhere")
    assert out.returncode == 2 and "cannot read the manifest" in out.stderr, out.stderr


# Recorded real versions: (older, newer). deb by dpkg's rules, RPM by rpm's (rpm-version's evr_compare).
DEB_ORDER = [
    ("1.6-2.1", "1.6-2.1+deb12u1"),
    ("2.36-9+deb12u4", "2.36-9+deb12u10"),  # numerically, not as strings
    ("1.0~rc1-1", "1.0-1"),  # tilde sorts before everything
    ("7.88.1-10+deb12u8", "1:7.0-1"),  # an epoch beats any version
]
RPM_ORDER = [
    ("1.6-20.el9", "1.6-21.el9"),
    ("2.34-100.el9_4.2", "2.34-100.el9_4.10"),
    ("3.0.7-27.el9", "1:3.0.7-6.el9"),  # openssl's epoch
    ("1.0~rc1-1", "1.0-1"),
    ("1.0-1", "1.0^git1-1"),  # caret sorts after the release it follows
    ("5.4.4-4.el9", "5.4.4-4.el9_4"),
]


@pytest.mark.parametrize(("older", "newer"), DEB_ORDER)
def test_deb_version_order(older: str, newer: str) -> None:
    assert compare_versions("apt", older, newer) == -1
    assert compare_versions("apt", newer, older) == 1
    assert compare_versions("apt", older, older) == 0


@pytest.mark.parametrize(("older", "newer"), RPM_ORDER)
@pytest.mark.parametrize("family", ["dnf", "yum", "zypper"])
def test_rpm_version_order(family: str, older: str, newer: str) -> None:
    assert compare_versions(family, older, newer) == -1
    assert compare_versions(family, newer, older) == 1


def test_diff_reports_changed_tarball_source_from_the_lock(tmp_path: Path) -> None:
    builds = []
    for version, digest in (("1.0.0", "a" * 64), ("1.0.1", "b" * 64)):
        document = _manifest(version, [])
        document["tarball"] = {"source": "https://example.test/t.tar.gz", "sha256": digest, "size": 5}
        directory = _write(tmp_path, document)
        lock = {
            "schema": 1,
            "sources": [{"file": "jq.tar.gz", "source": "https://example.test/t.tar.gz", "sha256": digest}],
        }
        (directory / LOCK_NAME).write_text(json.dumps(lock))
        builds.append(directory)
    (change,) = diff_builds(*builds).changes
    assert (change.kind, change.name, change.old_version, change.new_version) == (
        "changed",
        "jq.tar.gz",
        "a" * 12,
        "b" * 12,
    )


# The repository gets vmapp-hello 1.1.0, which needs the newer vmapp-hello-data 1.1.0 and no more
# libonig5: the packages built here; SignedRepo.update indexes and signs the pool again.
NEWER = r"""
newer() {  # NAME DEPENDS
    d=/tmp/newer/$1
    mkdir -p "$d/DEBIAN" "$d/usr/share/$1"
    printf 'Package: %s\nVersion: 1.1.0\nArchitecture: all\nMaintainer: t <t@vmapp.test>\n' "$1" >"$d/DEBIAN/control"
    [ -z "$2" ] || echo "Depends: $2" >>"$d/DEBIAN/control"
    echo "Description: newer test package" >>"$d/DEBIAN/control"
    head -c 4096 /dev/urandom >"$d/usr/share/$1/padding"
    dpkg-deb --root-owner-group --build "$d" "/srv/repo/pool/main/$1_1.1.0_all.deb" >/dev/null
}
newer vmapp-hello-data ""
newer vmapp-hello "vmapp-hello-data (>= 1.1.0)"
"""


@pytest.mark.docker
def test_diff_of_two_real_builds_after_the_repository_got_a_newer_dependency(
    docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    with serve_signed_repo(docker_client, tmp_path / "keys") as repo:
        shutil.copy(repo.key, tmp_path / "repo.asc")
        recipe = load_recipe(write_recipe(tmp_path, repo.recipe()))
        old = build(make_plan(recipe, DISTRO, tmp_path / "old"), docker_client).manifest.parent
        repo.update(NEWER)
        new = build(make_plan(recipe, DISTRO, tmp_path / "new"), docker_client).manifest.parent
    out = run_cli("diff", old, new, "--json")
    assert out.returncode == 0, out.stderr
    document = json.loads(out.stdout)
    upgraded = {c["name"]: (c["old"]["version"], c["new"]["version"]) for c in document["upgraded"]}
    assert upgraded == {"vmapp-hello": ("1.0.0", "1.1.0"), "vmapp-hello-data": ("1.0.0", "1.1.0")}
    assert [c["name"] for c in document["removed"]] == ["libonig5"]
    assert document["added"] == [] and document["downgraded"] == []
    data = next(c for c in document["upgraded"] if c["name"] == "vmapp-hello-data")
    assert data["size_change"] > 4000  # the newer data package carries 4 KiB of random bytes more
    old_lock, new_lock = (json.loads((d / LOCK_NAME).read_text()) for d in (old, new))
    (old_release,) = [r for r in old_lock["repositories"] if r["url"] == repo.url]
    (new_release,) = [r for r in new_lock["repositories"] if r["url"] == repo.url]
    assert old_release["sha256"] != new_release["sha256"]  # the lock saw the repository change
    text = run_cli("diff", old, new)
    assert "upgraded   vmapp-hello-data:all 1.0.0 -> 1.1.0" in text.stdout, text.stdout
