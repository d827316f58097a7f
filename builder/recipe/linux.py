"""The recipe's `linux` section: packages or a tarball, extra repositories, a check, and the
per-distro overrides (`linux.distros`) and target list (`linux.targets`)."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder import fields
from builder.backends.repository import Repository
from builder.distros import DISTROS, find_distro
from builder.errors import RecipeError
from builder.recipe.repository import parse_repositories

# Package specs reach argv and shell strings: no whitespace, no shell syntax, no leading '-'.
_PACKAGE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._:~=-]*", re.ASCII)
# A tarball is extracted as root and removed member by member: never over the system's own trees.
_SYSTEM_DIRS = frozenset(
    "/ /bin /boot /dev /etc /home /lib /lib32 /lib64 /libx32 /media /mnt /proc /root /run /sbin "  # noqa: SIM905
    "/sys /tmp /usr /var /usr/bin /usr/include /usr/lib /usr/lib32 /usr/lib64 /usr/libexec /usr/sbin "
    "/usr/share /usr/src /var/cache /var/lib /var/log /var/spool /var/tmp".split()
)
_VIRTUAL_ROOTS = ("/proc", "/sys", "/dev", "/run", "/boot")
_LINUX_KEYS = {"packages", "tarball", "repositories", "check", "recommends", "resolve", "distros", "targets"}
_OVERRIDE_KEYS = {"packages", "tarball", "repositories", "check", "recommends", "resolve"}
# linux.resolve: who resolves the dependencies. `bundle` (default): the build, which ships the closure
# for VMs without internet; `vm`: the VM's package manager from its own repositories (online mode).
RESOLVE_MODES = ("bundle", "vm")
_TARBALL_KEYS = {"source", "sha256", "directory"}
# What tar needs to read each kind of archive; the package keeps the suffix, so the VM sees it too.
TARBALL_SUFFIXES = {".tar.gz": "z", ".tgz": "z", ".tar.xz": "J", ".txz": "J", ".tar.bz2": "j", ".tar": ""}


@dataclass(frozen=True)
class Tarball:
    """A tarball payload (the seed's .tar/.gz case): extracted into `directory` on the VM."""

    source: str  # a URL, or a path resolved against the recipe's directory
    sha256: str
    directory: str
    suffix: str  # one of TARBALL_SUFFIXES

    @property
    def tar_flag(self) -> str:
        return TARBALL_SUFFIXES[self.suffix]


@dataclass(frozen=True)
class LinuxTarget:
    """What to install for one distro, after per-distro overrides are applied."""

    packages: tuple[str, ...]
    repositories: tuple[Repository, ...] = ()
    check: str | None = None
    recommends: bool = False
    tarball: Tarball | None = None  # a tarball payload instead of packages
    resolve: str = "bundle"  # one of RESOLVE_MODES

    @property
    def online(self) -> bool:
        """The VM fetches the dependencies from its configured repositories (linux.resolve: vm)."""
        return self.resolve == "vm"


@dataclass(frozen=True)
class LinuxSection:
    """The `linux` section: its own target, the per-distro ones, and the distros it is for (empty: any)."""

    base: LinuxTarget
    overrides: dict[str, LinuxTarget]
    targets: tuple[str, ...]


def parse_linux(path: Path, raw: Any) -> LinuxSection:
    """Validate the `linux` section of the recipe at `path`; errors name the file and the key."""
    data = fields.mapping(path, "linux", raw, _LINUX_KEYS)
    base = _target(path, "linux", data, None)
    overrides: dict[str, LinuxTarget] = {}
    distros = data.get("distros") or {}
    if not isinstance(distros, dict):
        raise RecipeError(path, "linux.distros", "expected a mapping of distro name to overrides")
    for distro, override in distros.items():
        key = f"linux.distros.{distro}"
        if find_distro(distro) is None:
            raise RecipeError(path, key, "unknown distro", hint=f"use one of: {', '.join(DISTROS)}")
        override_data = fields.mapping(path, key, override, _OVERRIDE_KEYS, "a mapping of overrides")
        overrides[distro] = _target(path, key, override_data, base)
    return LinuxSection(base, overrides, _targets(path, data.get("targets"), overrides))


def _targets(path: Path, raw: Any, overrides: dict[str, LinuxTarget]) -> tuple[str, ...]:
    """linux.targets: known distro names, each once, covering every per-distro override."""
    if raw is None:
        return ()
    items = list(fields.as_list(path, "linux.targets", raw))  # a copy: names are normalised below
    if not items:
        raise RecipeError(path, "linux.targets", "expected at least one distro", hint="or leave it out: any distro")
    for i, item in enumerate(items):
        target = find_distro(item) if isinstance(item, str) else None  # a row, or a row/arch (debian-12/arm64)
        if target is None:
            raise RecipeError(
                path, f"linux.targets[{i}]", f"{item!r}: unknown distro", hint=f"use one of: {', '.join(DISTROS)}"
            )
        items[i] = target.name  # debian-12/amd64 is debian-12
    fields.no_repeats(path, "linux.targets", items, "a distro")
    for distro in overrides:
        if distro not in items and not any(str(i).split("/", 1)[0] == distro for i in items):
            raise RecipeError(
                path, f"linux.distros.{distro}", "not in linux.targets", hint=f"add {distro} to linux.targets"
            )
    return tuple(items)


def _target(path: Path, key: str, data: dict[str, Any], base: LinuxTarget | None) -> LinuxTarget:
    """One target; an override (`base` given) takes from the base each key it does not set."""
    if "tarball" in data and "packages" in data:
        raise RecipeError(path, f"{key}.tarball", "a target has packages or a tarball, not both")
    if "tarball" in data:
        tarball: Tarball | None = _tarball(path, f"{key}.tarball", data["tarball"])
    else:
        tarball = base.tarball if base and "packages" not in data else None
    if tarball is not None:
        packages: tuple[str, ...] = ()
    else:
        packages = base.packages if base and base.packages and "packages" not in data else _packages(path, key, data)
    if base and "repositories" not in data:
        repos = base.repositories
    else:
        repos = parse_repositories(path, f"{key}.repositories", data.get("repositories") or [])
    check = base.check if base and "check" not in data else data.get("check")
    if check is not None:
        check = fields.text(path, f"{key}.check", check, multiline=True)
    recommends = base.recommends if base and "recommends" not in data else data.get("recommends", False)
    resolve = base.resolve if base and "resolve" not in data else _resolve(path, f"{key}.resolve", data)
    if resolve == "vm" and tarball is not None:
        raise RecipeError(
            path,
            f"{key}.resolve",
            "resolve: vm lets the VM's package manager fetch the dependencies of packages; a tarball has none",
            hint="leave resolve out for a tarball payload, or list packages instead",
        )
    recommends = fields.boolean(path, f"{key}.recommends", recommends)
    return LinuxTarget(packages, repos, check, recommends, tarball, resolve)


def _resolve(path: Path, key: str, data: dict[str, Any]) -> str:
    raw = data.get("resolve", "bundle")
    if raw not in RESOLVE_MODES:
        raise RecipeError(
            path,
            key,
            f"{raw!r} is not a resolve mode",
            hint="bundle (the default: the package holds the whole closure, no network needed on the VM) "
            "or vm (the package holds the recipe's packages; the VM fetches their dependencies)",
        )
    return str(raw)


def _tarball(path: Path, key: str, raw: Any) -> Tarball:
    data = fields.mapping(path, key, raw, _TARBALL_KEYS, "a mapping with source, sha256 and directory")
    hint = "a URL or a file next to the recipe"
    written = fields.text(path, f"{key}.source", data.get("source"), hint=hint)
    source = fields.url_or_file(path, f"{key}.source", written, hint="or a file next to the recipe")
    suffix = next((s for s in TARBALL_SUFFIXES if written.lower().endswith(s)), None)
    if suffix is None:
        raise RecipeError(
            path, f"{key}.source", f"{written!r} is not a tarball", hint=f"one of: {', '.join(TARBALL_SUFFIXES)}"
        )
    sha256 = fields.sha256(path, f"{key}.sha256", data.get("sha256"))
    directory = _directory(path, f"{key}.directory", data.get("directory"))
    return Tarball(source, sha256, directory, suffix)


def _directory(path: Path, key: str, raw: Any) -> str:
    """Where a tarball is extracted: absolute, normalised, and not / or a system directory."""
    text = fields.text(path, key, raw, hint="where to extract, e.g. /usr/local")
    if not text.startswith("/"):
        raise RecipeError(path, key, f"{text!r} is not an absolute directory", hint="e.g. /usr/local or /opt/myapp")
    normal = "/" + posixpath.normpath(text).lstrip("/")  # normpath keeps a leading '//'
    if normal in _SYSTEM_DIRS or normal.startswith(tuple(d + "/" for d in _VIRTUAL_ROOTS)):
        shown = repr(text) if normal == text else f"{text!r} (that is {normal})"
        raise RecipeError(
            path,
            key,
            f"{shown} is / or a system directory: install extracts there as root and remove deletes "
            "member by member, mixing the payload with the system's own files",
            hint="extract under a directory meant for it, e.g. /usr/local (for go/...) or /opt/myapp",
        )
    return normal


def _packages(path: Path, key: str, data: dict[str, Any]) -> tuple[str, ...]:
    raw = data.get("packages")
    if raw is None:
        raise RecipeError(path, f"{key}.packages", "missing", hint="list the packages to install, e.g. [jq]")
    items = fields.as_list(path, f"{key}.packages", raw)
    if not items:
        raise RecipeError(path, f"{key}.packages", "expected at least one package")
    for i, item in enumerate(items):
        if isinstance(item, str) and "/" in item and _PACKAGE_RE.fullmatch(item.replace("/", "-")):
            raise RecipeError(
                path,
                f"{key}.packages[{i}]",
                f"{item!r} selects a release (NAME/RELEASE): the bundle's flat repository has no releases, "
                "so the VM could not install it",
                hint="pin the exact version instead (NAME=VERSION, from `apt-cache policy NAME`)",
            )
        if not isinstance(item, str) or not _PACKAGE_RE.fullmatch(item):
            raise RecipeError(
                path,
                f"{key}.packages[{i}]",
                f"{item!r} is not a package name",
                hint="use NAME, NAME=VERSION or NAME:ARCH (letters, digits, + . _ : ~ = -)",
            )
    fields.no_repeats(path, f"{key}.packages", items, "a package")
    return tuple(items)
