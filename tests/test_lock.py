"""lock.json: the parsers on recorded real outputs, and the lock of real apt, dnf and tarball builds."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from builder.backends.sources import (
    apt_list_name,
    apt_release_for,
    parse_apt_policy,
    parse_apt_releases,
    parse_repomds,
    repomd_id,
)
from builder.lock import LOCK_NAME, lock_document
from builder.pipeline import BuildResult, build
from builder.plan import make_plan
from builder.recipe import load_recipe
from tests.conftest import DISTRO, files_under, run_cli, write_recipe
from tests.rpm_images import vt_recipe
from tests.signed_repo import serve_signed_repo
from tests.test_diff import NEWER
from tests.test_tarball import make_tarball, tool_recipe

# `apt-cache policy jq libc6` in debian:12 (one version from -security, one installed from dpkg's status)
POLICY = """\
jq:
  Installed: (none)
  Candidate: 1.6-2.1+deb12u3
  Version table:
     1.6-2.1+deb12u3 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
     1.6-2.1+deb12u2 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
libc6:
  Installed: 2.36-9+deb12u14
  Candidate: 2.36-9+deb12u14
  Version table:
 *** 2.36-9+deb12u14 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
        100 /var/lib/dpkg/status
     2.36-9+deb12u7 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
"""
# the Release listing (sources._APT_RELEASES) in the same container
RELEASES = """\
@@ deb.debian.org_debian-security_dists_bookworm-security_InRelease
0ccd658bf79c10d9f3fcf3daeb55c20a8d2d45f8dde0f138c40592acefe85b7e  -
Origin: Debian
Suite: oldstable-security
Codename: bookworm-security
Date: Mon, 30 Nov 2026 00:22:33 UTC
@@ deb.debian.org_debian_dists_bookworm_InRelease
77737fa4b34f2693e982cc9ee35736816c35a7778fc2d326cc1bbf5b301fe1aa  -
Origin: Debian
Suite: oldstable
Codename: bookworm
Date: Sat, 11 Jul 2026 10:16:37 UTC
"""
# the repomd listing (sources._REPOMDS) of the dnf test repository, dnf's and zypper's cache layouts
REPOMD = """<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1796136247</revision>
  <data type="primary">
    <timestamp>1796136240</timestamp>
  </data>
  <data type="filelists">
    <timestamp>1796136247</timestamp>
  </data>
</repomd>
"""


def test_apt_policy_gives_each_version_its_repositories() -> None:
    table = parse_apt_policy(POLICY)
    assert table[("jq", "1.6-2.1+deb12u3")] == [
        ("http://deb.debian.org/debian-security", "bookworm-security/main", "amd64")
    ]
    assert table[("jq", "1.6-2.1+deb12u2")] == [("http://deb.debian.org/debian", "bookworm/main", "amd64")]
    # the installed copy (dpkg's status file) is not a repository
    assert table[("libc6", "2.36-9+deb12u14")] == [("http://deb.debian.org/debian", "bookworm/main", "amd64")]


def test_apt_release_is_found_by_apt_list_name() -> None:
    releases = parse_apt_releases(RELEASES)
    metadata, fields = apt_release_for("http://deb.debian.org/debian-security", "bookworm-security", releases)
    assert metadata == "InRelease"
    assert fields["sha256"] == "0ccd658bf79c10d9f3fcf3daeb55c20a8d2d45f8dde0f138c40592acefe85b7e"
    assert fields["Date"] == "Mon, 30 Nov 2026 00:22:33 UTC"
    assert apt_release_for("http://deb.debian.org/debian", "bookworm-updates", releases) == ("", {})
    assert apt_list_name("http://172.17.0.5:8080/") == "172.17.0.5:8080_"
    assert apt_list_name("file:/srv/repo/") == "_srv_repo_"


def test_repomd_state_and_id_in_each_cache_layout() -> None:
    paths = {
        "/var/cache/dnf/vmapp-test-4d8a4dbb0e1e8c6a/repodata/repomd.xml": "vmapp-test",  # dnf
        "/var/cache/yum/x86_64/7/base/repomd.xml": "base",  # yum 3
        "/var/cache/zypp/raw/vmapp-test/repodata/repomd.xml": "vmapp-test",  # zypper
    }
    for path, repo in paths.items():
        assert repomd_id(path) == repo
    listing = "@@ /var/cache/dnf/vmapp-test-4d8a4dbb0e1e8c6a/repodata/repomd.xml\n" + "ab" * 32 + "  -\n" + REPOMD
    (state,) = parse_repomds(listing).values()
    assert (state.id, state.revision, state.date, state.sha256) == ("vmapp-test", "1796136247", "1796136247", "ab" * 32)


def test_tarball_and_windows_locks_list_their_sources() -> None:
    package = {"file": "tool.tar.gz", "sha256": "a" * 64, "size": 5}
    base = {"application": {"name": "tool", "version": "1.0.0"}, "distro": {"name": "debian-12"}, "package": package}
    tarball = lock_document(base | {"tarball": {"source": "https://x.test/t.tgz", "sha256": "a" * 64}}, None)
    assert tarball["sources"] == [{"file": "tool.tar.gz", "source": "https://x.test/t.tgz", "sha256": "a" * 64}]
    installer = {"file": "a.msi", "source": "C:/a.msi", "sha256": "b" * 64, "size": 1, "type": "msi"}
    windows = lock_document(base | {"installers": [installer]}, None)
    assert windows["sources"] == [{"file": "a.msi", "source": "C:/a.msi", "sha256": "b" * 64}]
    assert windows["packages"] == [] and windows["repositories"] == []


def _lock(result: BuildResult) -> dict[str, object]:
    document: dict[str, object] = json.loads((result.manifest.parent / LOCK_NAME).read_text())
    return document


@pytest.mark.docker
def test_apt_build_locks_packages_and_releases_and_rebuilds_byte_identical(
    build_shipped: Callable[[str], BuildResult], docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    first = build_shipped("jq")
    lock = json.loads((first.manifest.parent / LOCK_NAME).read_text())
    by_name = {p["name"]: p for p in lock["packages"]}
    assert set(by_name) == {p["name"] for p in first.document["packages"]}
    for manifest_entry in first.document["packages"]:
        entry = by_name[manifest_entry["name"]]
        assert {k: entry[k] for k in ("version", "architecture", "sha256")} == {
            k: manifest_entry[k] for k in ("version", "architecture", "sha256")
        }
        assert entry["repository"].startswith("http://deb.debian.org/") and entry["suite"].startswith("bookworm")
    used = {(p["repository"], p["suite"]) for p in lock["packages"]}
    # every repository the solver chose from, not only those a package came from (rebuild's check)
    every = {("http://deb.debian.org/debian", s) for s in ("bookworm", "bookworm-updates")}
    assert {(r["url"], r["suite"]) for r in lock["repositories"]} == used | every
    for repo in lock["repositories"]:
        assert repo["metadata"] == "InRelease" and len(repo["sha256"]) == 64 and repo["date"].endswith("UTC")
    assert lock["package"]["sha256"] == first.document["package"]["sha256"]
    again = build(make_plan(load_recipe("jq"), DISTRO, tmp_path / "dist"), docker_client)
    assert (again.manifest.parent / LOCK_NAME).read_bytes() == (first.manifest.parent / LOCK_NAME).read_bytes()


@pytest.mark.docker
@pytest.mark.parametrize(("family", "distro"), [("dnf", "rhel-9"), ("zypper", "sles-15")])
def test_rpm_build_locks_each_package_to_its_repository_and_repomd(
    docker_client: docker.DockerClient, tmp_path: Path, family: str, distro: str
) -> None:
    """dnf: repoquery's %{repoid} and dnf's cache; zypper: its cache's aliases and raw metadata."""
    image, recipe = vt_recipe(docker_client, family, tmp_path, name=f"vt-{family}.yaml")
    result = build(make_plan(load_recipe(recipe), distro, tmp_path / "dist", image), docker_client)
    lock = json.loads((result.manifest.parent / LOCK_NAME).read_text())
    assert {(p["name"], p["version"], p["sha256"]) for p in lock["packages"]} == {
        (p["name"], p["version"], p["sha256"]) for p in result.document["packages"]
    }
    assert {p["repository"] for p in lock["packages"]} == {"vmapp-test"}
    (repo,) = lock["repositories"]
    assert repo["id"] == "vmapp-test" and repo["url"] == "file:///srv/vmapp-test/repo"
    assert repo["metadata"] == "repomd.xml" and len(repo["sha256"]) == 64 and repo["revision"].isdigit()


def test_tarball_build_locks_its_source(tmp_path: Path) -> None:
    sha = make_tarball(tmp_path / "tool-1.0.0.tar.gz", {"bin/tool": "#!/bin/sh\necho hi\n"})
    recipe = write_recipe(tmp_path, tool_recipe("1.0.0", "tool-1.0.0.tar.gz", sha, "/opt/tool"), "tool.yaml")
    result = build(make_plan(load_recipe(recipe), DISTRO, tmp_path / "dist"))
    lock = _lock(result)
    assert lock["sources"] == [
        {"file": result.package.name, "source": str(tmp_path / "tool-1.0.0.tar.gz"), "sha256": sha}
    ]
    assert lock["packages"] == [] and lock["repositories"] == []


# Drop vmapp-hello-data 1.0.0 from the pool (SignedRepo.update re-indexes and re-signs): a locked version gone.
DROP_OLD_DATA = "rm /srv/repo/pool/main/vmapp-hello-data_1.0.0_all.deb"


@pytest.mark.docker
def test_locked_rebuild_takes_the_locked_versions_or_names_those_gone(
    docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    with serve_signed_repo(docker_client, tmp_path / "keys") as repo:
        shutil.copy(repo.key, tmp_path / "repo.asc")
        recipe = write_recipe(tmp_path, repo.recipe())
        first = build(make_plan(load_recipe(recipe), DISTRO, tmp_path / "first"), docker_client).manifest.parent
        repo.update(NEWER)  # vmapp-hello 1.1.0 and its newer data package
        out = run_cli("recipe", recipe, "--distro", DISTRO, "--out", tmp_path / "locked", "--locked", first)
        assert out.returncode == 0, out.stderr
        locked = next((tmp_path / "locked").rglob(LOCK_NAME))
        versions = {p["name"]: p["version"] for p in json.loads(locked.read_text())["packages"]}
        assert versions == {p["name"]: p["version"] for p in json.loads((first / LOCK_NAME).read_text())["packages"]}
        assert versions["vmapp-hello"] == "1.0.0"
        repo.update(DROP_OLD_DATA)
        gone = run_cli("recipe", recipe, "--distro", DISTRO, "--out", tmp_path / "gone", "--locked", first / LOCK_NAME)
    assert gone.returncode == 3, gone.stderr
    assert "locked versions are gone from the repositories" in gone.stderr
    assert "vmapp-hello-data 1.0.0" in gone.stderr and "vmapp-hello 1.0.0" not in gone.stderr
    assert files_under(tmp_path / "gone") == []


def test_locked_refuses_the_lock_of_another_app(tmp_path: Path) -> None:
    lock = {"schema": 1, "application": {"name": "curl"}, "distro": {"name": DISTRO}, "packages": []}
    (tmp_path / LOCK_NAME).write_text(json.dumps(lock))
    out = run_cli("recipe", "jq", "--distro", DISTRO, "--out", tmp_path / "dist", "--locked", tmp_path)
    assert out.returncode == 2 and "the lock of curl for debian-12, not of jq for debian-12" in out.stderr, out.stderr


# A lock of vt-app that the solver would not pick today: vt-lib 1.1 (the repository's newest is 1.2),
# and the other provider of each alternative (vt-tls-b, vt-mta-postfix).
RPM_LOCKED = {
    "vt-app": "1.0-1",
    "vt-lib": "1.1-1",
    "vt-tls-b": "1.0-1",
    "vt-helper": "1.0-1",
    "vt-mta-postfix": "1.0-1",
    "vt-keep": "1.0-1",
}


def _rpm_lock(directory: Path, distro: str, versions: dict[str, str]) -> Path:
    packages = [{"name": n, "version": v, "architecture": "noarch"} for n, v in versions.items()]
    lock = {"schema": 1, "application": {"name": "vt"}, "distro": {"name": distro}, "packages": packages}
    directory.mkdir()
    (directory / LOCK_NAME).write_text(json.dumps(lock))
    return directory


@pytest.mark.docker
@pytest.mark.parametrize(("family", "distro"), [("dnf", "rhel-9"), ("zypper", "sles-15")])
def test_rpm_locked_rebuild_takes_the_locked_versions_or_names_those_gone(
    docker_client: docker.DockerClient, tmp_path: Path, family: str, distro: str
) -> None:
    """dnf is given each NEVRA, zypper each NAME.ARCH=EDITION: the bundle is the lock's, not the solver's
    choice; a version no repository has makes the build fail naming it, and nothing is written."""
    image, recipe = vt_recipe(docker_client, family, tmp_path)
    locked = _rpm_lock(tmp_path / "lock", distro, RPM_LOCKED)
    out = run_cli("recipe", recipe, "--distro", distro, "--image", image, "--out", tmp_path / "ok", "--locked", locked)
    assert out.returncode == 0, out.stderr
    lock = json.loads(next((tmp_path / "ok").rglob(LOCK_NAME)).read_text())
    assert {p["name"]: p["version"] for p in lock["packages"]} == RPM_LOCKED
    gone = _rpm_lock(tmp_path / "gone", distro, {**RPM_LOCKED, "vt-lib": "0.9-1"})
    out = run_cli("recipe", recipe, "--distro", distro, "--image", image, "--out", tmp_path / "no", "--locked", gone)
    assert out.returncode == 3, out.stderr
    said = next(line for line in out.stderr.splitlines() if "locked versions are gone" in line)
    assert f"gone from the repositories on {distro}" in said and said.endswith("): vt-lib 0.9-1"), out.stderr
    assert files_under(tmp_path / "no") == []
