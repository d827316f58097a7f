"""The target table: each target (a Linux release, or Windows), its package family, default image and
kind, and the architectures it is built for.

Targets are data; what plans and builds each kind is code (builder.plan.KINDS, builder.pipeline), and
package managers are code too (builder.backends). A new release is a row here. A target is a row and
an architecture: `debian-12` (amd64) or `debian-12/arm64`, built in an arm64 image under emulation
(builder.emulation).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from builder.errors import InputError


@dataclass(frozen=True)
class Distro:
    name: str  # e.g. "debian-12": what users type and what dist/ paths use
    family: str  # apt, yum, dnf or zypper
    image: str  # default container image of the release
    codename: str  # the suite debootstrap and sources.list use (empty where meaningless)
    vendor: str  # debian, ubuntu, rhel, sles
    kind: str = "linux"  # what plans and builds it: linux (packages or a tarball) or windows (installers)
    arches: tuple[str, ...] = ("amd64", "arm64")  # what it can be built for (Debian's names, as dpkg says)
    arch: str = "amd64"  # this target's: the table's rows are amd64; get_distro makes the others

    @property
    def release(self) -> str:
        """The table's row: `debian-12` for debian-12 and debian-12/arm64 alike (recipe overrides key on it)."""
        return self.name.split("/", 1)[0]

    @property
    def directory(self) -> str:
        """The target's directory under dist/<app>/<version>/: its name, without a slash."""
        return target_directory(self.name)

    @property
    def platform(self) -> str:
        """The engine's platform of the target's images (docker's --platform)."""
        return f"linux/{self.arch}"


DISTROS: dict[str, Distro] = {
    d.name: d
    for d in (
        Distro("ubuntu-18.04", "apt", "ubuntu:18.04", "bionic", "ubuntu"),
        Distro("ubuntu-20.04", "apt", "ubuntu:20.04", "focal", "ubuntu"),
        Distro("ubuntu-22.04", "apt", "ubuntu:22.04", "jammy", "ubuntu"),
        Distro("ubuntu-24.04", "apt", "ubuntu:24.04", "noble", "ubuntu"),
        Distro("debian-11", "apt", "debian:11", "bullseye", "debian"),
        Distro("debian-12", "apt", "debian:12", "bookworm", "debian"),
        # UBI 7 is not published for arm64 (RHEL 7 for ARM was a separate, short-lived release).
        Distro("rhel-7", "yum", "registry.access.redhat.com/ubi7/ubi:latest", "", "rhel", arches=("amd64",)),
        Distro("rhel-8", "dnf", "registry.access.redhat.com/ubi8/ubi:latest", "", "rhel"),
        Distro("rhel-9", "dnf", "registry.access.redhat.com/ubi9/ubi:latest", "", "rhel"),
        Distro("sles-15", "zypper", "registry.suse.com/bci/bci-base:15.6", "", "sles"),
        # Windows VMs: installers, not a package manager (builder.windows). The image is Wine, where
        # `vmapp-build verify` runs the cmd strings: `docker build -t vmapp-build/wine:10 tests/images/wine`.
        # Wine runs x64 programs: Windows targets are amd64 only.
        Distro("windows", "windows", "vmapp-build/wine:10", "", "microsoft", kind="windows", arches=("amd64",)),
    )
}

CONFIG_ENV = "VMAPP_BUILD_CONFIG"
DEFAULT_CONFIG = Path("vmapp-build.toml")


NATIVE_ARCH = "amd64"  # the table's rows, and a target named without an architecture
ARCHES = ("amd64", "arm64")
# What other tools call them: named in the error, so `debian-12/aarch64` says what to type instead.
ARCH_ALIASES = {"x86_64": "amd64", "x64": "amd64", "aarch64": "arm64", "arm64v8": "arm64"}
# The arm64 image of a Docker official image is its per-architecture namespace (arm64v8/debian:12, on
# Docker Hub): an engine that reaches a registry pulls it, `image bootstrap --arch arm64` tags it here.
# Any other reference (ubi, bci, a local image) is taken as multi-architecture: pulled with the platform,
# and refused when the local copy is of another architecture (builder.engine.ensure_image).
ARCH_NAMESPACES = {"arm64": "arm64v8/"}


def get_distro(name: str) -> Distro:
    """Look a target up by name (`debian-12`, `debian-12/arm64`), or fail with the list of known names."""
    release, _, arch = name.partition("/")
    try:
        row = DISTROS[release]
    except KeyError:
        known = ", ".join(DISTROS)
        raise InputError(
            f"unknown distro {release!r}", hint=f"use one of: {known} (`vmapp-build distros` lists them)"
        ) from None
    return for_arch(row, arch) if arch else row


def find_distro(name: str) -> Distro | None:
    """The target named `name`, or None when it is not one (get_distro says why)."""
    try:
        return get_distro(name)
    except InputError:
        return None


def check_arch(arch: str, where: str) -> str:
    """`arch` when it is one vmapp-build builds for; else an error naming `where` and the right spelling."""
    if arch in ARCHES:
        return arch
    alias = ARCH_ALIASES.get(arch.lower())
    hint = f"Debian's name for it is {alias}: " if alias else ""
    raise InputError(f"{where}: unknown architecture {arch!r}", hint=f"{hint}use one of: {', '.join(ARCHES)}")


def for_arch(row: Distro, arch: str) -> Distro:
    """The row's target for `arch`: named `<row>/<arch>` (the row itself for amd64), in that arch's image."""
    arch = check_arch(arch, f"target {row.name}/{arch}")
    if arch not in row.arches:
        raise InputError(
            f"{row.name} is built for {', '.join(row.arches)} only, not {arch}",
            hint="Windows installers are verified under Wine, which runs x64 programs"
            if row.kind == "windows"
            else f"build it for {row.name}",
        )
    if arch == row.arch:
        return row
    return replace(row, name=f"{row.name}/{arch}", arch=arch, image=arch_image(row.image, arch))


def with_arch(name: str, arch: str | None) -> str:
    """A target name with `--arch` applied: `debian-12` + arm64 -> `debian-12/arm64`; a name that gives its
    own architecture must agree with it."""
    if arch is None:
        return get_distro(name).name
    arch = check_arch(arch, "--arch")
    target = get_distro(name)
    if "/" in name and target.arch != arch:
        raise InputError(
            f"--distro {name} is for {target.arch}, --arch asks for {arch}",
            hint=f"give one of them: --distro {target.release}/{arch}, or leave --arch out",
        )
    return for_arch(DISTROS[target.release], arch).name


def arch_image(image: str, arch: str) -> str:
    """The default image of a row for `arch`: the official image's per-architecture namespace, or the
    same multi-architecture reference (pulled with the platform) for an image of another registry."""
    if arch == NATIVE_ARCH or "/" in image or arch not in ARCH_NAMESPACES:  # not an official image
        return image
    return ARCH_NAMESPACES[arch] + image


def target_directory(name: str) -> str:
    """The directory of a target's builds: `debian-12`, `debian-12-arm64` (no slash: one level)."""
    return name.replace("/", "-")


# A Docker image reference, registry[:port]/path[:tag][@digest]: nothing an engine would misread.
IMAGE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,254}", re.ASCII)
IMAGE_HINT = "e.g. registry.example.com/base/debian:12"


def load_config(config_path: Path | None = None) -> tuple[Path | None, dict[str, Any]]:
    """The configuration file and its tables: `--config`, else $VMAPP_BUILD_CONFIG, else
    ./vmapp-build.toml when present (else no file and no tables)."""
    path = config_path
    if path is None and os.environ.get(CONFIG_ENV):
        path = Path(os.environ[CONFIG_ENV])
    if path is None:
        if not DEFAULT_CONFIG.is_file():
            return None, {}
        path = DEFAULT_CONFIG
    try:
        return path, tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read configuration: {getattr(exc, 'strerror', None) or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from exc


def configured_images(config_path: Path | None = None) -> dict[str, str]:
    """Image overrides from the `[images]` table of the configuration file (load_config)."""
    path, data = load_config(config_path)
    images = data.get("images", {})
    if not isinstance(images, dict) or not all(isinstance(v, str) for v in images.values()):
        raise InputError(f'{path}: images: expected a table of distro = "image" strings')
    found = {}
    for name, image in images.items():
        try:
            target = get_distro(name)  # debian-12/amd64 is debian-12
        except InputError as exc:
            raise InputError(f"{path}: images.{name}: {exc.message}", hint=exc.hint) from None
        if not IMAGE_RE.fullmatch(image):
            raise InputError(f"{path}: images.{name}: {image!r} is not an image reference", hint=IMAGE_HINT)
        found[target.name] = image
    return found


def resolve_image(distro: Distro, override: str | None, config_path: Path | None = None) -> str:
    """The image to build in: the per-run override, else the configuration file, else the table."""
    if override:
        return override
    return configured_images(config_path).get(distro.name, distro.image)
