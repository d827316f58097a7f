"""`vmapp-build image bootstrap`: a distro's base image made locally with debootstrap.

For builders that reach a package mirror but no container registry (air-gapped sites).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import docker

from builder.distros import Distro
from builder.engine import connect
from builder.errors import BuildError, EnvironmentProblem, InputError

DEFAULT_MIRRORS = {"debian": "http://deb.debian.org/debian", "ubuntu": "http://archive.ubuntu.com/ubuntu"}
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


def bootstrap_image(
    distro: Distro, tag: str, mirror: str | None = None, client: docker.DockerClient | None = None
) -> str:
    """Build `tag` from a minbase debootstrap of the distro; returns the image id."""
    if distro.family != "apt":
        raise InputError(
            f"{distro.name} cannot be bootstrapped with debootstrap (it is a {distro.family} distro)",
            hint=f"pull or build {distro.image} and pass it with --image or the [images] configuration",
        )
    if shutil.which("debootstrap") is None:
        raise EnvironmentProblem("debootstrap is not installed", hint="`apt-get install debootstrap` (or `make setup`)")
    if os.geteuid() != 0:
        raise EnvironmentProblem("debootstrap needs root", hint="run the bootstrap as root (sudo)")
    mirror = mirror or DEFAULT_MIRRORS[distro.vendor]
    client = client or connect()
    work = Path(tempfile.mkdtemp(prefix="vmapp-build-bootstrap-"))
    try:
        rootfs = work / "rootfs"
        _run(
            ["debootstrap", "--variant=minbase", distro.codename, str(rootfs), mirror],
            f"debootstrap {distro.codename} from {mirror}",
        )
        (rootfs / "etc/apt/sources.list").write_text(sources_list(distro, mirror))
        # Leave no downloaded lists or .debs in the image: builds refresh their own.
        for leftover in (rootfs / "var/lib/apt/lists").glob("*_*"):
            leftover.unlink()
        archive = work / "rootfs.tar"
        _run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(archive), "."], "pack the root filesystem")
        repository, _, version = tag.rpartition(":") if ":" in tag.rsplit("/", 1)[-1] else (tag, "", "latest")
        client.api.import_image_from_file(
            str(archive),
            repository=repository,
            tag=version,
            changes=["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 'CMD ["/bin/bash"]'],
        )
        return str(client.images.get(tag).id)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise BuildError(
            f"{what} failed with exit code {proc.returncode}:\n{tail}",
            hint="check that the mirror is reachable and serves this release",
        )
