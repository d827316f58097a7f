"""Package signatures on the RPM families, end to end: Debian's real dnf and zypper, repositories
the tests build and sign (tests/rpm_images.py `signature_image`), the command line's exit code.

`mixed` is a recipe repository whose metadata is signed with its own key but which also serves a
package signed with the `other` key and an unsigned one; `image-plain` (gpgcheck=0) and
`image-signed` (gpgcheck=1) are the image's own repositories.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from builder.backends.dnf import DnfInstaller
from builder.backends.rpm_signatures import (
    IMAGE_KEYRING,
    SignatureError,
    Source,
    recipe_keyrings,
    refusals,
    routed_argv,
)
from builder.backends.rpmdb import describe_argv, parse_described
from builder.closure import request_for
from builder.container import Container
from builder.errors import CommandFailed
from builder.plan import make_plan
from builder.recipe import load_recipe
from tests.conftest import files_under, run_cli, write_recipe
from tests.narrow import linux_plan
from tests.rpm_images import SIG_DIR, SIG_KEYS, extract_key, signature_image

pytestmark = pytest.mark.docker

DISTROS = {"dnf": "rhel-9", "zypper": "sles-15"}
BUILD_FAILED = 3


@dataclass(frozen=True)
class SigEnv:
    family: str
    distro: str
    image: str
    keys: dict[str, Path]

    def recipe(self, directory: Path, packages: list[str], repos: tuple[str, ...] = ("mixed",)) -> Path:
        entries = "".join(
            f"    - name: {r}\n      url: file://{SIG_DIR}/{r}\n      key: {self.keys[r]}\n" for r in repos
        )
        text = f"name: vt\nversion: 1.0.0\nlinux:\n  packages: [{', '.join(packages)}]\n  repositories:\n{entries}"
        return write_recipe(directory, text, f"vt-{self.family}.yaml")

    def build(
        self, tmp_path: Path, packages: list[str], repos: tuple[str, ...] = ("mixed",)
    ) -> subprocess.CompletedProcess[str]:
        recipe = self.recipe(tmp_path, packages, repos)
        return run_cli("recipe", recipe, "--distro", self.distro, "--image", self.image, "--out", tmp_path / "out")


_envs: dict[str, SigEnv] = {}


def _env(client: docker.DockerClient, family: str, tmp_path_factory: pytest.TempPathFactory) -> SigEnv:
    if family not in _envs:
        image = signature_image(client, family)
        keydir = tmp_path_factory.mktemp(f"sigkeys-{family}")
        keys = {name: extract_key(client, image, keydir / f"{name}.asc", at) for name, at in SIG_KEYS.items()}
        _envs[family] = SigEnv(family, DISTROS[family], image, keys)
    return _envs[family]


@pytest.fixture(scope="session", params=sorted(DISTROS))
def sig_env(
    request: pytest.FixtureRequest, docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> SigEnv:
    return _env(docker_client, request.param, tmp_path_factory)


@pytest.fixture(scope="session")
def dnf_env(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> SigEnv:
    return _env(docker_client, "dnf", tmp_path_factory)


def refused(proc: subprocess.CompletedProcess[str], sig_env: SigEnv, out: Path) -> str:
    """The build's stderr, once it is known to have refused with a build failure and written nothing."""
    assert proc.returncode == BUILD_FAILED, proc.stdout + proc.stderr
    assert "package signature check failed" in proc.stderr, proc.stderr
    assert f"on {sig_env.distro} " in proc.stderr
    assert files_under(out) == []
    return str(proc.stderr)


def test_package_signed_with_another_key_is_refused(sig_env: SigEnv, tmp_path: Path) -> None:
    """The repository's metadata is signed with the recipe's key, one package with another key."""
    stderr = refused(sig_env.build(tmp_path, ["vt-good", "vt-wrongkey"]), sig_env, tmp_path / "out")
    assert "vt-wrongkey" in stderr and "repository mixed" in stderr
    assert "signed with" in stderr
    assert "vt-good" not in stderr.split("refusing to bundle")[1]
    assert "cannot resolve" not in stderr


def test_unsigned_package_from_a_repository_with_a_key_is_refused(sig_env: SigEnv, tmp_path: Path) -> None:
    stderr = refused(sig_env.build(tmp_path, ["vt-unsigned"]), sig_env, tmp_path / "out")
    assert "vt-unsigned" in stderr and "repository mixed" in stderr and "not signed" in stderr


def test_key_of_another_recipe_repository_is_refused(sig_env: SigEnv, tmp_path: Path) -> None:
    """Both keys are in rpm's database, so dnf and libzypp accept the package; the build checks it
    against the key of the repository it came from only."""
    stderr = refused(sig_env.build(tmp_path, ["vt-wrongkey"], ("mixed", "other")), sig_env, tmp_path / "out")
    assert "vt-wrongkey" in stderr and "repository mixed" in stderr
    assert "which is not repository mixed's key" in stderr


def test_unsigned_package_from_an_image_repository_with_a_key_is_refused(sig_env: SigEnv, tmp_path: Path) -> None:
    """The image's own repository checks signatures (gpgcheck=1) and has signed metadata: libzypp
    checks only repomd.xml; the build refuses the unsigned package all the same."""
    stderr = refused(sig_env.build(tmp_path, ["vt-image-unsigned"]), sig_env, tmp_path / "out")
    assert "vt-image-unsigned" in stderr and "repository image-signed" in stderr and "not signed" in stderr


def test_repository_without_signature_checks_may_serve_unsigned_packages(sig_env: SigEnv, tmp_path: Path) -> None:
    """The image's gpgcheck=0 repository: unsigned is its owner's choice, which dnf and zypper honour;
    signed packages from the recipe's repository and the image's keyed one build next to it."""
    proc = sig_env.build(tmp_path, ["vt-plain", "vt-good", "vt-image-good"])
    assert proc.returncode == 0, proc.stderr
    assert any(f.endswith("manifest.json") for f in files_under(tmp_path / "out"))


def test_shared_check_requires_the_repositorys_own_signature(
    sig_env: SigEnv, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    """The check every RPM family runs (yum 3 checks nothing on --downloadonly): with the recipe
    repository's key, only its own signed package passes; an unsigned one, which `rpmkeys --checksig`
    alone passes ("digests OK"), is refused; with gpgcheck=0 only digests count."""
    plan = linux_plan(
        make_plan(load_recipe(sig_env.recipe(tmp_path, ["vt-good"])), sig_env.distro, tmp_path / "d", sig_env.image)
    )
    files = ["vt-good-1.0-1.noarch.rpm", "vt-unsigned-1.0-1.noarch.rpm", "vt-wrongkey-1.0-1.noarch.rpm"]
    with Container(docker_client, sig_env.image, "test") as c:
        c.put_bytes(sig_env.keys["mixed"].read_bytes(), "/etc/pki/rpm-gpg", "RPM-GPG-KEY-vmapp-mixed")
        c.run(["sh", "-c", f"mkdir -p /tmp/c && cp {SIG_DIR}/mixed/*.rpm /tmp/c/"], "copy")
        unsigned_ok = c.run(["rpmkeys", "--checksig", "/tmp/c/vt-unsigned-1.0-1.noarch.rpm"], "plain", check=False)
        assert unsigned_ok.exit_code == 0 and "digests OK" in unsigned_ok.stdout  # why the level is needed
        mixed = recipe_keyrings(plan.repositories)["mixed"]
        problems = refusals(c, "/tmp/c", {f: [mixed] for f in files}, plan.repositories)
        assert [p.split(" ")[0] + ".rpm" for p in problems] == files[1:]
        assert "not signed, and the repository has a key" in problems[0]
        assert "which is not repository mixed's key" in problems[1]
        # Checked ahead where each signature points (the download's batch): the same verdicts, and a
        # package signed with another key is still held to its own repository's key.
        routed = c.run(routed_argv("/tmp/c", plan.repositories), "route", check=False)
        assert routed.exit_code == 0, routed.output
        assert refusals(c, "/tmp/c", {f: [mixed] for f in files}, plan.repositories, routed) == problems
        plain = Source("image-plain", IMAGE_KEYRING, required=False, recipe=False)
        assert refusals(c, "/tmp/c", {f: [plain] for f in files}, routed=routed) == []
        assert refusals(c, "/tmp/c", {f: [plain] for f in files}) == []
        # a package offered by two repositories passes when one of them vouches for it
        assert refusals(c, "/tmp/c", {f: [mixed, plain] for f in files}) == []


def test_without_config_manager_an_unsigned_image_package_needs_a_signature(
    dnf_env: SigEnv, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    """An image without dnf-plugins-core cannot tell which repositories go without signatures: the
    build then requires them (the safe side), and says why, instead of trusting a guess."""
    plan = linux_plan(
        make_plan(load_recipe(dnf_env.recipe(tmp_path, ["vt-good"])), dnf_env.distro, tmp_path / "d", dnf_env.image)
    )
    installer = DnfInstaller(request_for(plan))
    copy = f"mkdir -p /tmp/c && cp {SIG_DIR}/image-plain/*.rpm {SIG_DIR}/mixed/vt-good-*.rpm /tmp/c/"
    with Container(docker_client, dnf_env.image, "test") as c:
        installer.prepare(c)
        c.run(["sh", "-c", copy], "copy")
        installer.check_signatures(c, "/tmp/c")  # config-manager says image-plain has gpgcheck=0
        c.run(["sh", "-c", "rm /usr/lib/python3/dist-packages/dnf-plugins/config_manager.py"], "no config-manager")
        with pytest.raises(SignatureError) as refused:
            installer.check_signatures(c, "/tmp/c")
    assert len(refused.value.problems) == 1
    assert refused.value.problems[0].startswith("vt-plain-1.0-1.noarch from repository image-plain: not signed")
    assert "dnf-plugins-core" in refused.value.problems[0]


HOSTILE = json.loads(Path("/work/shared/data/hostile-strings.json").read_text())["strings"]


def _file_names() -> list[str]:
    """Hostile strings that can be file names here: no separators of the check's lines (tab, newline),
    no slash, NUL, or name the shell would not list (empty, dot-leading) or a filesystem would not take."""
    bad = set("\t\n\r\x00/")
    names = [s for s in HOSTILE if s.strip() and not bad & set(s) and s[0] != "." and len(s.encode()) < 250]
    return [f"{s}.rpm" for s in dict.fromkeys(names)]


def test_check_in_batches_keeps_each_files_verdict(
    sig_env: SigEnv, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    """The check reads every file's signature in one rpm query and checks a keyring's files in one
    rpmkeys: each file must still get its own verdict. Hostile file names; a file that is not an rpm
    (the one query gives no line for it, which would shift the rest onto the wrong names); more than
    one rpmkeys' worth of files (200) with the bad one in the last batch. The headers' query too."""
    plan = linux_plan(
        make_plan(load_recipe(sig_env.recipe(tmp_path, ["vt-good"])), sig_env.distro, tmp_path / "d", sig_env.image)
    )
    mixed = recipe_keyrings(plan.repositories)["mixed"]
    good = _file_names()
    unsigned, junk = "unsigned & 100% $(id).rpm", "-not an rpm [x].rpm"
    copy = 'd=$1; src=$2; shift 2; mkdir -p "$d" && for n; do cp "$src" "$d/$n" || exit 1; done'
    many = [f"a-{i:03}.rpm" for i in range(201)]
    with Container(docker_client, sig_env.image, "test") as c:
        c.put_bytes(sig_env.keys["mixed"].read_bytes(), "/etc/pki/rpm-gpg", "RPM-GPG-KEY-vmapp-mixed")
        c.run(["sh", "-c", copy, "sh", "/tmp/h", f"{SIG_DIR}/mixed/vt-good-1.0-1.noarch.rpm", *good], "copy")
        c.run(["sh", "-c", copy, "sh", "/tmp/h", f"{SIG_DIR}/mixed/vt-unsigned-1.0-1.noarch.rpm", unsigned], "copy")
        c.put_bytes(b"not an rpm\n", "/tmp/h", junk)
        origins = {f: [mixed] for f in [*good, unsigned, junk]}
        problems = refusals(c, "/tmp/h", origins, plan.repositories)
        assert sorted(p.split(" from repository ")[0] for p in problems) == sorted(
            n.removesuffix(".rpm") for n in (unsigned, junk)
        ), problems
        routed = c.run(routed_argv("/tmp/h", plan.repositories), "route", check=False)
        assert routed.exit_code == 0, routed.output
        assert refusals(c, "/tmp/h", origins, plan.repositories, routed) == problems
        described = parse_described(c.run(describe_argv("/tmp/h"), "headers").stdout)
        assert {f: info.name for f, info in described.items()} == {
            **{f: "vt-good" for f in good},
            unsigned: "vt-unsigned",
        }

        c.run(["sh", "-c", copy, "sh", "/tmp/m", f"{SIG_DIR}/mixed/vt-good-1.0-1.noarch.rpm", *many], "copy")
        c.run(["sh", "-c", copy, "sh", "/tmp/m", f"{SIG_DIR}/mixed/vt-wrongkey-1.0-1.noarch.rpm", "zz.rpm"], "copy")
        origins = {f: [mixed] for f in [*many, "zz.rpm"]}
        problems = refusals(c, "/tmp/m", origins, plan.repositories)
        assert len(problems) == 1 and problems[0].startswith("zz from repository mixed: signed with key ID"), problems
        routed = c.run(routed_argv("/tmp/m", plan.repositories), "route", check=False)
        assert refusals(c, "/tmp/m", origins, plan.repositories, routed) == problems


def test_a_key_rpm_cannot_import_names_its_repository(
    sig_env: SigEnv, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    """The check makes each recipe repository's keyring by importing its key (with --initdb first only
    where the import wants it): a file that is no key fails both ways and names the repository."""
    plan = linux_plan(
        make_plan(load_recipe(sig_env.recipe(tmp_path, ["vt-good"])), sig_env.distro, tmp_path / "d", sig_env.image)
    )
    mixed = recipe_keyrings(plan.repositories)["mixed"]
    with Container(docker_client, sig_env.image, "test") as c:
        not_a_key = b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a key\n"
        c.put_bytes(not_a_key, "/etc/pki/rpm-gpg", "RPM-GPG-KEY-vmapp-mixed")
        c.run(["sh", "-c", f"mkdir -p /tmp/c && cp {SIG_DIR}/mixed/vt-good-*.rpm /tmp/c/"], "copy")
        with pytest.raises(CommandFailed) as failed:
            refusals(c, "/tmp/c", {"vt-good-1.0-1.noarch.rpm": [mixed]}, plan.repositories)
    assert str(failed.value).startswith("keyring of repository mixed: command exited with 3"), failed.value
    assert "OpenPGP public key" in str(failed.value.hint)


def test_a_key_file_with_two_keys_routes_both(
    sig_env: SigEnv, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    """A repository's key file may hold several keys (a vendor rotating its key): its keyring holds
    them all, a package signed with either passes, and the check in the download's batch routes both
    to that keyring, so the build needs no second exec."""
    plan = linux_plan(
        make_plan(load_recipe(sig_env.recipe(tmp_path, ["vt-good"])), sig_env.distro, tmp_path / "d", sig_env.image)
    )
    mixed = recipe_keyrings(plan.repositories)["mixed"]
    both = sig_env.keys["mixed"].read_bytes() + sig_env.keys["other"].read_bytes()
    files = ["vt-good-1.0-1.noarch.rpm", "vt-wrongkey-1.0-1.noarch.rpm"]  # signed by `mixed`, by `other`
    with Container(docker_client, sig_env.image, "test") as c:
        c.put_bytes(both, "/etc/pki/rpm-gpg", "RPM-GPG-KEY-vmapp-mixed")
        c.run(
            [
                "sh",
                "-c",
                f"mkdir -p /tmp/c && cp {SIG_DIR}/mixed/vt-good-*.rpm {SIG_DIR}/mixed/vt-wrongkey-*.rpm /tmp/c/",
            ],
            "copy",
        )
        routed = c.run(routed_argv("/tmp/c", plan.repositories), "route", check=False)
        assert routed.exit_code == 0, routed.output
        rows = [line.split("\t") for line in routed.stdout.splitlines() if line.startswith("C\t")]
        verdicts = {row[3]: row[4] for row in rows if row[1] == mixed.keyring}  # C root mode file rc detail
        assert verdicts == {f: "0" for f in files}, routed.stdout
        assert refusals(c, "/tmp/c", {f: [mixed] for f in files}, plan.repositories, routed) == []
        c.put_bytes(sig_env.keys["mixed"].read_bytes(), "/etc/pki/rpm-gpg", "RPM-GPG-KEY-vmapp-mixed")
        problems = refusals(c, "/tmp/c", {f: [mixed] for f in files}, plan.repositories)
        assert len(problems) == 1 and problems[0].startswith("vt-wrongkey-1.0-1.noarch from repository mixed")
