"""arm64 targets (issue 14): `debian-12/arm64` or `--arch arm64` resolves the closure in an arm64 image
under qemu-user-static, verify runs under emulation too, the architecture is recorded everywhere, and a
package is refused by a gallery application declared for the other architecture.

The one real build (jq, three small packages) runs once per session in arm64v8/debian:12, which
`make setup` bootstraps (`vmapp-build image bootstrap debian-12/arm64`, about 2 CPU-minutes of qemu).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import subprocess
import tarfile
from dataclasses import replace
from pathlib import Path

import docker
import pytest
from azure.storage.blob import BlobServiceClient
from packageurl import PackageURL

from builder.azure.checks import check_definition
from builder.azure.gallery import ARCH_TAG, GallerySettings, VersionDefinition, definition_from_manifest
from builder.azure.publish import StorageAccess, publish_build
from builder.bootstrap import ENV_PATH, import_image
from builder.distros import get_distro, with_arch
from builder.emulation import handler_problem
from builder.errors import LimitError
from builder.lock import read_lock
from builder.manifest import load_manifest
from builder.sbom import ARCH_PROPERTY
from tests.conftest import run_cli

IMAGE = "arm64v8/debian:12"
# /proc/sys/fs/binfmt_misc/qemu-aarch64 as Debian's qemu-user-static 7.2 registers it (read on this machine).
HANDLER = """enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: PF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
"""


def test_arm64_targets_are_a_row_and_an_architecture() -> None:
    target = get_distro("debian-12/arm64")
    assert (target.name, target.release, target.arch, target.family) == ("debian-12/arm64", "debian-12", "arm64", "apt")
    assert (target.image, target.platform, target.directory) == (IMAGE, "linux/arm64", "debian-12-arm64")
    assert get_distro("debian-12/amd64") == get_distro("debian-12")  # the table's rows are amd64
    assert with_arch("debian-12", "arm64") == "debian-12/arm64"
    assert get_distro("rhel-9/arm64").image == get_distro("rhel-9").image  # multi-arch: pulled for the platform


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--distro", "debian-12", "--arch", "aarch64"], "--arch: unknown architecture 'aarch64'"),
        (["--distro", "debian-12/sparc"], "target debian-12/sparc: unknown architecture 'sparc'"),
        (["--distro", "debian-12/amd64", "--arch", "arm64"], "--distro debian-12/amd64 is for amd64"),
        (["--distro", "windows/arm64"], "windows is built for amd64 only, not arm64"),
    ],
)
def test_a_bad_architecture_is_a_clear_error(tmp_path: Path, args: list[str], message: str) -> None:
    proc = run_cli("recipe", "jq", *args, "--out", tmp_path, "--dry-run")
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "hint:" in proc.stderr


def test_the_dry_run_of_an_arm64_build_names_its_image(tmp_path: Path) -> None:
    proc = run_cli("recipe", "jq", "--distro", "debian-12", "--arch", "arm64", "--out", tmp_path, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "debian-12/arm64 (apt)" in proc.stdout and f"image        {IMAGE}" in proc.stdout
    assert str(tmp_path / "jq" / "1.7.1" / "debian-12-arm64") in proc.stdout or "debian-12-arm64" in proc.stdout


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (HANDLER, None),
        (HANDLER.replace("flags: PF", "flags: P"), "lacks the F flag"),
        (HANDLER.replace("enabled", "disabled"), "is disabled"),
        (None, "no aarch64 handler is registered"),
    ],
)
def test_the_binfmt_handler_is_checked(tmp_path: Path, content: str | None, problem: str | None) -> None:
    (tmp_path / "register").touch()
    if content is not None:
        (tmp_path / "qemu-aarch64").write_text(content)
    found = handler_problem("arm64", tmp_path)
    assert found is None if problem is None else problem in str(found)
    assert "binfmt_misc is not mounted" in str(handler_problem("arm64", tmp_path / "absent"))


@pytest.fixture(scope="module")
def arm64_build(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """jq for debian-12/arm64, built and verified (install, check, remove offline) under qemu, once."""
    try:
        docker_client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{IMAGE} is missing: `make setup` bootstraps it (vmapp-build image bootstrap debian-12/arm64)")
    out = tmp_path_factory.mktemp("arm64")
    proc = run_cli("recipe", "jq", "--distro", "debian-12", "--arch", "arm64", "--out", out, "--verify")
    assert proc.returncode == 0, proc.stderr
    assert "verified" in proc.stdout.lower() or "ok" in proc.stdout.lower(), proc.stdout
    (directory,) = (out / "jq").glob("*/debian-12-arm64")
    return directory


def test_an_arm64_build_bundles_arm64_packages_and_records_the_architecture(arm64_build: Path) -> None:
    _, manifest = load_manifest(arm64_build)
    assert manifest["distro"] == {"name": "debian-12/arm64", "family": "apt", "arch": "arm64"}
    assert read_lock(arm64_build)["distro"]["arch"] == "arm64"
    with gzip.open(arm64_build / manifest["packageFileName"]) as gz, tarfile.open(fileobj=io.BytesIO(gz.read())) as tar:
        debs = {m.name: tar.extractfile(m).read() for m in tar if m.name.endswith(".deb")}  # type: ignore[union-attr]
    assert {"jq", "libjq1", "libonig5"} <= {name.split("/")[-1].split("_")[0] for name in debs}
    for name, data in debs.items():  # what dpkg itself says, not the file name
        deb = arm64_build.parent / Path(name).name
        deb.write_bytes(data)
        field = subprocess.run(["dpkg-deb", "--field", str(deb), "Architecture"], capture_output=True, text=True)
        deb.unlink()
        assert field.stdout.strip() in ("arm64", "all"), (name, field.stdout, field.stderr)
    sbom = json.loads((arm64_build / "sbom.cdx.json").read_text())
    assert {"name": ARCH_PROPERTY, "value": "arm64"} in sbom["metadata"]["component"]["properties"]
    qualifiers = [PackageURL.from_string(c["purl"]).qualifiers for c in sbom["components"]]
    assert {q["arch"] for q in qualifiers} <= {"arm64", "all"} and {q["distro"] for q in qualifiers} == {"debian-12"}


def test_publishing_to_an_application_of_the_other_architecture_is_refused(arm64_build: Path) -> None:
    """Checked before any byte leaves: the storage account here is never reached."""
    _, manifest = load_manifest(arm64_build)
    x64 = GallerySettings("g", "rg", "westeurope", source="gallery.yaml", architecture="amd64")
    assert definition_from_manifest(arm64_build, manifest, x64).tags[ARCH_TAG] == "arm64"
    nowhere = StorageAccess(BlobServiceClient("http://127.0.0.1:9/devstoreaccount1"), None)
    with pytest.raises(LimitError, match=r"built for arm64, but the gallery settings .* declare the application amd64"):
        publish_build(arm64_build, nowhere, x64)


def test_an_arm64_build_is_not_verified_in_an_amd64_image(arm64_build: Path) -> None:
    proc = run_cli("verify", arm64_build, "--image", "debian:12", "--no-lifecycle")
    assert proc.returncode == 5, proc.stderr
    assert "image 'debian:12' is for amd64, and this target is arm64" in proc.stderr


def test_the_gallery_architecture_is_checked_when_it_is_declared(tmp_path: Path) -> None:
    gallery = tmp_path / "gallery.yaml"
    gallery.write_text("name: g\nresource_group: rg\nlocation: westeurope\narchitecture: Arm64\n")
    proc = run_cli("recipe", "jq", "--distro", "debian-12", "--gallery", gallery, "--out", tmp_path, "--dry-run")
    assert proc.returncode == 0, proc.stderr  # declared, parsed; a dry run builds no package to compare
    gallery.write_text("name: g\nresource_group: rg\nlocation: westeurope\narchitecture: arm\n")
    proc = run_cli("recipe", "jq", "--distro", "debian-12", "--gallery", gallery, "--out", tmp_path, "--dry-run")
    assert proc.returncode == 2 and f"{gallery}: architecture: 'arm' is not one of: x64, amd64, Arm64" in proc.stderr


def test_an_amd64_package_is_refused_by_an_arm64_application() -> None:
    settings = GallerySettings("g", "rg", "westeurope", source="gallery.yaml", architecture="arm64")
    d = VersionDefinition("jq", "1.0.0", "Linux", "jq", "i", "r", None, "jq.tar.gz", Path("/x"), settings)
    (error,) = [r for r in check_definition(d, 100, None) if r.level == "error"]
    assert "jq 1.0.0 is built for amd64, but the gallery settings (gallery.yaml) declare the application arm64" in (
        error.message
    )
    assert check_definition(replace(d, package_arch="arm64"), 100, None) == check_definition(
        replace(d, settings=replace(settings, architecture=None)), 100, None
    )


def test_a_bootstrapped_root_filesystem_is_labelled_with_its_architecture(
    docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    """What `image bootstrap debian-12/arm64` does with debootstrap's root filesystem (here: one file),
    where `docker import --platform` of Docker 20.10 would label it amd64."""
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        info = tarfile.TarInfo("etc/os-release")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"ID=x\n"))
    tag = "vmapp-test/arm64-label:1"
    try:
        import_image(docker_client, rootfs, tag, "linux/arm64")
        attrs = docker_client.images.get(tag).attrs
        assert (attrs["Architecture"], attrs["Os"]) == ("arm64", "linux")
        assert attrs["Config"]["Env"] == [ENV_PATH] and attrs["Config"]["Cmd"] == ["/bin/bash"]
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(tag, force=True)
