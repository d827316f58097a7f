"""End to end on debian-12 in real containers: build real packages, verify them offline."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from builder.container import Container
from builder.lifecycle import bare
from builder.pipeline import BuildResult, build
from builder.plan import make_plan
from builder.recipe import load_recipe
from builder.verify import EXTENSION_DIR, verify
from tests.conftest import DISTRO, files_under, run_cli, write_recipe
from tests.narrow import package_report

pytestmark = pytest.mark.docker


def tar_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        members = {}
        for m in tar.getmembers():
            f = tar.extractfile(m)
            assert f is not None, f"{m.name} is not a regular file"
            members[m.name] = f.read()
        return members


@pytest.mark.parametrize("name", ["git", "curl"])
def test_real_package_builds_and_verifies_offline(
    build_shipped: Callable[[str], BuildResult], docker_client: docker.DockerClient, name: str
) -> None:
    result = build_shipped(name)
    doc = result.document
    members = tar_members(result.package)
    debs = {n: data for n, data in members.items() if n.endswith(".deb")}

    assert len(debs) >= 10, "git and curl have non-trivial closures on a minimal image"
    assert result.package.name == f"{name}.tar.gz" == doc["packageFileName"]
    assert result.package.parent == result.manifest.parent
    assert result.package.parent.parts[-3:] == (name, "1.0.0", DISTRO)
    # The manifest lists exactly the bundled files, with their real sizes and hashes.
    listed = {p["file"]: p for p in doc["packages"]}
    assert set(listed) == set(debs)
    for file, data in debs.items():
        assert listed[file]["sha256"] == hashlib.sha256(data).hexdigest()
        assert listed[file]["size"] == len(data)
    assert name in {p["name"] for p in doc["packages"]}
    # The flat index names every .deb with its hash, so apt on the VM checks what it installs.
    index = members["Packages"].decode()
    for file, data in debs.items():
        assert f"Filename: ./{file}\n" in index
        assert f"SHA256: {hashlib.sha256(data).hexdigest()}\n" in index
    # Discovery is kept: apt show's Depends and the recursive tree.
    assert doc["discovery"]["direct"][0]["package"] == name
    assert doc["discovery"]["direct"][0]["depends"]
    assert name in doc["discovery"]["tree"]["packages"]
    assert doc["discovery"]["commands"][0] == f"apt show {name}"
    assert doc["image"]["id"] == docker_client.images.get("debian:12").id
    assert doc["sizes"]["package"] == result.package.stat().st_size
    assert all(r["level"] == "ok" for r in doc["limits"])
    assert set(doc["commands"]) == {"install", "remove", "update"}
    assert doc["tool"]["name"] == "vmapp-build"

    report = package_report(verify(result.manifest.parent, client=docker_client))
    assert [s for s, _ in report.steps] == ["install", "check", "remove", "check after remove"]
    assert name in report.added
    assert set(report.after_remove) == set(report.before)


def test_same_inputs_give_the_same_bytes(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    recipe = load_recipe("jq")
    first = build(make_plan(recipe, DISTRO, tmp_path / "a"), docker_client)
    second = build(make_plan(recipe, DISTRO, tmp_path / "b"), docker_client)
    assert first.package.read_bytes() == second.package.read_bytes()
    with gzip.open(first.package) as gz, tarfile.open(fileobj=io.BytesIO(gz.read())) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {(m.mtime, m.uid, m.gid) for m in members} == {(0, 0, 0)}


def test_newer_installed_dependency_is_kept(
    build_shipped: Callable[[str], BuildResult], docker_client: docker.DockerClient
) -> None:
    """A VM with a newer libonig5 than the bundle's: install keeps it (dpkg -i would downgrade it)."""
    result = build_shipped("jq")
    bundled = next(p["version"] for p in result.document["packages"] if p["name"] == "libonig5")
    newer = f"{bundled}+vmapptest1"
    tag = "vmapp-test/debian-newer-onig:12"
    repack = (
        "set -e; apt-get -q update >/dev/null; cd /tmp; apt-get -q download libonig5 >/dev/null;"
        " dpkg-deb -R libonig5_*.deb x;"
        f" sed -i 's/^Version: .*/Version: {newer}/' x/DEBIAN/control;"
        " dpkg-deb -b x newer.deb >/dev/null; dpkg -i newer.deb >/dev/null; rm -rf /var/lib/apt/lists/* /tmp/*"
    )
    with Container(docker_client, "debian:12", "test", labelled=False) as seed:
        seed.run(["sh", "-c", repack], "repacking libonig5 as a newer version")
        seed.handle.commit(*tag.split(":"))
    try:
        report = package_report(verify(result.manifest.parent, image=tag, client=docker_client))
        assert report.before["libonig5:amd64"] == newer
        assert report.after_install["libonig5:amd64"] == newer, "install downgraded libonig5"
        assert "libonig5:amd64" not in report.added
        assert report.after_remove["libonig5:amd64"] == newer, "remove took out what the VM had before"
    finally:
        docker_client.images.remove(tag, force=True)


def test_tampered_bundle_fails_verification(build_shipped: Callable[[str], BuildResult], tmp_path: Path) -> None:
    result = build_shipped("jq")
    tampered = tmp_path / "tampered"
    shutil.copytree(result.manifest.parent, tampered)
    members = tar_members(result.package)
    dropped = next(n for n in members if n.startswith("libjq1_"))
    with tarfile.open(tampered / "jq.tar.gz", "w:gz") as tar:
        for name, data in sorted(members.items()):
            if name != dropped:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

    proc = run_cli("verify", tampered)
    assert proc.returncode == 4, proc.stderr
    assert "install exited with" in proc.stderr
    assert "libjq1" in proc.stderr  # apt's own complaint, shown to the user
    assert "differs from the package this manifest was built with" in proc.stderr


def test_update_from_an_older_version_then_remove(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    """1.0.0 ships jq and lsof; 1.1.0 ships jq only. Update over 1.0.0, then remove: nothing is left,
    not even lsof, which only the older version asked for."""
    old = write_recipe(tmp_path, "name: tools\nversion: 1.0.0\nlinux:\n  packages: [jq, lsof]\n", "old.yaml")
    new = write_recipe(
        tmp_path, "name: tools\nversion: 1.1.0\nlinux:\n  packages: [jq]\n  check: jq --version\n", "new.yaml"
    )
    out = tmp_path / "dist"
    old_build = build(make_plan(load_recipe(old), DISTRO, out), docker_client)
    new_build = build(make_plan(load_recipe(new), DISTRO, out), docker_client)
    report = package_report(
        verify(new_build.manifest.parent, update_from=old_build.manifest.parent, client=docker_client)
    )
    steps = [s for s, _ in report.steps]
    assert steps[:2] == ["install (older version)", "update"]
    assert "remove-for-update 1.0.0" in steps and "install (older version, again)" in steps
    assert {"jq", "lsof", "libonig5"} <= {n.split(":")[0] for n in report.added}
    # the replay's owner installed one of the bundle's dependencies by hand: it stays, nothing else does
    assert len(report.owner) == 1
    assert bare(report.after_remove) == bare(report.before) | report.owner


def test_install_runs_in_the_extension_download_directory(
    build_shipped: Callable[[str], BuildResult], docker_client: docker.DockerClient
) -> None:
    result = build_shipped("jq")
    report = package_report(verify(result.manifest.parent, client=docker_client))
    install = dict(report.steps)["install"]
    assert "vmapp: installed" in install.stdout
    assert EXTENSION_DIR.endswith("Microsoft.CPlat.Core.VMApplicationManagerLinux")
    # The install string names the package only by its packageFileName, relative to the directory.
    assert "tar -xzf jq.tar.gz" in result.document["commands"]["install"]


def test_cli_recipe_with_verify(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    proc = run_cli("recipe", "jq", "--distro", DISTRO, "--out", tmp_path, "--verify")
    assert proc.returncode == 0, proc.stderr
    assert "verified jq 1.0.0 offline" in proc.stdout
    assert files_under(tmp_path) == [
        "jq",
        "jq/1.0.0",
        "jq/1.0.0/debian-12",
        "jq/1.0.0/debian-12/jq.tar.gz",
        "jq/1.0.0/debian-12/lock.json",
        "jq/1.0.0/debian-12/manifest.json",
        "jq/1.0.0/debian-12/sbom.cdx.json",
    ]
    manifest = json.loads((tmp_path / "jq/1.0.0/debian-12/manifest.json").read_text())
    assert manifest["recipe"]["check"] == "jq --version"


def test_several_releases_in_one_run(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    """debian-11 and debian-12 in one run: each its own container, image and bundle, then a summary."""
    docker_client.images.get("debian:11")  # `make image` bootstraps it
    proc = run_cli("recipe", "jq", "--distro", "debian-11", "--distro", DISTRO, "--out", tmp_path, "--verify")
    assert proc.returncode == 0, proc.stderr
    manifests = {d: json.loads((tmp_path / f"jq/1.0.0/{d}/manifest.json").read_text()) for d in ("debian-11", DISTRO)}
    assert manifests["debian-11"]["image"]["id"] != manifests[DISTRO]["image"]["id"]
    versions = {d: {p["name"]: p["version"] for p in m["packages"]}["jq"] for d, m in manifests.items()}
    assert versions["debian-11"] != versions[DISTRO]  # each release's own jq
    summary = proc.stdout[proc.stdout.index("distro ") :].splitlines()
    assert summary[0].split() == ["distro", "packages", "bytes", "file"]
    rows = {line.split()[0]: line.split() for line in summary[1:]}
    assert set(rows) == {"debian-11", DISTRO}
    for distro, row in rows.items():
        assert int(row[1]) == len(manifests[distro]["packages"])
        assert int(row[2]) == manifests[distro]["sizes"]["package"]
    assert proc.stdout.count("verified jq 1.0.0 offline") == 2
