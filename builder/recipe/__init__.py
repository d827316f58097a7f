"""Recipes: one YAML file per application, loaded and validated into frozen dataclasses."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.backends.repository import Repository as Repository  # re-exported for the plan and tests
from builder.distros import DISTROS
from builder.errors import InputError, RecipeError
from builder.fetch import is_url
from builder.names import app_name_problem, version_problem
from builder.recipe.repository import URL_RE, parse_repositories
from builder.recipe.windows import WindowsTarget, parse_windows
from builder.resources import data_dir
from builder.yamlfile import as_list, no_unknown_keys, read_yaml, text_value

# Package specs reach argv and shell strings: no whitespace, no shell syntax, no leading '-'.
_PACKAGE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._:~=-]*", re.ASCII)
# A tarball is extracted as root and removed member by member: never over the system's own trees.
_SYSTEM_DIRS = frozenset(
    "/ /bin /boot /dev /etc /home /lib /lib32 /lib64 /libx32 /media /mnt /proc /root /run /sbin "  # noqa: SIM905
    "/sys /tmp /usr /var /usr/bin /usr/include /usr/lib /usr/lib32 /usr/lib64 /usr/libexec /usr/sbin "
    "/usr/share /usr/src /var/cache /var/lib /var/log /var/spool /var/tmp".split()
)
_VIRTUAL_ROOTS = ("/proc", "/sys", "/dev", "/run", "/boot")
_LINUX_KEYS = {"packages", "tarball", "repositories", "check", "recommends", "distros", "targets"}
_OVERRIDE_KEYS = {"packages", "tarball", "repositories", "check", "recommends"}
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


@dataclass(frozen=True)
class Recipe:
    name: str
    version: str
    description: str
    path: Path
    linux: LinuxTarget | None
    linux_overrides: dict[str, LinuxTarget] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, compare=False)
    windows: WindowsTarget | None = None  # installers for Windows VMs (builder.windows)
    targets: tuple[str, ...] = ()  # linux.targets: the distros the recipe is for; empty: any

    def linux_for(self, distro: str) -> LinuxTarget:
        """The linux section with the overrides for `distro` applied."""
        if self.targets and distro not in self.targets:
            raise InputError(
                f"{self.path}: linux.targets: {self.name} does not target {distro}",
                hint=f"build it for one of: {', '.join(self.targets)}, or add {distro} to linux.targets",
            )
        if distro in self.linux_overrides:
            return self.linux_overrides[distro]
        if self.linux is None:
            raise InputError(f"{self.path}: linux: the recipe has no linux section for {distro}")
        return self.linux


def find_recipe(spec: str) -> Path:
    """A recipe path from a file path or the name of a shipped recipe."""
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise InputError(f"{spec}: no such recipe file")
        return path
    shipped = data_dir("recipes")
    candidate = shipped / f"{spec}.yaml"
    if candidate.is_file():
        return candidate
    names = ", ".join(sorted(p.stem for p in shipped.glob("*.yaml")))
    raise InputError(f"no recipe named {spec!r}", hint=f"give a path to a YAML file, or one of: {names}")


def load_recipe(spec: str | Path) -> Recipe:
    """Load and validate a recipe; errors name the file and the key."""
    path = find_recipe(str(spec))
    data = read_yaml(path, "the recipe")
    if not isinstance(data, dict):
        raise RecipeError(path, "", "expected a mapping with name, version, description and linux")
    no_unknown_keys(path, "", data, {"name", "version", "description", "linux", "windows", "gallery"})

    name = text_value(path, "name", data.get("name"))
    if problem := app_name_problem(name):
        raise RecipeError(path, "name", problem)
    version = text_value(path, "version", data.get("version"))
    if problem := version_problem(version):
        raise RecipeError(path, "version", problem)
    description = text_value(path, "description", data.get("description", ""), allow_empty=True, multiline=True)
    if "gallery" in data:  # validated here, so a bad key fails before any build; builder.azure.gallery reads it
        from builder.azure.gallery import parse_gallery_settings

        parse_gallery_settings(path, "gallery", data["gallery"])

    windows = parse_windows(path, data["windows"]) if "windows" in data else None
    linux_data = data.get("linux")
    if linux_data is None and windows is not None:
        return Recipe(name, version, description, path, None, {}, raw=data, windows=windows)
    if linux_data is None:
        raise RecipeError(path, "linux", "missing", hint="add a linux section with a list of packages")
    if not isinstance(linux_data, dict):
        raise RecipeError(path, "linux", "expected a mapping")
    no_unknown_keys(path, "linux", linux_data, _LINUX_KEYS)
    base = _target(path, "linux", linux_data, None)
    overrides: dict[str, LinuxTarget] = {}
    distros = linux_data.get("distros") or {}
    if not isinstance(distros, dict):
        raise RecipeError(path, "linux.distros", "expected a mapping of distro name to overrides")
    for distro, override in distros.items():
        key = f"linux.distros.{distro}"
        if distro not in DISTROS:
            raise RecipeError(path, key, "unknown distro", hint=f"use one of: {', '.join(DISTROS)}")
        if not isinstance(override, dict):
            raise RecipeError(path, key, "expected a mapping of overrides")
        no_unknown_keys(path, key, override, _OVERRIDE_KEYS)
        overrides[distro] = _target(path, key, override, base)
    targets = _targets(path, linux_data.get("targets"), overrides)
    return Recipe(name, version, description, path, base, overrides, raw=data, windows=windows, targets=targets)


def _targets(path: Path, raw: Any, overrides: dict[str, LinuxTarget]) -> tuple[str, ...]:
    """linux.targets: known distro names, each once, covering every per-distro override."""
    if raw is None:
        return ()
    items = as_list(path, "linux.targets", raw)
    if not items:
        raise RecipeError(path, "linux.targets", "expected at least one distro", hint="or leave it out: any distro")
    for i, item in enumerate(items):
        if not isinstance(item, str) or item not in DISTROS:
            raise RecipeError(
                path, f"linux.targets[{i}]", f"{item!r}: unknown distro", hint=f"use one of: {', '.join(DISTROS)}"
            )
    if len(set(items)) != len(items):
        raise RecipeError(path, "linux.targets", "lists a distro twice")
    for distro in overrides:
        if distro not in items:
            raise RecipeError(
                path, f"linux.distros.{distro}", "not in linux.targets", hint=f"add {distro} to linux.targets"
            )
    return tuple(items)


def _target(path: Path, key: str, data: dict[str, Any], base: LinuxTarget | None) -> LinuxTarget:
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
    repos = (
        base.repositories
        if base and "repositories" not in data
        else parse_repositories(path, f"{key}.repositories", data.get("repositories") or [])
    )
    check = base.check if base and "check" not in data else data.get("check")
    if check is not None:
        check = text_value(path, f"{key}.check", check, multiline=True)
    recommends = base.recommends if base and "recommends" not in data else data.get("recommends", False)
    if not isinstance(recommends, bool):
        raise RecipeError(path, f"{key}.recommends", "expected true or false")
    return LinuxTarget(packages, repos, check, recommends, tarball)


def _tarball(path: Path, key: str, data: Any) -> Tarball:
    if not isinstance(data, dict):
        raise RecipeError(path, key, "expected a mapping with source, sha256 and directory")
    no_unknown_keys(path, key, data, _TARBALL_KEYS)
    source = text_value(path, f"{key}.source", data.get("source"), hint="a URL or a file next to the recipe")
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", source) and not (URL_RE.fullmatch(source) and is_url(source)):
        raise RecipeError(
            path, f"{key}.source", f"{source!r} is not an http(s):// URL", hint="or a file next to the recipe"
        )
    suffix = next((s for s in TARBALL_SUFFIXES if source.lower().endswith(s)), None)
    if suffix is None:
        raise RecipeError(
            path, f"{key}.source", f"{source!r} is not a tarball", hint=f"one of: {', '.join(TARBALL_SUFFIXES)}"
        )
    if not is_url(source):
        source = str((path.parent / source).resolve())
    if not isinstance(data.get("sha256"), str):  # YAML reads an all-digit hash as a number
        raise RecipeError(path, f"{key}.sha256", "expected the SHA-256 as a string", hint='quote it: sha256: "..."')
    sha256 = text_value(path, f"{key}.sha256", data["sha256"])
    if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise RecipeError(path, f"{key}.sha256", f"{sha256!r} is not a SHA-256 (64 hex digits)")
    directory = _directory(path, f"{key}.directory", data.get("directory"))
    return Tarball(source, sha256.lower(), directory, suffix)


def _directory(path: Path, key: str, raw: Any) -> str:
    """Where a tarball is extracted: absolute, normalised, and not / or a system directory."""
    text = text_value(path, key, raw, hint="where to extract, e.g. /usr/local")
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
    items = as_list(path, f"{key}.packages", raw)
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
    if len(set(items)) != len(items):
        raise RecipeError(path, f"{key}.packages", "lists a package twice")
    return tuple(items)
