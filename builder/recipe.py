"""Recipes: one YAML file per application, loaded and validated into frozen dataclasses."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.distros import DISTROS
from builder.errors import InputError, RecipeError
from builder.names import app_name_problem, version_problem
from builder.resources import data_dir
from builder.windows.recipe import WindowsTarget, parse_windows
from builder.yamlfile import as_list, no_unknown_keys, read_yaml

# Package specs reach argv and shell strings: no whitespace, no shell syntax, no leading '-'.
_PACKAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+._:~=/-]*$")
_LINUX_KEYS = {"packages", "tarball", "repositories", "check", "recommends", "distros", "targets"}
_OVERRIDE_KEYS = {"packages", "tarball", "repositories", "check", "recommends"}
_TARBALL_KEYS = {"source", "sha256", "directory"}
# What tar needs to read each kind of archive; the package keeps the suffix, so the VM sees it too.
TARBALL_SUFFIXES = {".tar.gz": "z", ".tgz": "z", ".tar.xz": "J", ".txz": "J", ".tar.bz2": "j", ".tar": ""}
_REPO_KEYS = {"name", "url", "suite", "components", "architectures", "key"}


@dataclass(frozen=True)
class Repository:
    """An extra repository. apt: `deb [signed-by=KEY arch=...] URL SUITE COMPONENTS`; the RPM
    families (no suite): URL is the baseurl of a yum/dnf/zypper repository."""

    name: str
    url: str
    suite: str  # empty for an RPM repository
    components: tuple[str, ...] = ()
    architectures: tuple[str, ...] = ()
    key: str = ""  # a URL, or a path resolved against the recipe's directory


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

    name = _string(path, "name", data.get("name"))
    if problem := app_name_problem(name):
        raise RecipeError(path, "name", problem)
    version = _string(path, "version", data.get("version"))
    if problem := version_problem(version):
        raise RecipeError(path, "version", problem)
    description = _string(path, "description", data.get("description", ""), allow_empty=True)
    if "gallery" in data:  # validated here, so a bad key fails before any build; builder.gallery reads it
        from builder.gallery import parse_gallery_settings

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
        else tuple(
            _repository(path, f"{key}.repositories[{i}]", r)
            for i, r in enumerate(as_list(path, f"{key}.repositories", data.get("repositories") or []))
        )
    )
    check = base.check if base and "check" not in data else data.get("check")
    if check is not None:
        check = _string(path, f"{key}.check", check)
    recommends = base.recommends if base and "recommends" not in data else data.get("recommends", False)
    if not isinstance(recommends, bool):
        raise RecipeError(path, f"{key}.recommends", "expected true or false")
    return LinuxTarget(packages, repos, check, recommends, tarball)


def _tarball(path: Path, key: str, data: Any) -> Tarball:
    if not isinstance(data, dict):
        raise RecipeError(path, key, "expected a mapping with source, sha256 and directory")
    no_unknown_keys(path, key, data, _TARBALL_KEYS)
    source = _string(path, f"{key}.source", data.get("source"), hint="a URL or a file next to the recipe")
    suffix = next((s for s in TARBALL_SUFFIXES if source.lower().endswith(s)), None)
    if suffix is None:
        raise RecipeError(
            path, f"{key}.source", f"{source!r} is not a tarball", hint=f"one of: {', '.join(TARBALL_SUFFIXES)}"
        )
    if not re.match(r"^https?://", source):
        source = str((path.parent / source).resolve())
    if not isinstance(data.get("sha256"), str):  # YAML reads an all-digit hash as a number
        raise RecipeError(path, f"{key}.sha256", "expected the SHA-256 as a string", hint='quote it: sha256: "..."')
    sha256 = _string(path, f"{key}.sha256", data["sha256"])
    if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise RecipeError(path, f"{key}.sha256", f"{sha256!r} is not a SHA-256 (64 hex digits)")
    directory = _string(path, f"{key}.directory", data.get("directory"), hint="where to extract, e.g. /usr/local")
    if not directory.startswith("/") or directory.rstrip("/") == "" or "\n" in directory:
        raise RecipeError(path, f"{key}.directory", f"{directory!r}: expected an absolute directory other than /")
    return Tarball(source, sha256.lower(), directory.rstrip("/"), suffix)


def _packages(path: Path, key: str, data: dict[str, Any]) -> tuple[str, ...]:
    raw = data.get("packages")
    if raw is None:
        raise RecipeError(path, f"{key}.packages", "missing", hint="list the packages to install, e.g. [jq]")
    items = as_list(path, f"{key}.packages", raw)
    if not items:
        raise RecipeError(path, f"{key}.packages", "expected at least one package")
    for i, item in enumerate(items):
        if not isinstance(item, str) or not _PACKAGE_RE.fullmatch(item):
            raise RecipeError(
                path,
                f"{key}.packages[{i}]",
                f"{item!r} is not a package name",
                hint="use NAME, NAME=VERSION or NAME:ARCH (letters, digits, + . _ : ~ = / -)",
            )
    if len(set(items)) != len(items):
        raise RecipeError(path, f"{key}.packages", "lists a package twice")
    return tuple(items)


def _repository(path: Path, key: str, data: Any) -> Repository:
    if not isinstance(data, dict):
        raise RecipeError(path, key, "expected a mapping with url, key and (for apt) suite and components")
    no_unknown_keys(path, key, data, _REPO_KEYS)
    url = _string(path, f"{key}.url", data.get("url"))
    if not re.fullmatch(r"(https?|file)://\S+", url):
        raise RecipeError(path, f"{key}.url", f"{url!r} is not an http(s):// or file:// URL")
    suite = _string(path, f"{key}.suite", data["suite"]) if "suite" in data else ""
    components = tuple(_words(path, f"{key}.components", data.get("components") or []))
    if suite and not suite.endswith("/") and not components:
        raise RecipeError(path, f"{key}.components", "required unless suite is a flat path ending in '/'")
    arches = tuple(_words(path, f"{key}.architectures", data.get("architectures") or []))
    key_ref = _string(path, f"{key}.key", data.get("key"), hint="the repository's signing key: a URL or a file")
    if not re.match(r"^https?://", key_ref):
        key_ref = str((path.parent / key_ref).resolve())
    name = _string(path, f"{key}.name", data.get("name", re.sub(r"\W+", "-", url.split("://", 1)[1]).strip("-")))
    return Repository(name, url, suite, components, arches, key_ref)


def _words(path: Path, key: str, raw: Any) -> list[str]:
    items = as_list(path, key, raw)
    for i, item in enumerate(items):
        if not isinstance(item, str) or not re.fullmatch(r"[A-Za-z0-9._/-]+", item):
            raise RecipeError(path, f"{key}[{i}]", f"{item!r} is not a plain word")
    return items


def _string(path: Path, key: str, raw: Any, allow_empty: bool = False, hint: str | None = None) -> str:
    if raw is None:
        raise RecipeError(path, key, "missing", hint=hint)
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise RecipeError(path, key, f"expected a string, got {type(raw).__name__}", hint=hint)
    if isinstance(raw, float):
        # YAML reads `version: 1.0` as a float: point at the quoting instead of a confusing format error.
        raise RecipeError(path, key, f"{raw!r} was read as a number", hint='quote it, e.g. "1.0.0"')
    text = str(raw)
    if not text.strip() and not allow_empty:
        raise RecipeError(path, key, "must not be empty", hint=hint)
    return text
