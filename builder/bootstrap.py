"""`vmapp-build image bootstrap`: a distro's base image made locally with debootstrap.

For builders that reach a package mirror but no container registry (air-gapped sites). An arm64 target
(`debian-12/arm64`) is bootstrapped on an amd64 machine too: debootstrap runs the arm64 maintainer
scripts in its chroot under qemu-user-static (builder.emulation), and the image is imported as
linux/arm64, so the engine knows what it holds.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import docker
from docker.errors import DockerException

from builder.distros import Distro
from builder.emulation import MACHINES, SETUP_HINT, handler_problem
from builder.engine import connect
from builder.errors import BuildError, EnvironmentProblem, InputError

DEFAULT_MIRRORS = {"debian": "http://deb.debian.org/debian", "ubuntu": "http://archive.ubuntu.com/ubuntu"}
# Ubuntu serves architectures other than amd64 (and i386) from another archive.
PORTS_MIRRORS = {"ubuntu": "http://ports.ubuntu.com/ubuntu-ports"}
ENV_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
EPOCH = "1970-01-01T00:00:00Z"
COMPONENTS = {"debian": "main", "ubuntu": "main universe"}


def sources_list(distro: Distro, mirror: str) -> str:
    """The image's sources: the release, its updates and its security suite, as on a real VM."""
    mirror = mirror.rstrip("/")
    components = COMPONENTS[distro.vendor]
    suite = distro.codename
    if distro.vendor == "debian":
        # deb.debian.org serves security at /debian-security; a mirror of /debian usually does too.
        security = mirror + "-security" if mirror.endswith("/debian") else mirror
        return (
            f"deb {mirror} {suite} {components}\n"
            f"deb {mirror} {suite}-updates {components}\n"
            f"deb {security} {suite}-security {components}\n"
        )
    return "".join(f"deb {mirror} {suite}{pocket} {components}\n" for pocket in ("", "-updates", "-security"))


def default_mirror(distro: Distro) -> str:
    """The vendor's public archive for the target's architecture."""
    if distro.arch != "amd64" and distro.vendor in PORTS_MIRRORS:
        return PORTS_MIRRORS[distro.vendor]
    return DEFAULT_MIRRORS[distro.vendor]


def bootstrap_image(
    distro: Distro, tag: str, mirror: str | None = None, client: docker.DockerClient | None = None
) -> str:
    """Build `tag` from a minbase debootstrap of the target (its release, for its architecture); returns
    the image id."""
    _check_can_bootstrap(distro)
    mirror = mirror or default_mirror(distro)
    client = client or connect()
    work = Path(tempfile.mkdtemp(prefix="vmapp-build-bootstrap-"))
    try:
        rootfs = work / "rootfs"
        _run(
            ["debootstrap", "--variant=minbase", f"--arch={distro.arch}", distro.codename, str(rootfs), mirror],
            f"debootstrap {distro.codename} ({distro.arch}) from {mirror}",
        )
        (rootfs / "etc/apt/sources.list").write_text(sources_list(distro, mirror))
        # Leave no downloaded lists or .debs in the image: builds refresh their own.
        for leftover in (rootfs / "var/lib/apt/lists").glob("*_*"):
            leftover.unlink()
        archive = work / "rootfs.tar"
        _run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(archive), "."], "pack the root filesystem")
        import_image(client, archive, tag, distro.platform)
        return str(client.images.get(tag).id)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _check_can_bootstrap(distro: Distro) -> None:
    """debootstrap, root, an apt distro and, for a foreign architecture, qemu's handler on this kernel."""
    if distro.family != "apt":
        raise InputError(
            f"{distro.name} cannot be bootstrapped with debootstrap (it is a {distro.family} distro)",
            hint=f"pull or build {distro.image} and pass it with --image or the [images] configuration",
        )
    if shutil.which("debootstrap") is None:
        raise EnvironmentProblem("debootstrap is not installed", hint="`apt-get install debootstrap` (or `make setup`)")
    if os.geteuid() != 0:
        raise EnvironmentProblem("debootstrap needs root", hint="run the bootstrap as root (sudo)")
    if MACHINES.get(distro.arch) != platform.machine() and (problem := handler_problem(distro.arch)):
        raise EnvironmentProblem(
            f"bootstrapping {distro.name} runs {distro.arch} programs on this {platform.machine()} machine "
            f"under qemu-user-static, but {problem}",
            hint=SETUP_HINT.format(arch=distro.arch),
        )


def import_image(client: docker.DockerClient, archive: Path, tag: str, platform_name: str) -> None:
    """The root filesystem `archive` as the one layer of image `tag` for `platform_name` (linux/arm64).

    Loaded as a `docker save` archive whose config names the architecture: engines before 23.0 take only
    the OS from `docker import --platform` and label the image with their own architecture, and an arm64
    root filesystem labelled amd64 would run as "amd64" without the check that qemu is there."""
    os_name, _, arch = platform_name.partition("/")
    layer_sha = _sha256(archive)
    config = {
        "architecture": arch,
        "os": os_name,
        "created": EPOCH,  # the same root filesystem gives the same image id
        "config": {"Env": [ENV_PATH], "Cmd": ["/bin/bash"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_sha}"]},
        "history": [{"created": EPOCH, "created_by": f"vmapp-build image bootstrap ({platform_name})"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = f"{hashlib.sha256(config_bytes).hexdigest()}.json"
    name, _, version = tag.rpartition(":") if ":" in tag.rsplit("/", 1)[-1] else (tag, "", "latest")
    manifest = [{"Config": config_name, "RepoTags": [f"{name}:{version}"], "Layers": [f"{layer_sha}/layer.tar"]}]
    saved = archive.with_name("image.tar")
    with tarfile.open(saved, "w") as tar:
        tar.add(archive, f"{layer_sha}/layer.tar")
        for member, data in ((config_name, config_bytes), ("manifest.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with saved.open("rb") as stream:
        try:
            client.images.load(stream)
        except (DockerException, OSError) as exc:
            raise BuildError(f"loading the root filesystem as {tag} ({platform_name}) failed: {exc}") from exc


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _run(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise BuildError(
            f"{what} failed with exit code {proc.returncode}:\n{tail}",
            hint="check that the mirror is reachable and serves this release",
        )
