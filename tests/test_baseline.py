"""Baseline-relative closures: resolve against the real target VM's package state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from builder.backends.baseline import FULL, load_baseline
from builder.container import Container
from builder.errors import InputError, VerifyError
from builder.pipeline import build
from builder.plan import make_plan
from builder.recipe import load_recipe
from builder.verify import verify
from tests.conftest import DISTRO, run_cli
from tests.narrow import package_report

RICHER = "vmapp-test/debian-richer:12"


@pytest.fixture(scope="module")
def richer_vm(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An image standing for a richer VM (perl and libcurl already there), and its dpkg state."""
    state = tmp_path_factory.mktemp("baseline")
    with Container(docker_client, "debian:12", "test", labelled=False) as vm:
        setup = (
            "apt-get -q update >/dev/null && apt-get -q -y --no-install-recommends install perl libcurl3-gnutls"
            " >/dev/null && rm -rf /var/lib/apt/lists/*"
        )
        vm.run(["sh", "-c", setup], "installing perl and libcurl3-gnutls")
        code, status = vm.handle.exec_run(["cat", "/var/lib/dpkg/status"])
        assert code == 0 and isinstance(status, bytes)  # not streamed
        (state / "status").write_bytes(status)
        code, query = vm.handle.exec_run(["dpkg-query", "-W"])
        assert isinstance(query, bytes)
        (state / "dpkg-query.txt").write_bytes(query)
        vm.handle.commit(*RICHER.split(":"))
    yield state
    docker_client.images.remove(RICHER, force=True)


def test_baseline_from_a_richer_vm_gives_a_smaller_bundle_that_verifies(
    docker_client: docker.DockerClient, richer_vm: Path, tmp_path: Path
) -> None:
    recipe = load_recipe("git")
    minimal = build(make_plan(recipe, DISTRO, tmp_path / "image"), docker_client)
    assert minimal.document["sizes"]["files"] >= 15

    baseline = load_baseline(richer_vm / "status")
    smaller = build(make_plan(recipe, DISTRO, tmp_path / "vm", baseline=baseline), docker_client)
    names = {p["name"] for p in smaller.document["packages"]}
    assert smaller.document["sizes"]["package"] < minimal.document["sizes"]["package"]
    assert "git" in names
    assert not names & {"perl", "perl-modules-5.36", "libcurl3-gnutls"}  # the VM has them
    assert smaller.document["baseline"]["kind"] == "file"
    assert smaller.document["baseline"]["packages"]["perl"]

    report = package_report(verify(smaller.manifest.parent, image=RICHER, client=docker_client))
    assert "git" in report.added and "perl" not in report.added

    # On the minimal image the bundle cannot work, and verify says why before installing.
    with pytest.raises(VerifyError, match=r"lacks \d+ packages of the baseline .* libcurl3-gnutls"):
        verify(smaller.manifest.parent, client=docker_client)


def test_dpkg_query_output_works_as_a_baseline(
    docker_client: docker.DockerClient, richer_vm: Path, tmp_path: Path
) -> None:
    """A plain name/version list: no Provides or Multi-Arch, so apt may add a provider the VM has
    (perl for `perl:any`), but the packages the list covers exactly stay out of the bundle."""
    proc = run_cli("recipe", "git", "--distro", DISTRO, "--out", tmp_path, "--baseline", richer_vm / "dpkg-query.txt")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "git/1.0.0/debian-12/manifest.json").read_text())
    names = {p["name"] for p in manifest["packages"]}
    assert "git" in names
    assert not names & {"libcurl3-gnutls", "libnghttp2-14", "libgssapi-krb5-2"}
    assert manifest["baseline"]["packages"]["libcurl3-gnutls:amd64"]
    proc = run_cli("verify", tmp_path / "git/1.0.0/debian-12", "--image", RICHER)
    assert proc.returncode == 0, proc.stderr


def test_full_bundles_the_whole_closure(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    result = build(make_plan(load_recipe("jq"), DISTRO, tmp_path, baseline=FULL), docker_client)
    names = {p["name"] for p in result.document["packages"]}
    assert {"jq", "libjq1", "libonig5", "libc6"} <= names  # libc6 is in every image, bundled anyway
    assert result.document["baseline"] == {"kind": "full"}
    verify(result.manifest.parent, client=docker_client)  # same versions already installed: no-op for those


def test_baseline_and_full_exclude_each_other(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Package: a\nStatus: install ok installed\nVersion: 1\n")
    proc = run_cli("recipe", "jq", "--distro", DISTRO, "--baseline", status, "--full", "--dry-run")
    assert proc.returncode == 2
    assert "--baseline and --full exclude each other" in proc.stderr


def test_load_baseline_formats(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text(
        "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9\n\n"
        "Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n"
    )
    assert load_baseline(status).packages == {"libc6": "2.36-9"}
    query = tmp_path / "query.txt"
    query.write_text("libc6:amd64\t2.36-9\nperl\t5.36.0-7\nnot-installed\t\n")
    loaded = load_baseline(query)
    assert loaded.packages == {"libc6:amd64": "2.36-9", "perl": "5.36.0-7"}
    assert "Package: perl\nStatus: install ok installed\nVersion: 5.36.0-7\nArchitecture: arm64\n" in (
        loaded.status_for("arm64")
    )
    qa = tmp_path / "rpm-qa.txt"
    qa.write_text("bash-5.1.8-6.el9_1.x86_64\ngpg-pubkey-fd431d51-4ae0493b\nopenssl-libs-3.0.7-27.el9.x86_64\n")
    rpm = load_baseline(qa)
    assert rpm.format == "rpm"
    assert rpm.packages == {"bash": "5.1.8-6.el9_1", "openssl-libs": "3.0.7-27.el9"}
    assert rpm.entries == ("bash-5.1.8-6.el9_1.x86_64", "openssl-libs-3.0.7-27.el9.x86_64")  # keys left out
    bad = tmp_path / "bad.txt"
    bad.write_text("this is not a package list\n")
    with pytest.raises(InputError, match=r"bad.txt:1: expected `name<TAB>version`"):
        load_baseline(bad)
