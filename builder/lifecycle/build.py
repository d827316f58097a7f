"""A built Linux application version as the extension sees it: its download directory and its bundle."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

from builder.errors import InputError
from builder.steps import Built

EXTENSION_DIR = "/var/lib/waagent/Microsoft.CPlat.Core.VMApplicationManagerLinux"


class Build(Built):
    """One built application version, as the replay needs it."""

    @property
    def workdir(self) -> str:
        """Where the extension saves the package and runs the version's commands."""
        return f"{EXTENSION_DIR}/{self.app}/{self.version}"

    @property
    def family(self) -> str:
        return str(self.manifest["distro"]["family"])

    @property
    def bundled(self) -> set[str]:
        """Names of the packages the bundle carries."""
        return {str(p["name"]) for p in self.manifest.get("packages", [])}

    @property
    def online(self) -> bool:
        """An online build (linux.resolve: vm): the VM fetches the dependencies, so verify needs a network."""
        return bool(self.manifest.get("recipe", {}).get("resolve") == "vm")

    @property
    def fetched(self) -> set[str]:
        """Names of the packages an online build's VM fetches itself (the build image's answer)."""
        return {str(p["name"]) for p in self.manifest.get("online", {}).get("fetched", [])}

    @property
    def target_directory(self) -> str | None:
        directory = self.manifest.get("tarball", {}).get("directory")
        return str(directory) if directory else None

    def bundled_file(self, name: str) -> tuple[str, bytes]:
        """The bundle's file of package `name` (what an owner could install by hand)."""
        files = [p["file"] for p in self.manifest.get("packages", []) if p["name"] == name]
        if not files:
            raise InputError(f"{self.directory}: the bundle has no package {name!r}")
        with gzip.open(self.package) as gz, tarfile.open(fileobj=io.BytesIO(gz.read())) as tar:
            member = tar.extractfile(files[0])
            assert member is not None
            return files[0], member.read()


def load_build(path: Path) -> Build:
    return Build.load(path)


def bare(state: dict[str, str] | set[str]) -> set[str]:
    """Package names without their architecture (`libc6:amd64` -> `libc6`)."""
    return {name.split(":", 1)[0] for name in state}


def same_application(older: Build, build: Build) -> None:
    """--update-from replays an update of one application on one VM: the same name (the ledger is
    per application), the same distro (a VM keeps its release) and another version."""
    for what, old, new in (
        ("application", older.app, build.app),
        ("distro", older.manifest["distro"]["name"], build.manifest["distro"]["name"]),
    ):
        if old != new:
            raise InputError(
                f"--update-from {older.directory}: that build is of {what} {old}, this one of {new}:"
                " an update replaces a version of the same application on the same VM",
                hint=f"give an older build of {build.app} for {build.manifest['distro']['name']}",
            )
    if older.version == build.version:
        raise InputError(
            f"--update-from {older.directory}: that build is version {older.version} too: an update changes"
            " the version",
            hint=f"give an older version of {build.app}",
        )
