"""resolve for the RPM families: what `rebuild` checks before it builds, nothing downloaded.

The parsers on output recorded from Debian's real dnf 4.14 and zypper 1.14 (tests/data/rpm), the
argv beside the download's; then, in real containers on tests/rpm_images.py's repository, resolve
against the set the real download fetched for the same request, with the image's and the FULL
baseline, and the same errors as the download's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import docker
import pytest

from builder.backends.base import Backend
from builder.backends.baseline import FULL, IMAGE, Baseline, load_baseline
from builder.backends.dnf import DnfInstaller, YumInstaller
from builder.backends.rpm_parse import (
    dnf_unknown_packages,
    missing_requirements,
    parse_transaction,
    parse_zypper_summary,
    xml_stream_text,
    zypper_unknown_packages,
)
from builder.backends.rpmdb import BASELINE_RPMS, RPM_DIR, describe_rpms
from builder.backends.zypper import BASELINE_CACHE, ZypperInstaller
from builder.closure import installer_for
from builder.container import Container
from builder.errors import PackageNotFound, VmappError
from builder.plan import make_plan
from builder.recipe import load_recipe
from tests.conftest import write_recipe
from tests.narrow import linux_plan
from tests.rpm_images import extract_key, fixture_image, recipe_text

DATA = Path(__file__).parent / "data" / "rpm"
DISTROS = {"dnf": "rhel-9", "zypper": "sles-15"}


def data(name: str) -> str:
    return (DATA / name).read_text()


# -- parsers, on recorded output -------------------------------------------------------------------
# Recorded in the dnf fixture image with vt-lib 1.2 and vt-mta-exim installed, plus a repository `rec`
# (a long-named package with an epoch, vt-newmta obsoleting vt-mta-exim and recommending vt-s1):
# `dnf --setopt=install_weak_deps=True install --assumeno vt-lib-1.1 vt-newmta vt-app vt-a-very-long-...`.
# `dnf install --downloadonly` with the same arguments fetched exactly these nine files.
RECORDED_DNF = {
    (
        "vt-a-very-long-package-name-that-wraps-the-dnf-transaction-table",
        "2:1.0.0.20261201-1.el9_3.with.a.long.release",
    ),
    ("vt-app", "1.0-1"),
    ("vt-newmta", "1.0-1"),  # its `replacing vt-mta-exim` line is a removal, not a row
    ("vt-helper", "1.0-1"),
    ("vt-keep", "1.0-1"),
    ("vt-lib-long", "3.0-1"),
    ("vt-tls-a", "1.0-1"),
    ("vt-s1", "1.1-1"),  # Installing weak dependencies
    ("vt-lib", "1.1-1"),  # Downgrading
}


def test_dnf_transaction_table_gives_every_fetched_package() -> None:
    resolved = parse_transaction(data("dnf-install-assumeno.dnf4.txt"))
    assert resolved == {(name, version, "noarch") for name, version in RECORDED_DNF}


def test_dnf_transaction_table_wrapped_on_a_terminal_reads_the_same() -> None:
    """The same command on an 80-column terminal (`--color=never`): dnf pushes the rest of a row past a
    long name or version onto the next lines."""
    wrapped = data("dnf-install-assumeno-80-columns.dnf4.txt")
    assert "\n           noarch 2:1.0.0.20261201" in wrapped  # the recording really wraps
    assert parse_transaction(wrapped) == parse_transaction(data("dnf-install-assumeno.dnf4.txt"))


def test_dnf_upgrades_are_fetched_and_nothing_to_do_is_empty() -> None:
    table = (
        "Dependencies resolved.\n" + "=" * 80 + "\n Package   Arch    Version  Repository  Size\n" + "=" * 80 + "\n"
        "Upgrading:\n vt-lib    noarch  1.2-1    vmapp-test  6.0 k\n"
        "Removing:\n vt-old    noarch  1.0-1    @System     0  \n"
        "Skipping packages with broken dependencies:\n vt-broken noarch  1.0-1    vmapp-test  5.0 k\n"
        "\nTransaction Summary\n" + "=" * 80 + "\nUpgrade  1 Package\n"
    )
    assert parse_transaction(table) == {("vt-lib", "1.2-1", "noarch")}
    assert parse_transaction("Dependencies resolved.\nNothing to do.\nComplete!\n") == frozenset()


def test_yum3_transaction_table_in_its_documented_shape() -> None:
    """RHEL 7's yum 3 cannot run here: its table (the same column code dnf inherited, other section
    names) in the shape its documentation shows, with a wrapped repository id."""
    table = """\
Dependencies Resolved

================================================================================
 Package            Arch        Version              Repository            Size
================================================================================
Installing:
 powershell         x86_64      7.1.3-1.rhel.7       packages-microsoft-com-prod
                                                                            65 M
Updating:
 openssl-libs       x86_64      1:1.0.2k-25.el7_9    updates              1.2 M
Installing for dependencies:
 libicu             x86_64      50.2-4.el7_7         base                 6.9 M
Updating for dependencies:
 openssl            x86_64      1:1.0.2k-25.el7_9    updates              494 k

Transaction Summary
================================================================================
Install  1 Package (+1 Dependent package)
Upgrade  1 Package (+1 Dependent package)
Exiting on user command
"""
    assert parse_transaction(table) == {
        ("powershell", "7.1.3-1.rhel.7", "x86_64"),
        ("openssl-libs", "1:1.0.2k-25.el7_9", "x86_64"),
        ("libicu", "50.2-4.el7_7", "x86_64"),
        ("openssl", "1:1.0.2k-25.el7_9", "x86_64"),
    }


def test_zypper_summary_gives_installs_and_upgrades_not_removals() -> None:
    """The same request to zypper (`install --dry-run --recommends vt-lib=1.1 vt-newmta ...`) with vt-lib
    1.0 and vt-tls-b installed: vt-lib is an upgrade there, vt-mta-exim a removal, vt-tls-a not
    needed; `install --download-only` with the same arguments fetched these eight."""
    resolved = parse_zypper_summary(data("zypper-install-dry-run.xmlout.zypper1.14.txt"))
    expected = RECORDED_DNF - {("vt-tls-a", "1.0-1")}
    assert resolved == {(name, version, "noarch") for name, version in expected}


def test_zypper_summary_downgrade_and_nothing_to_do() -> None:
    downgrade = parse_zypper_summary(data("zypper-install-dry-run-downgrade.xmlout.zypper1.14.txt"))
    assert downgrade == {("vt-lib", "1.1-1", "noarch"), ("vt-tls-a", "1.0-1", "noarch")}  # not edition-old
    nothing = "<?xml version='1.0'?>\n<stream>\n<install-summary packages-to-change=\"0\">\n</install-summary>\n"
    assert parse_zypper_summary(nothing + '<message type="info">Nothing to do.</message>\n</stream>\n') == frozenset()


def test_zypper_xml_errors_read_as_the_download_reads_them() -> None:
    unknown = xml_stream_text(data("zypper-install-dry-run-unknown.xmlout.zypper1.14.txt"))
    assert zypper_unknown_packages(unknown) == ["vt-nosuchthing"]
    broken = xml_stream_text(data("zypper-install-dry-run-broken.xmlout.zypper1.14.txt"))
    assert missing_requirements(broken) == [("vt-missing", "vt-broken-1.0-1.noarch")]
    dnf_broken = data("dnf-install-assumeno-missing-dep.dnf4.txt")
    assert missing_requirements(dnf_broken) == [("vt-missing", "vt-broken-1.0-1.noarch")]
    assert dnf_unknown_packages("No match for argument: vt-nosuch\nError: Unable to find a match: vt-nosuch\n") == [
        "vt-nosuch"
    ]


# -- argv: the download's solver call, with nothing fetched -----------------------------------------
def _request(tmp_path: Path, distro: str, baseline: Baseline = IMAGE, recommends: bool = False) -> Backend:
    tmp_path.mkdir(parents=True, exist_ok=True)
    extra = "  recommends: true\n" if recommends else ""
    recipe = write_recipe(tmp_path, f"name: vt\nversion: 1.0.0\nlinux:\n  packages: [vt-app, vt-lib=1.1]\n{extra}")
    return installer_for(linux_plan(make_plan(load_recipe(recipe), distro, tmp_path / "d", "img", baseline=baseline)))


@pytest.mark.parametrize("distro", ["rhel-9", "rhel-7"])
@pytest.mark.parametrize("recommends", [False, True])
def test_dnf_and_yum_resolve_argv_is_the_download_argv_answered_no(
    tmp_path: Path, distro: str, recommends: bool
) -> None:
    installer = _request(tmp_path, distro, FULL, recommends)
    assert isinstance(installer, DnfInstaller)
    for releasever in (None, "9"):
        download = installer.download_argv(releasever)
        expected = [a for a in download if a not in ("-q", "-y", "--downloadonly", f"--downloaddir={RPM_DIR}")]
        expected.insert(expected.index("install") + 1, "--assumeno")
        assert installer.resolve_argv(releasever) == expected
    assert installer.resolve_argv()[-4:] == ["install", "--assumeno", "vt-app", "vt-lib-1.1"]
    assert ("--setopt=install_weak_deps=False" in installer.resolve_argv()) is (
        not recommends and not isinstance(installer, YumInstaller)
    )


def test_assumeno_answers_are_told_from_failures(tmp_path: Path) -> None:
    dnf, yum = _request(tmp_path / "dnf", "rhel-9"), _request(tmp_path / "yum", "rhel-7")
    assert isinstance(dnf, DnfInstaller) and isinstance(yum, YumInstaller)
    assert dnf.resolve_succeeded(1, data("dnf-install-assumeno.dnf4.txt"))
    assert dnf.resolve_succeeded(0, "Dependencies resolved.\nNothing to do.\nComplete!\n")
    assert not dnf.resolve_succeeded(1, data("dnf-install-assumeno-missing-dep.dnf4.txt"))
    assert yum.resolve_succeeded(1, "Install  1 Package\nExiting on user command\n")
    assert not yum.resolve_succeeded(1, "No package vt-nosuch available.\nError: Nothing to do\n")


@pytest.mark.parametrize("baseline", [IMAGE, FULL])
def test_zypper_resolve_argv_is_the_download_argv_as_a_dry_run(tmp_path: Path, baseline: Baseline) -> None:
    installer = _request(tmp_path, "sles-15", baseline)
    assert isinstance(installer, ZypperInstaller)
    full = baseline is FULL
    download = installer.download_argv(full)
    expected = ["zypper", "--non-interactive", "--xmlout", *download[2:]]
    expected[expected.index("--download-only")] = "--dry-run"
    assert installer.resolve_argv(full) == expected
    assert ("--root" in expected) is full and expected[-3:] == ["--no-recommends", "vt-app", "vt-lib=1.1"]


# -- for real: resolve against the download, in the fixture images ----------------------------------
@dataclass(frozen=True)
class RpmFixture:
    family: str
    image: str
    key: Path


@pytest.fixture(scope="module", params=sorted(DISTROS))
def rpm_fixture(
    request: pytest.FixtureRequest, docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> RpmFixture:
    family = request.param
    image = fixture_image(docker_client, family)
    return RpmFixture(family, image, extract_key(docker_client, image, tmp_path_factory.mktemp("key") / "key.asc"))


def _backend(fx: RpmFixture, tmp_path: Path, packages: list[str], baseline: Baseline = IMAGE) -> Backend:
    recipe = write_recipe(tmp_path, recipe_text(packages, fx.key), f"{'-'.join(packages)}.yaml")
    plan = make_plan(load_recipe(recipe), DISTROS[fx.family], tmp_path / "d", fx.image, baseline=baseline)
    return installer_for(linux_plan(plan))


# Every .rpm file on the container's disk but the fixture repository's and a VM baseline's (which
# resolve, like download, fetches to register it): what a download of the closure would add.
_RPMS_ON_DISK = (
    'find / -xdev \\( -path /srv -o -path "$1" -o -path "$2" \\) -prune -o -type f -name "*.rpm" -print | sort'
)


def _rpms_on_disk(c: Container) -> list[str]:
    argv = ["sh", "-c", _RPMS_ON_DISK, "sh", BASELINE_RPMS, BASELINE_CACHE]
    return c.run(argv, "list .rpm files").stdout.split()


@pytest.mark.parametrize("kind", ["image", "full", "file"])
def test_resolve_is_what_the_download_fetches_and_downloads_nothing(
    rpm_fixture: RpmFixture, docker_client: docker.DockerClient, tmp_path: Path, kind: str
) -> None:
    """The file baseline is a VM that has vt-lib 1.2 (and vt-base): neither is fetched for it."""
    (tmp_path / "rpm-qa.txt").write_text("vt-base-1.0-1.noarch\nvt-lib-1.2-1.noarch\n")
    baseline = {"image": IMAGE, "full": FULL, "file": load_baseline(tmp_path / "rpm-qa.txt")}[kind]
    packages = ["vt-app"] if kind == "file" else ["vt-app", "vt-lib=1.1"]
    backend = _backend(rpm_fixture, tmp_path, packages, baseline)
    with Container(docker_client, rpm_fixture.image, "build") as c:
        before = _rpms_on_disk(c)
        backend.prepare(c)
        backend.refresh(c)
        resolved = backend.resolve(c)
        assert _rpms_on_disk(c) == before, "resolve downloaded packages"
        download = backend.download(c)
        fetched = {(p.name, p.version, p.architecture) for p in describe_rpms(c, download.directory).values()}
        assert len(_rpms_on_disk(c)) == len(before) + len(fetched)  # the probe sees a download
    assert resolved == fetched
    names = {name for name, _, _ in resolved}
    assert {"vt-app", "vt-helper", "vt-keep"} <= names
    assert ("vt-base" in names) is (kind == "full")  # the image has it, and so has the VM
    assert ("vt-lib", "1.1-1", "noarch") in resolved if kind != "file" else "vt-lib" not in names


def test_resolve_raises_the_downloads_errors(
    rpm_fixture: RpmFixture, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    unknown = _backend(rpm_fixture, tmp_path, ["vt-app", "vt-nosuch"])
    broken = _backend(rpm_fixture, tmp_path, ["vt-broken"])
    with Container(docker_client, rpm_fixture.image, "build") as c:
        unknown.prepare(c)
        unknown.refresh(c)
        raised = {}
        for backend in (unknown, broken):
            for step in (backend.resolve, backend.download):
                with pytest.raises(VmappError) as caught:
                    step(c)
                raised[backend, step.__name__] = (type(caught.value).__name__, str(caught.value), caught.value.hint)
    distro = DISTROS[rpm_fixture.family]
    assert raised[unknown, "resolve"] == raised[unknown, "download"]
    kind, message, _ = raised[unknown, "resolve"]
    assert (
        kind == PackageNotFound.__name__
        and f"package vt-nosuch not found on {distro}" in message
        and "vmapp-test" in message
    )
    assert raised[broken, "resolve"] == raised[broken, "download"]
    assert "vt-broken-1.0-1.noarch needs vt-missing, which no repository provides" in raised[broken, "resolve"][1]


def test_locked_download_and_resolve_ask_for_the_locks_exact_versions(tmp_path: Path) -> None:
    """--locked: dnf and yum take NEVRAs (the epoch kept), zypper NAME.ARCH=EDITION; resolve asks the same."""
    locked = (("vt-app", "1.0-1", "noarch"), ("vt-lib", "2:1.1-1", "x86_64"))
    recipe = write_recipe(tmp_path, "name: vt\nversion: 1.0.0\nlinux:\n  packages: [vt-app]\n")
    for distro in ("rhel-9", "rhel-7", "sles-15"):
        plan = replace(linux_plan(make_plan(load_recipe(recipe), distro, tmp_path / "d", "img")), locked=locked)
        installer = installer_for(plan)
        if isinstance(installer, DnfInstaller):
            pins = ["vt-app-1.0-1.noarch", "vt-lib-2:1.1-1.x86_64"]
            assert installer.download_argv()[-2:] == pins and installer.resolve_argv()[-2:] == pins
        else:
            assert isinstance(installer, ZypperInstaller)
            pins = ["vt-app.noarch=1.0-1", "vt-lib.x86_64=2:1.1-1"]
            assert installer.download_argv()[-2:] == pins and installer.resolve_argv()[-2:] == pins
