"""The RPM families without an engine: parsers on output recorded from the real tools (dnf 4.14 and
zypper 1.14 from Debian's archive, yum 3 in the shape the Azure docs show), argv, rendered strings."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from builder.backends import backend_class
from builder.backends.dnf import DnfInstaller, YumInstaller
from builder.backends.rpm_parse import (
    NEVRA_FORMAT,
    classify_requirement,
    dnf_signature_failures,
    dnf_unknown_packages,
    missing_requirements,
    parse_config_dump,
    parse_deplist,
    parse_origins,
    parse_package_label,
    parse_query,
    parse_repoquery_tree,
    parse_signature_rows,
    parse_zypper_info,
    parse_zypper_repos_xml,
    split_evr,
    zypper_signature_failures,
    zypper_unknown_packages,
)
from builder.backends.rpm_signatures import Source, _reason, image_source
from builder.backends.rpmdb import RPM_DIR, repo_file, rpm_spec
from builder.backends.zypper import REPO_SETTINGS, ZypperInstaller
from builder.closure import installer_for
from builder.plan import BuildPlan, make_plan
from builder.recipe import Repository, load_recipe
from builder.render import render, render_commands
from tests.conftest import write_recipe
from tests.narrow import linux_plan

DATA = Path(__file__).parent / "data" / "rpm"
SHELLS = sorted({"/bin/sh", *([s] if (s := shutil.which("dash")) else [])})


def data(name: str) -> str:
    return (DATA / name).read_text()


def plan_for(tmp_path: Path, distro: str, packages: str = "[vt-app, vt-lib=1.1]", extra: str = "") -> BuildPlan:
    recipe = write_recipe(tmp_path, f"name: vt\nversion: 1.0.0\nlinux:\n  packages: {packages}\n{extra}")
    return linux_plan(make_plan(load_recipe(recipe), distro, tmp_path / "dist", image="img"))


# -- parsers ---------------------------------------------------------------------------------------


def test_dnf_deplist_keeps_every_kind_and_every_provider() -> None:
    packages = parse_deplist(data("dnf-deplist-vt-app.dnf4.txt"))
    assert [p["package"] for p in packages] == [
        "vt-app-1.0-1.noarch",
        "vt-lib-1.0-1.noarch",
        "vt-lib-1.1-1.noarch",
        "vt-lib-1.2-1.noarch",
    ]
    app = packages[0]
    assert (app["name"], app["version"], app["arch"]) == ("vt-app", "1.0-1", "noarch")
    deps = {d["requirement"]: d for d in app["dependencies"]}
    assert deps["(vt-tls-a or vt-tls-b)"]["kind"] == "rich"
    assert deps["(vt-tls-a or vt-tls-b)"]["providers"] == ["vt-tls-a-1.0-1.noarch", "vt-tls-b-1.0-1.noarch"]
    assert deps["/usr/bin/vt-helper"]["kind"] == "file"
    assert deps["vt-lib >= 1.1"] == {
        "requirement": "vt-lib >= 1.1",
        "kind": "versioned",
        "name": "vt-lib",
        "op": ">=",
        "version": "1.1",
        "providers": ["vt-lib-1.2-1.noarch"],
    }
    # the virtual vt-mta: both providers listed, the choice is the solver's
    assert deps["vt-mta"]["kind"] == "name"
    assert deps["vt-mta"]["providers"] == ["vt-mta-exim-1.0-1.noarch", "vt-mta-postfix-1.0-1.noarch"]
    assert packages[1]["dependencies"] == []


def test_yum3_deplist_in_the_documented_shape() -> None:
    [ps] = parse_deplist(data("yum-deplist-powershell.rhel7.txt"))
    assert (ps["name"], ps["arch"], ps["version"]) == ("powershell", "x86_64", "7.1.3-1.rhel.7")
    deps = {d["requirement"]: d for d in ps["dependencies"]}
    assert deps["/bin/sh"]["kind"] == "file"
    assert deps["/bin/sh"]["providers"] == ["bash.x86_64 4.2.46-35.el7_9"]
    assert deps["openssl-libs"]["providers"] == [
        "openssl-libs.x86_64 1:1.0.2k-26.el7_9",
        "openssl-libs.i686 1:1.0.2k-26.el7_9",
    ]
    assert parse_package_label(deps["openssl-libs"]["providers"][0]) == {
        "name": "openssl-libs",
        "version": "1:1.0.2k-26.el7_9",
        "arch": "x86_64",
    }


def test_zypper_info_requires_counted_list_single_line_and_none() -> None:
    app, lib = parse_zypper_info(data("zypper-info-requires-vt-app.zypper1.14.txt"))
    assert (app["package"], app["version"], app["arch"], app["repository"]) == (
        "vt-app",
        "1.0-1",
        "noarch",
        "vmapp-test",
    )
    kinds = {r["requirement"]: r["kind"] for r in app["requires"]}
    assert kinds == {
        "/usr/bin/vt-helper": "file",
        "vt-base": "name",
        "vt-mta": "name",
        "(vt-tls-a or vt-tls-b)": "rich",
        "vt-keep >= 1.0": "versioned",
        "vt-lib >= 1.1": "versioned",
    }
    assert lib["requires"] == []  # `Requires : ---`
    [tls] = parse_zypper_info(data("zypper-info-requires-single-line.zypper1.14.txt"))
    assert tls["requires"] == [{"requirement": "vt-base", "kind": "name", "name": "vt-base"}]


def test_zypper_info_in_the_documented_shape() -> None:
    text = "Information for package azure-cli:\nRequires       : [3]\n    /usr/bin/python3\n    python(abi) = 3.6\n"
    text += "    azure-cli-core = 2.17.1\nSummary : x\n"
    [info] = parse_zypper_info(text)
    assert [r["requirement"] for r in info["requires"]] == [
        "/usr/bin/python3",
        "python(abi) = 3.6",
        "azure-cli-core = 2.17.1",
    ]
    assert info["requires"][1] == {
        "requirement": "python(abi) = 3.6",
        "kind": "versioned",
        "name": "python(abi)",
        "op": "=",
        "version": "3.6",
    }


def test_unknown_packages_and_missing_requirements() -> None:
    assert dnf_unknown_packages(data("dnf-install-unknown.stderr.txt")) == ["nonexist"]
    assert dnf_unknown_packages("No package powershellx available.\nError: Nothing to do\n") == ["powershellx"]
    assert dnf_unknown_packages(data("dnf-install-missing-dep.dnf4.txt")) == []
    assert missing_requirements(data("dnf-install-missing-dep.dnf4.txt")) == [("vt-missing", "vt-broken-1.0-1.noarch")]
    zypper = data("zypper-install-missing-and-unknown.zypper1.14.txt")
    assert missing_requirements(zypper) == [("vt-missing", "vt-broken-1.0-1.noarch")]
    assert zypper_unknown_packages(zypper) == ["vt-nosuch"]
    assert zypper_unknown_packages(data("zypper-info-requires-unknown.zypper1.14.txt")) == ["nonexist"]
    old = "nothing provides 'libfoo.so.1()(64bit)' needed by the to be installed bar-1-1.x86_64"
    assert missing_requirements(old) == [("libfoo.so.1()(64bit)", "bar-1-1.x86_64")]
    yum3 = "Error: Package: powershell-7.1.3-1.rhel.7.x86_64 (prod)\n           Requires: libicu\n"
    assert missing_requirements(yum3) == [("libicu", "powershell-7.1.3-1.rhel.7.x86_64")]


def test_rpm_query_lines_epochs_and_evr() -> None:
    rows = parse_query("a.rpm\tbash\t(none)\t5.1\t2.el9\tx86_64\nopenssl\t1\t3.0.7\t1.el9\tx86_64\nshort\tline\n")
    assert rows == [
        {"name": "bash", "version": "5.1-2.el9", "arch": "x86_64", "file": "a.rpm"},
        {"name": "openssl", "version": "1:3.0.7-1.el9", "arch": "x86_64"},
    ]
    assert split_evr("1:3.0.7-1.el9") == (1, "3.0.7", "1.el9")
    assert split_evr("5.1") == (0, "5.1", "")


def test_repoquery_tree() -> None:
    assert parse_repoquery_tree("vt-lib.noarch 1.2-1\nnoise\n") == [
        {"name": "vt-lib", "version": "1.2-1", "arch": "noarch"}
    ]


def test_classify_requirement_kinds() -> None:
    assert classify_requirement("(a or b)")["kind"] == "rich"
    assert classify_requirement("/bin/sh")["kind"] == "file"
    assert classify_requirement("libc.so.6()(64bit)")["kind"] == "name"
    assert classify_requirement("x <= 2")["op"] == "<="


# -- argv ------------------------------------------------------------------------------------------


def test_yum3_argv(tmp_path: Path) -> None:
    """RHEL 7's yum cannot run here: its command lines are checked as built."""
    installer = installer_for(plan_for(tmp_path, "rhel-7"))
    assert isinstance(installer, YumInstaller)
    assert installer.refresh_argv() == ["yum", "-q", "-y", "makecache", "fast"]
    assert installer.deplist_argv() == ["yum", "-q", "-y", "deplist", "vt-app", "vt-lib-1.1"]
    assert installer.download_argv() == [  # without -q: its transaction table names the repositories
        "yum",
        "-y",
        "install",
        "--downloadonly",
        f"--downloaddir={RPM_DIR}",
        "vt-app",
        "vt-lib-1.1",
    ]
    assert installer.tree_argv()[:4] == ["repoquery", "--requires", "--resolve", "--recursive"]
    # yum 3 ends a download-only run with exit code 1
    assert installer.download_succeeded(1, 'exiting because "Download Only" specified\n')
    assert not installer.download_succeeded(1, "Error: Nothing to do\n")
    # the signature check asks yum-utils where each package came from and which repositories check
    assert installer.origins_argv(["a-0:1-1.noarch"])[:3] == ["repoquery", "--qf", NEVRA_FORMAT + "\t%{repoid}"]
    assert installer.repo_config_argv() == ["yum-config-manager", "*"]


def test_dnf_and_zypper_argv(tmp_path: Path) -> None:
    dnf = installer_for(plan_for(tmp_path, "rhel-9"))
    assert isinstance(dnf, DnfInstaller) and not isinstance(dnf, YumInstaller)
    assert dnf.download_argv()[:4] == ["dnf", "-y", "--setopt=install_weak_deps=False", "install"]
    assert "--downloadonly" in dnf.download_argv()
    zypper = installer_for(plan_for(tmp_path, "sles-15", extra="  recommends: true\n"))
    assert isinstance(zypper, ZypperInstaller)
    assert zypper.download_argv()[-4:] == ["--download-only", "--recommends", "vt-app", "vt-lib=1.1"]
    assert zypper.info_argv()[-2:] == ["vt-app", "vt-lib"]
    assert {backend_class(f, "x").family for f in ("dnf", "yum", "zypper")} == {"dnf", "yum", "zypper"}


def test_rpm_spec_and_repo_file() -> None:
    assert rpm_spec("vt-lib=1.1") == "vt-lib-1.1"
    assert rpm_spec("vt-lib") == "vt-lib"
    repo = Repository("ms", "https://packages.microsoft.com/rhel/8/prod/", "", key="https://k")
    text = repo_file(repo, "/etc/pki/rpm-gpg/RPM-GPG-KEY-vmapp-ms", {"skip_if_unavailable": "False"}).decode()
    assert text.splitlines() == [
        "[ms]",
        "name=ms",
        "baseurl=https://packages.microsoft.com/rhel/8/prod/",
        "enabled=1",
        "gpgcheck=1",
        "gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-vmapp-ms",
        "skip_if_unavailable=False",
    ]
    zypper = repo_file(repo, "/k", REPO_SETTINGS).decode().splitlines()
    assert "gpgcheck=1" in zypper and "pkg_gpgcheck=1" in zypper  # packages too, not only repomd.xml


def test_an_apt_style_repository_is_refused_for_rpm(tmp_path: Path) -> None:
    from builder.backends.rpmdb import check_rpm_request
    from builder.closure import request_for
    from builder.errors import InputError

    repo = "  repositories:\n    - {url: 'https://x/y', suite: jammy, components: [main], key: 'https://k'}\n"
    with pytest.raises(InputError, match="an RPM repository is a baseurl only"):
        check_rpm_request(request_for(plan_for(tmp_path, "rhel-9", extra=repo)))


# -- rendered strings ------------------------------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("distro", ["rhel-7", "rhel-8", "rhel-9", "sles-15"])
def test_rpm_strings_are_valid_sh_and_quote_every_value(distro: str, shell: str, tmp_path: Path) -> None:
    commands = render_commands(plan_for(tmp_path, distro, '[vt-app, "vt-lib=1.1"]'))
    for kind, command in commands.as_dict().items():
        result = subprocess.run([shell, "-n", "-c", command], capture_output=True, text=True)
        assert result.returncode == 0, f"{kind}: {result.stderr}"
        assert len(command) <= 4096
        assert command.startswith("set -eu\n")
    assert "tar -xzf vt.tar.gz" in commands.install
    assert commands.update is not None  # Linux has an update string
    # the state lives in the ledger, never in the extension's directories (older ones go stale)
    assert "L=/var/lib/vmapp-build/vt\n" in commands.install and "../" not in commands.update


def test_dnf_install_uses_only_the_bundle(tmp_path: Path) -> None:
    install = render_commands(plan_for(tmp_path, "rhel-9")).install
    # The list is written once to $b/pkgs (long recipes stay under 4096 characters) and read back:
    # dnf gets NAME-VERSION for a pin, zypper NAME=VERSION.
    assert "printf '%s\\n' vt-app vt-lib=1.1 >\"$b/pkgs\"" in install
    assert (
        '--repofrompath="vmapp,file://$b/repo" --repo=vmapp --setopt=vmapp.gpgcheck=0 '
        "install $(sed 's/=/-/g' \"$b/pkgs\")" in install
    )
    words = subprocess.run(
        [
            "dash",
            "-c",
            "b=$1; printf '%s\\n' vt-app vt-lib=1.1 >\"$b/pkgs\"; echo $(sed 's/=/-/g' \"$b/pkgs\")",
            "sh",
            tmp_path,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert words == "vt-app vt-lib-1.1\n"
    assert '--setopt=reposdir="$b/repos.d"' in install and "--noplugins" in install
    yum = render_commands(plan_for(tmp_path, "rhel-7")).install
    assert "--repofrompath" not in yum and "yum \"$@\" --disablerepo='*' --enablerepo=vmapp install" in yum
    zypper = render_commands(plan_for(tmp_path, "sles-15")).install
    assert 'addrepo --no-gpgcheck --type plaindir "dir:$b/repo" vmapp-bundle' in zypper
    assert "--no-refresh --reposd-dir" in zypper and 'install --no-recommends $(cat "$b/pkgs")' in zypper
    assert "printf '%s\\n' vt-app vt-lib=1.1 >\"$b/pkgs\"" in zypper


def test_a_hostile_package_value_stays_one_word(tmp_path: Path) -> None:
    text = render(
        "dnf/install.sh.j2",
        app="a; rm -rf /",
        ledger="/var/lib/vmapp-build/a; rm -rf /",
        version="1.0.0",
        package_file="x y.tar.gz",
        packages=["p$(reboot)"],
        package_names=["p$(reboot)"],
        recommends=False,
        parts=[{"app": "a-part1", "store": "/s/p$(reboot)", "sha256": "0", "last": "a; rm -rf /-part2"}],
        online=False,
    )
    assert "p='/s/p$(reboot)'" in text and "'a; rm -rf /-part2'" in text
    assert "'a; rm -rf /'" in text and "'x y.tar.gz'" in text and "'p$(reboot)'" in text
    assert "L='/var/lib/vmapp-build/a; rm -rf /'" in text


@pytest.mark.parametrize("distro", ["rhel-7", "rhel-8", "sles-15"])
def test_a_baseline_must_be_of_the_targets_package_format(distro: str, tmp_path: Path) -> None:
    from builder.backends.baseline import Baseline
    from builder.closure import installer_for
    from builder.errors import InputError

    dpkg = Baseline("file", "status", "Package: bash\n", {"bash": "5.2-1"})
    with pytest.raises(InputError, match=f"status: {distro} needs the VM's `rpm -qa` output as its baseline"):
        installer_for(linux_plan(make_plan(load_recipe("jq"), distro, tmp_path, baseline=dpkg)))
    rpm = Baseline(
        "file", "rpm-qa.txt", "", {"bash": "5.1.8-6.el9"}, format="rpm", entries=("bash-5.1.8-6.el9.x86_64",)
    )
    installer_for(linux_plan(make_plan(load_recipe("jq"), distro, tmp_path, baseline=rpm)))
    with pytest.raises(InputError, match="an rpm -qa list cannot be the baseline of debian-12"):
        installer_for(linux_plan(make_plan(load_recipe("jq"), "debian-12", tmp_path, baseline=rpm)))


@pytest.mark.parametrize("family", ["dnf", "zypper"])
def test_full_solves_in_an_empty_root_with_the_images_repositories(family: str, tmp_path: Path) -> None:
    from builder.backends.baseline import FULL
    from builder.backends.rpmdb import EMPTY_ROOT
    from builder.closure import installer_for

    distro = {"dnf": "rhel-9", "zypper": "sles-15"}[family]
    installer = installer_for(linux_plan(make_plan(load_recipe("jq"), distro, tmp_path, baseline=FULL)))
    if isinstance(installer, DnfInstaller):
        argv = installer.download_argv("9")
    else:
        assert isinstance(installer, ZypperInstaller)
        argv = installer.download_argv(True)
    assert EMPTY_ROOT in argv
    assert ("--releasever=9" in argv) if family == "dnf" else ("--reposd-dir" in argv)


# -- signatures (recorded from dnf 4.14, zypper 1.14 / libzypp 17.22, rpm 4.18) ---------------------


def test_dnf_and_zypper_signature_refusals_name_the_package() -> None:
    wrong, unsigned = data("dnf-install-wrongkey.dnf4.txt"), data("dnf-install-unsigned.dnf4.txt")
    wrong_key = "signed with a key that is not the repository's"
    assert dnf_signature_failures(wrong) == [("vt-wrongkey-1.0-1.noarch", wrong_key)]
    assert dnf_signature_failures(unsigned) == [("vt-unsigned-1.0-1.noarch", "not signed")]
    assert dnf_signature_failures(data("dnf-install-missing-dep.dnf4.txt")) == []
    old = "Public key for bash-5.1-2.el9.x86_64.rpm is not installed. Failing package is: bash-5.1-2.el9.x86_64\n"
    assert ("bash-5.1-2.el9.x86_64", "signed with a key that is not installed") in dnf_signature_failures(old)
    zypper_wrong = data("zypper-install-wrongkey.zypper1.14.txt")
    assert zypper_signature_failures(zypper_wrong) == [
        ("vt-wrongkey-1.0-1.noarch", "mixed", "signed with a key that is not the repository's")
    ]
    zypper_unsigned = data("zypper-install-unsigned.zypper1.14.txt")
    assert zypper_signature_failures(zypper_unsigned) == [("vt-unsigned-1.0-1.noarch", "mixed", "not signed")]
    assert zypper_signature_failures(data("zypper-install-missing-and-unknown.zypper1.14.txt")) == []


def test_which_repositories_check_signatures() -> None:
    assert parse_config_dump(data("dnf-config-manager-dump.dnf4.txt")) == {
        "image-plain": False,
        "image-signed": True,
        "mixed": True,
    }
    yum3 = "================== repo: base ==================\n[base]\ngpgcheck = True\nname = CentOS\n"
    assert parse_config_dump(yum3 + yum3.replace("base", "local").replace("True", "False")) == {
        "base": True,
        "local": False,
    }
    assert parse_zypper_repos_xml(data("zypper-repos.xmlout.zypper1.14.txt")) == {
        "image-plain": False,
        "image-signed": True,
        "mixed": True,
    }
    rows = "vt-good-0:1.0-1.noarch\tmixed\nvt-good-0:1.0-1.noarch\tmirror\nvt-base-0:1.0-1.noarch\t@System\n"
    assert parse_origins(rows + "bash-(none):5.1-2.x86_64\tbase\n") == {
        "vt-good-0:1.0-1.noarch": ["mixed", "mirror"],
        "bash-0:5.1-2.x86_64": ["base"],
    }


def test_signature_verdicts_and_reasons() -> None:
    rows = {r.file.split("-1.0")[0]: r for r in parse_signature_rows(data("rpmkeys-check-rows.rpm4.18.txt"))}
    assert rows["vt-good"].key_ids == ("471c1957151520fe",) and rows["vt-unsigned"].key_ids == ()
    recipe = Source("mixed", "/var/lib/vmapp-build/keyrings/0", required=True, recipe=True)
    plain = image_source("image-plain", {"image-plain": False})
    unknown = image_source("somewhere", {})
    assert _reason(rows["vt-good"], recipe) == ""
    assert _reason(rows["vt-unsigned"], recipe) == "not signed, and the repository has a key"
    assert _reason(rows["vt-wrongkey"], recipe) == (
        "signed with key ID 033537f82490576b, which is not repository mixed's key"
    )
    assert "could not say" in _reason(rows["vt-unsigned"], unknown) and unknown.required
    # gpgcheck=0: checked with --nosignature, so rpmkeys' exit code is about digests only
    digests_ok = replace(rows["vt-unsigned"], exit_code=0)
    assert _reason(digests_ok, plain) == "" and not plain.required
    assert "BAD" in _reason(replace(rows["vt-good"], exit_code=1, detail="x: MD5 digest: BAD"), recipe)
