"""Dependency shapes that break naive tools, with real Debian packages on debian-12, built and verified offline.

One recipe carries several shapes at once, to keep the number of builds small:
- ca-certificates: `Depends: openssl, debconf (>= 0.5) | debconf-2.0` (alternatives: the image has one);
- sse4.2-support: `Pre-Depends: isa-support (= 15.1)` (its preinst refuses a CPU without SSE4.2);
- jq pinned to its candidate version (`jq=VERSION`), and jq's `Depends: libjq1 (= VERSION)`;
- ftp-upload: `Depends: perl:any, libnet-perl` (libnet-perl is a virtual package that perl provides).
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path
from typing import Any

import docker
import pytest

from builder.backends.base import SKIPPED_LIST
from builder.container import Container
from builder.lifecycle.verify import PackageReport
from builder.pipeline import BuildResult, build, preflight
from builder.plan import make_plan
from builder.recipe import load_recipe
from builder.verify import verify
from tests.conftest import DISTRO, write_recipe
from tests.narrow import package_report

pytestmark = pytest.mark.docker


def bundled(result: BuildResult) -> dict[str, str]:
    return {p["name"]: p["version"] for p in result.document["packages"]}


def direct(result: BuildResult, package: str) -> dict[str, Any]:
    """apt show's entry for one of the recipe's packages, as kept in the manifest."""
    return next(d for d in result.document["discovery"]["direct"] if d["package"] == package)


def added(report: PackageReport) -> set[str]:
    return {n.split(":")[0] for n in report.added}


@pytest.fixture(scope="module")
def jq_candidate(docker_client: docker.DockerClient) -> str:
    """jq's candidate version on debian-12, as `apt-cache policy` reports it."""
    with Container(docker_client, "debian:12", "test") as c:
        c.run(["apt-get", "-q", "update"], "refresh package lists")
        policy = c.run(["apt-cache", "policy", "jq"], "apt-cache policy").stdout
    match = re.search(r"^\s*Candidate: (\S+)$", policy, re.MULTILINE)
    assert match and match[1] != "(none)", policy
    return match[1]


@pytest.fixture(scope="module")
def shapes(
    docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory, jq_candidate: str
) -> tuple[BuildResult, PackageReport]:
    tmp = tmp_path_factory.mktemp("shapes")
    recipe = write_recipe(
        tmp,
        "name: shapes\nversion: 1.0.0\nlinux:\n"
        f"  packages: [ca-certificates, sse4.2-support, jq={jq_candidate}, ftp-upload]\n"
        "  check: test -s /etc/ssl/certs/ca-certificates.crt && jq --version && perl -MNet::FTP -e 1\n",
    )
    result = build(make_plan(load_recipe(recipe), DISTRO, tmp / "dist"), docker_client)
    return result, package_report(verify(result.manifest.parent, client=docker_client))


def test_alternatives_satisfied_by_the_image_bundle_nothing_for_them(shapes: tuple[BuildResult, PackageReport]) -> None:
    result, report = shapes
    groups = [[alt["name"] for alt in group] for group in direct(result, "ca-certificates")["depends"]]
    assert ["debconf", "debconf-2.0"] in groups
    assert "debconf" in report.before  # the image has the first alternative
    # the recursive tree follows every alternative and every provider (cdebconf provides debconf-2.0) ...
    tree = result.document["discovery"]["tree"]
    assert "debconf-2.0" in tree["virtual"]
    # ... but the bundle has only what apt installs: no debconf, no other provider
    assert not {"debconf", "cdebconf"} & set(bundled(result))
    assert {"ca-certificates", "openssl"} <= set(bundled(result)) & added(report)


def test_virtual_dependency_bundles_a_provider(shapes: tuple[BuildResult, PackageReport]) -> None:
    result, report = shapes
    depends = [[alt["name"] for alt in group] for group in direct(result, "ftp-upload")["depends"]]
    assert ["libnet-perl"] in depends and ["perl:any"] in depends
    assert "libnet-perl" in result.document["discovery"]["tree"]["virtual"]
    assert "libnet-perl" not in bundled(result)
    assert "perl" in bundled(result)  # provides libnet-perl, and is perl:any
    assert {"ftp-upload", "perl"} <= added(report)
    assert dict(report.steps)["check"].exit_code == 0  # perl -MNet::FTP: the virtual package's promise


def test_pre_depends_are_bundled_and_installed_first(shapes: tuple[BuildResult, PackageReport]) -> None:
    result, report = shapes
    (pre,) = direct(result, "sse4.2-support")["pre-depends"]
    assert pre[0]["name"] == "isa-support" and pre[0]["op"] == "="
    assert bundled(result)["isa-support"] == pre[0]["version"]
    assert {"sse4.2-support", "isa-support"} <= added(report)


def test_pre_depends_and_alternatives_apt_chooses_from(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    """gawk: `Pre-Depends: libmpfr6, libreadline8, libsigsegv2`, none of them in the image; and
    logrotate: `Depends: cron | anacron | cron-daemon | systemd-sysv`, where apt picks cron."""
    recipe = write_recipe(
        tmp_path, "name: gawk\nversion: 1.0.0\nlinux:\n  packages: [gawk, logrotate]\n  check: gawk --version\n"
    )
    result = build(make_plan(load_recipe(recipe), DISTRO, tmp_path / "dist"), docker_client)
    groups = [[alt["name"] for alt in group] for group in direct(result, "logrotate")["depends"]]
    assert ["cron", "anacron", "cron-daemon", "systemd-sysv"] in groups
    assert "cron" in bundled(result)
    assert not {"anacron", "systemd-sysv"} & set(bundled(result)), "one alternative is enough"
    pre = {group[0]["name"] for group in direct(result, "gawk")["pre-depends"]}
    assert {"libmpfr6", "libreadline8", "libsigsegv2"} <= pre
    assert {"gawk", "libmpfr6", "libreadline8", "libsigsegv2"} <= set(bundled(result))
    report = package_report(verify(result.manifest.parent, client=docker_client))
    assert {"gawk", "libmpfr6", "libreadline8", "libsigsegv2"} <= added(report)


def test_exact_version_dependency(shapes: tuple[BuildResult, PackageReport]) -> None:
    result, _ = shapes
    (libjq,) = [g[0] for g in direct(result, "jq")["depends"] if g[0]["name"] == "libjq1"]
    assert libjq["op"] == "="
    assert bundled(result)["libjq1"] == libjq["version"] == bundled(result)["jq"]


def test_pinned_version(shapes: tuple[BuildResult, PackageReport], jq_candidate: str) -> None:
    result, report = shapes
    assert bundled(result)["jq"] == jq_candidate
    assert f"jq={jq_candidate}" in result.document["commands"]["install"]
    assert {n.split(":")[0]: v for n, v in report.after_install.items()}["jq"] == jq_candidate


def test_several_packages_in_one_recipe(shapes: tuple[BuildResult, PackageReport]) -> None:
    result, report = shapes
    assert {"ca-certificates", "sse4.2-support", "jq", "ftp-upload"} <= set(bundled(result)) & added(report)
    assert [s for s, _ in report.steps] == ["install", "check", "remove", "check after remove"]
    assert set(report.after_remove) == set(report.before)


def test_recommends_on_request_bundles_more(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    results = {}
    for recommends in (False, True):
        recipe = write_recipe(
            tmp_path,
            f"name: wget\nversion: 1.0.0\nlinux:\n  packages: [wget]\n  check: wget --version\n"
            f"  recommends: {str(recommends).lower()}\n",
            f"wget-{recommends}.yaml",
        )
        results[recommends] = build(make_plan(load_recipe(recipe), DISTRO, tmp_path / str(recommends)), docker_client)
    without, with_ = bundled(results[False]), bundled(results[True])
    assert "ca-certificates" in direct(results[True], "wget")["recommends_line"]
    assert set(without) < set(with_)
    assert "ca-certificates" not in without
    assert {"ca-certificates", "openssl"} <= set(with_)
    assert "--install-recommends" in results[True].document["commands"]["install"]
    report = package_report(verify(results[True].manifest.parent, client=docker_client))
    assert {"wget", "ca-certificates"} <= added(report)
    assert set(report.after_remove) == set(report.before)


def test_virtual_package_named_with_its_provider(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    """apt refuses `mail-transport-agent` even next to `msmtp-mta`; the recipe means msmtp-mta: it is installed."""
    recipe = write_recipe(
        tmp_path,
        "name: mta\nversion: 1.0.0\nlinux:\n"
        "  packages: [mail-transport-agent, msmtp-mta]\n  check: test -x /usr/sbin/sendmail\n",
    )
    plan = make_plan(load_recipe(recipe), DISTRO, tmp_path / "dist")
    result = build(plan, docker_client)
    assert {"msmtp-mta", "msmtp"} <= set(bundled(result))
    assert result.document["recipe"]["packages"] == ["mail-transport-agent", "msmtp-mta"]  # as written
    # The strings are the ones rendered from the plan before any container started (no re-plan):
    # what apt left out travels in the bundle, and the install string leaves it out on the VM too.
    assert result.document["commands"] == preflight(plan).as_dict()
    with tarfile.open(result.package) as tar:
        skipped = tar.extractfile(SKIPPED_LIST)
        assert skipped is not None and skipped.read() == b"mail-transport-agent\n"
    report = package_report(verify(result.manifest.parent, client=docker_client))
    assert "msmtp-mta" in added(report)
    assert set(report.after_remove) == set(report.before)
