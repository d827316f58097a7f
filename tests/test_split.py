"""Closures larger than one package (builder.split): ordered applications `<app>-part1..N`.

The docker tests build, once per module, a closure of about 55 MiB of incompressible packages (random
bytes, a dependency chain) from a signed repository the test makes (tests/signed_repo.py), with
`--max-package-size 25M`; then verify and simulate install every part in order in a network-less
container, and remove them all.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from builder.bundle import write_tar_gz
from builder.errors import LimitError
from builder.lifecycle.verify import PackageReport
from builder.simulate import load_plan, simulate
from builder.split import VM_PLAN, Sized, estimate, group_files, part_app
from builder.verify import verify
from tests.conftest import run_cli, write_recipe
from tests.signed_repo import serve_signed_repo

DISTRO = "debian-12"
MIB = 1024 * 1024
LIMIT = 25 * MIB  # --max-package-size 25M: half the example (120 MB, 50M), the same shape, twice as fast
# vmapp-big-a -> b -> c -> d -> e, each ~11 MiB of random bytes (dpkg-deb -Znone: stored as they are)
CHAIN = "abcde"
BLOB = 11 * MIB
_PACKAGES = r"""
big() {  # LETTER DEPENDS
    d=/tmp/build/vmapp-big-$1
    mkdir -p "$d/DEBIAN" "$d/usr/share/vmapp-big-$1"
    printf 'Package: vmapp-big-%s\nVersion: 1.0.0\nArchitecture: all\n' "$1" >"$d/DEBIAN/control"
    echo "Maintainer: t <t@vmapp.test>" >>"$d/DEBIAN/control"
    [ -z "$2" ] || echo "Depends: $2" >>"$d/DEBIAN/control"
    echo "Description: incompressible test package" >>"$d/DEBIAN/control"
    head -c BLOB /dev/urandom >"$d/usr/share/vmapp-big-$1/blob"
    dpkg-deb -Znone --root-owner-group --build "$d" "/srv/repo/pool/main/vmapp-big-$1_1.0.0_all.deb" >/dev/null
}
mkdir -p /tmp/build/vmapp-big-a/usr/bin
printf '#!/bin/sh\ntest -s /usr/share/vmapp-big-e/blob && echo big\n' >/tmp/build/vmapp-big-a/usr/bin/vmapp-big
chmod 755 /tmp/build/vmapp-big-a/usr/bin/vmapp-big
big a vmapp-big-b
big b vmapp-big-c
big c vmapp-big-d
big d vmapp-big-e
big e ""
""".replace("BLOB", str(BLOB))


def test_files_are_grouped_in_name_order_within_the_limit() -> None:
    files = [Sized(f"p{i}.deb", 10 * MIB) for i in range(5)]
    groups = group_files(files, 4096, LIMIT, "big 1.0.0 for debian-12")
    assert [[f.name for f in g] for g in groups] == [["p0.deb", "p1.deb"], ["p2.deb", "p3.deb"], ["p4.deb"]]
    assert all(estimate([f.size for f in g], 4096) <= LIMIT for g in groups)
    assert len(group_files(files[:2], 4096, LIMIT, "small")) == 1  # within the limit: not split


def test_a_package_file_larger_than_the_limit_cannot_be_split() -> None:
    files = [Sized("small.deb", MIB), Sized("huge_1.0_all.deb", 30 * MIB)]
    with pytest.raises(LimitError) as caught:
        group_files(files, 0, LIMIT, "big 1.0.0 for debian-12")
    assert "a package file cannot be split across parts" in caught.value.message
    assert f"huge_1.0_all.deb is too large: size = {30 * MIB}" in caught.value.message
    assert "--max-package-size" in str(caught.value.hint)


def test_the_estimate_bounds_the_real_bundle(tmp_path: Path) -> None:
    """builder.bundle's tar.gz of incompressible files stays within what the grouping assumed."""
    files = []
    for i, size in enumerate([1, 511, 512, 70_000, 300_000]):
        path = tmp_path / f"f{i}.deb"
        path.write_bytes(os.urandom(size))
        files.append(path)
    index = {"Packages": b"Package: x\n" * 300}
    write_tar_gz(tmp_path / "out.tar.gz", files, index)
    real = (tmp_path / "out.tar.gz").stat().st_size
    assert real <= estimate([f.stat().st_size for f in files], len(index["Packages"]))


@pytest.fixture(scope="module")
def split_build(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The big chain's closure, built with --max-package-size 25M: dist/big/1.0.0/debian-12."""
    tmp = tmp_path_factory.mktemp("split")
    with serve_signed_repo(docker_client, tmp / "keys") as repo:
        repo.update(_PACKAGES)
        shutil.copy(repo.key, tmp / "repo.asc")
        text = (
            repo.recipe("big")
            .replace("[vmapp-hello]", "[vmapp-big-a]")
            .replace("check: vmapp-hello", "check: vmapp-big")
        )
        gallery = "gallery:\n  name: appsGallery\n  resource_group: rg-apps\n  location: westeurope\n"
        recipe = write_recipe(tmp, text + gallery)
        out = tmp / "dist"
        proc = run_cli("recipe", recipe, "--distro", DISTRO, "--out", out, "--max-package-size", "25M")
        assert proc.returncode == 0, proc.stderr
        yield out / "big" / "1.0.0" / DISTRO


@pytest.mark.docker
def test_a_closure_above_the_limit_is_split_into_ordered_parts(split_build: Path) -> None:
    manifest = json.loads((split_build / "manifest.json").read_text())
    split = manifest["split"]
    count = split["count"]
    assert count == 3 and split["part"] == count and manifest["application"]["name"] == part_app("big", count)
    assert [p["order"] for p in split["parts"]] == [1, 2, 3]
    directories = [split_build / p["directory"] for p in split["parts"]]
    names: list[str] = []
    for i, directory in enumerate(directories, 1):
        part = json.loads((directory / "manifest.json").read_text())
        assert part["application"]["name"] == f"big-part{i}"
        assert part["package"]["size"] == (directory / part["packageFileName"]).stat().st_size <= LIMIT
        assert any(directory.glob("*sbom*"))
        template = json.loads((directory / "gallery" / "template.json").read_text())  # each part's definitions
        assert f"big-part{i}" in json.dumps(template["resources"][0])
        assert template["resources"][1]["properties"]["publishingProfile"]["manageActions"] == {
            k: part["commands"][k] for k in ("install", "remove", "update")
        }
        names += [p["name"] for p in part["packages"]] if i < count else []
    bundled = {p["name"] for p in manifest["packages"]}
    assert bundled == {f"vmapp-big-{c}" for c in CHAIN}
    assert set(names) < bundled  # the earlier parts carry files; the last installs the whole closure
    for p in split["parts"][:-1]:
        assert f"/var/lib/vmapp-build/.parts/big/part{p['order']}.tar.gz" in manifest["commands"]["install"]
    plan = load_plan(split_build / VM_PLAN)
    desired = plan.goal_states[0].desired
    assert [(d.version.app, d.order) for d in desired] == [(f"big-part{i}", i) for i in (1, 2, 3)]


@pytest.mark.docker
def test_verify_installs_every_part_in_order_offline_and_removes_them_all(
    split_build: Path, docker_client: docker.DockerClient
) -> None:
    report = verify(split_build, client=docker_client)
    assert isinstance(report, PackageReport)
    assert [name for name, _ in report.steps] == [
        "install big-part1",
        "install big-part2",
        "install big-part3",
        "check",
        "remove big-part1",
        "remove big-part2",
        "remove big-part3",
        "check after remove",
    ]
    assert {f"vmapp-big-{c}" for c in CHAIN} <= set(report.after_install)
    assert report.after_remove == report.before


@pytest.mark.docker
def test_simulate_runs_the_vm_plan_and_the_last_part_alone_refuses(
    split_build: Path, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    (report,) = simulate(load_plan(split_build / VM_PLAN), docker_client)
    assert report.status == "success"
    assert [(c.app, c.operation, c.exit_code) for c in report.commands] == [
        (f"big-part{i}", "install", 0) for i in (1, 2, 3)
    ]
    # the last part on a VM without the earlier ones (its manifest without `split`, so not expanded)
    manifest = json.loads((split_build / "manifest.json").read_text())
    del manifest["split"]
    (tmp_path / "last").mkdir()
    (tmp_path / "last" / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "last" / manifest["packageFileName"]).symlink_to(split_build / manifest["packageFileName"])
    (tmp_path / "alone.yaml").write_text("goalStates:\n  - applications:\n      - build: last\n")
    (alone,) = simulate(load_plan(tmp_path / "alone.yaml"), docker_client)
    (run,) = alone.commands
    assert run.exit_code == 3, run.stderr
    assert "vmapp: big-part1 1.0.0 is not installed: install it (a lower order) before big-part3" in run.stderr


@pytest.mark.docker
def test_a_single_package_over_the_limit_is_refused(split_build: Path, tmp_path: Path) -> None:
    # one package of the chain (vmapp-big-e, 11 MiB): the refusal comes after the download
    text = (split_build.parents[3] / "recipe.yaml").read_text().replace("[vmapp-big-a]", "[vmapp-big-e]")
    recipe = write_recipe(split_build.parents[3], text, "one.yaml")
    proc = run_cli("recipe", recipe, "--distro", DISTRO, "--out", tmp_path / "dist", "--max-package-size", "10M")
    assert proc.returncode == 2, proc.stderr
    assert "a package file cannot be split across parts" in proc.stderr
    assert "is too large: size =" in proc.stderr
    assert not (tmp_path / "dist").exists() or not any((tmp_path / "dist").rglob("manifest.json"))
