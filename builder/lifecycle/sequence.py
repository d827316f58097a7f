"""Which lifecycle `verify --lifecycle` replays: the earlier builds beside this one, and the steps, in order.

Earlier builds are the sibling version directories of the output root (`<root>/<app>/<version>/<distro>`)
whose manifest names the same application and distro. Versions are ordered as Azure's Major.Minor.Patch
integers (the gallery's order, the only one a recipe may carry); a directory whose name is not such a
version is not one of them.

The steps, for earlier builds E1 < ... < En and this build C, in one container:
- install E1, then update through E2 ... En to C (each with its update string, or RemoveForUpdate);
- remove C; the owner then installs one of the bundle's dependencies by hand (it must survive all the rest);
- for each Ei before En: install Ei again (its directory is stale), update straight to C, remove
  (En -> C was the chain's last update);
- reinstall En, update to C by RemoveForUpdate (Ei's remove string with C's bytes under Ei's name), remove.
After each remove the VM is checked back at its start (plus the owner's packages), so each direct update
starts on a VM proven clean, with the stale directories a real VM keeps: one container is both cheaper
and closer to the VM than a fresh one per update.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path

from builder.lifecycle.build import Build, load_build
from builder.manifest import MANIFEST_NAME, load_manifest

VERSION_RE = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)", re.ASCII)


def version_key(version: str) -> tuple[int, int, int] | None:
    """Azure's Major.Minor.Patch as integers (so 1.0.10 follows 1.0.9); None for anything else."""
    match = VERSION_RE.fullmatch(version)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


@dataclass(frozen=True)
class Planned:
    """One step of the lifecycle: what runs, on which version (the one installed after it)."""

    action: str  # install, update, remove-for-update, remove, owner-installs
    version: str
    source: str = ""  # update, remove-for-update: the version it replaces

    @property
    def label(self) -> str:
        if self.action in ("update", "remove-for-update"):
            return f"{self.action} {self.source} -> {self.version}"
        if self.action == "owner-installs":
            return "owner installs a dependency by hand"
        return f"{self.action} {self.version}"


def plan(earlier: list[str], current: str) -> list[Planned]:
    """The steps for earlier versions (oldest first) and this one (see the module's docstring)."""
    if not earlier:
        return []
    chain = [*earlier, current]
    steps = [Planned("install", chain[0])]
    steps += [Planned("update", new, old) for old, new in pairwise(chain)]
    steps += [Planned("remove", current), Planned("owner-installs", "")]
    for old in earlier[:-1]:
        steps += [Planned("install", old), Planned("update", current, old), Planned("remove", current)]
    last = earlier[-1]
    steps += [Planned("install", last), Planned("remove-for-update", current, last), Planned("remove", current)]
    return steps


def without_update_string(steps: list[Planned], has_update: Callable[[str], bool]) -> list[Planned]:
    """The updates to a version without an update string as what the extension runs instead: RemoveForUpdate."""
    return [
        replace(s, action="remove-for-update") if s.action == "update" and not has_update(s.version) else s
        for s in steps
    ]


def earlier_builds(build: Build, depth: int | None = None) -> list[Build]:
    """The builds of the same application and distro under the same output root, older than `build`,
    oldest first; with `depth`, only the newest that many."""
    this = version_key(build.version)
    versions_dir = build.directory.resolve().parent.parent
    if this is None or versions_dir.name != build.app:
        return []
    found = builds_under(versions_dir, build.directory.resolve().name, build.manifest["distro"]["name"])
    ordered = [load_build(directory) for key, directory in found if key < this]
    return ordered[-depth:] if depth else ordered


def builds_under(versions_dir: Path, subdirectory: str, distro: str) -> list[tuple[tuple[int, int, int], Path]]:
    """Every build of an application (<root>/<app> is `versions_dir`) in <version>/`subdirectory`, oldest
    first: a directory whose manifest names another application, distro or version is not one."""
    if not versions_dir.is_dir():
        return []
    found = []
    for sibling in versions_dir.iterdir():
        key = version_key(sibling.name)
        if key is not None and _is_build_of(sibling / subdirectory, versions_dir.name, distro):
            found.append((key, sibling / subdirectory))
    return sorted(found)


def _is_build_of(directory: Path, app: str, distro: str) -> bool:
    if not (directory / MANIFEST_NAME).is_file():
        return False
    _, manifest = load_manifest(directory)
    return bool(
        manifest.get("application", {}).get("name") == app
        and manifest.get("distro", {}).get("name") == distro
        and version_key(str(manifest["application"].get("version"))) == version_key(directory.parent.name)
    )
