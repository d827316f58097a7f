"""The target table: each target (a Linux release, or Windows), its package family, default image and
kind.

Targets are data; what plans and builds each kind is code (builder.plan.KINDS, builder.pipeline), and
package managers are code too (builder.backends). A new release is a row here.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
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


DISTROS: dict[str, Distro] = {
    d.name: d
    for d in (
        Distro("ubuntu-18.04", "apt", "ubuntu:18.04", "bionic", "ubuntu"),
        Distro("ubuntu-20.04", "apt", "ubuntu:20.04", "focal", "ubuntu"),
        Distro("ubuntu-22.04", "apt", "ubuntu:22.04", "jammy", "ubuntu"),
        Distro("ubuntu-24.04", "apt", "ubuntu:24.04", "noble", "ubuntu"),
        Distro("debian-11", "apt", "debian:11", "bullseye", "debian"),
        Distro("debian-12", "apt", "debian:12", "bookworm", "debian"),
        Distro("rhel-7", "yum", "registry.access.redhat.com/ubi7/ubi:latest", "", "rhel"),
        Distro("rhel-8", "dnf", "registry.access.redhat.com/ubi8/ubi:latest", "", "rhel"),
        Distro("rhel-9", "dnf", "registry.access.redhat.com/ubi9/ubi:latest", "", "rhel"),
        Distro("sles-15", "zypper", "registry.suse.com/bci/bci-base:15.6", "", "sles"),
        # Windows VMs: installers, not a package manager (builder.windows). The image is Wine, where
        # `vmapp-build verify` runs the cmd strings: `docker build -t vmapp-build/wine:10 tests/images/wine`.
        Distro("windows", "windows", "vmapp-build/wine:10", "", "microsoft", kind="windows"),
    )
}

CONFIG_ENV = "VMAPP_BUILD_CONFIG"
DEFAULT_CONFIG = Path("vmapp-build.toml")


def get_distro(name: str) -> Distro:
    """Look a distro up by name, or fail with the list of known names."""
    try:
        return DISTROS[name]
    except KeyError:
        known = ", ".join(DISTROS)
        raise InputError(
            f"unknown distro {name!r}", hint=f"use one of: {known} (`vmapp-build distros` lists them)"
        ) from None


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
    for name, image in images.items():
        if name not in DISTROS:
            raise InputError(f"{path}: images.{name}: unknown distro", hint=f"use one of: {', '.join(DISTROS)}")
        if not IMAGE_RE.fullmatch(image):
            raise InputError(f"{path}: images.{name}: {image!r} is not an image reference", hint=IMAGE_HINT)
    return dict(images)


def resolve_image(distro: Distro, override: str | None, config_path: Path | None = None) -> str:
    """The image to build in: the per-run override, else the configuration file, else the table."""
    if override:
        return override
    return configured_images(config_path).get(distro.name, distro.image)
