"""What changed between two builds of one app for one distro: packages added, removed, upgraded and
downgraded, with their versions and sizes, and the tarball's or installers' sources that changed.

Versions are ordered by the family's own rules through well-kept libraries, never by string order:
python-debian's `debian_support.Version` for deb (epochs, tildes), rpm-version's `evr_compare` for
RPM (epochs, tildes, carets: rpm's rpmvercmp).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from debian.debian_support import Version
from rpm_version import evr_compare

from builder.errors import InputError
from builder.lock import load_lock
from builder.manifest import load_manifest

KINDS = ("added", "removed", "upgraded", "downgraded", "changed")


def compare_versions(family: str, old: str, new: str) -> int:
    """-1, 0 or 1 as `old` is older than, the same as or newer than `new`, by the family's rules."""
    if family == "apt":
        a, b = Version(old), Version(new)
        return (a > b) - (a < b)
    return int(evr_compare(old, new))


@dataclass(frozen=True)
class Change:
    """One package (or tarball/installer source) that differs between the builds."""

    kind: str  # one of KINDS
    name: str
    architecture: str | None
    old_version: str | None
    new_version: str | None
    old_size: int | None
    new_size: int | None

    @property
    def size_change(self) -> int:
        return (self.new_size or 0) - (self.old_size or 0)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "architecture": self.architecture,
            "old": {"version": self.old_version, "size": self.old_size},
            "new": {"version": self.new_version, "size": self.new_size},
            "size_change": self.size_change,
        }


@dataclass(frozen=True)
class BuildDiff:
    app: str
    distro: str
    old_version: str
    new_version: str
    old_size: int
    new_size: int
    changes: tuple[Change, ...]

    def of_kind(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    def as_json(self) -> dict[str, Any]:
        return {
            "application": self.app,
            "distro": self.distro,
            "old": {"version": self.old_version, "size": self.old_size},
            "new": {"version": self.new_version, "size": self.new_size},
            "size_change": self.new_size - self.old_size,
            **{kind: [c.as_json() for c in self.of_kind(kind)] for kind in KINDS},
        }

    def lines(self) -> list[str]:
        """The diff for people: a heading, then one line a change, grouped by kind."""
        heading = f"{self.app} for {self.distro}: {self.old_version} -> {self.new_version}, package "
        out = [heading + f"{self.old_size} -> {self.new_size} bytes ({_signed(self.new_size - self.old_size)})"]
        for kind in KINDS:
            for c in self.of_kind(kind):
                versions = " -> ".join(v for v in (c.old_version, c.new_version) if v is not None)
                arch = f":{c.architecture}" if c.architecture else ""
                out.append(f"  {kind:<10} {c.name}{arch} {versions} ({_signed(c.size_change)} bytes)")
        if not self.changes:
            out.append("  no package changed")
        return out


def _signed(number: int) -> str:
    return f"{number:+d}"


def diff_builds(old: Path, new: Path) -> BuildDiff:
    """The difference between two build directories (dist/<app>/<version>/<distro>) of one app and distro."""
    old_dir, old_doc = load_manifest(old)
    new_dir, new_doc = load_manifest(new)
    for section, what in (("application", "app"), ("distro", "distro")):
        before, after = old_doc.get(section, {}).get("name"), new_doc.get(section, {}).get("name")
        if before != after:
            raise InputError(
                f"{old_dir} and {new_dir} are builds of a different {what}: {before} and {after}",
                hint=f"diff compares two builds of one app for one distro: give two versions' {after} directories",
            )
    family = str(new_doc["distro"].get("family", ""))
    changes = _package_changes(family, _packages(old_doc), _packages(new_doc))
    changes += _source_changes(_sources(old_dir, old_doc), _sources(new_dir, new_doc))
    return BuildDiff(
        app=str(new_doc["application"]["name"]),
        distro=str(new_doc["distro"]["name"]),
        old_version=str(old_doc["application"]["version"]),
        new_version=str(new_doc["application"]["version"]),
        old_size=int(old_doc["package"]["size"]),
        new_size=int(new_doc["package"]["size"]),
        changes=tuple(changes),
    )


def _packages(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(p["name"], p["architecture"]): p for p in document.get("packages", [])}


def _package_changes(
    family: str, old: dict[tuple[str, str], dict[str, Any]], new: dict[tuple[str, str], dict[str, Any]]
) -> list[Change]:
    changes = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before and after:
            order = compare_versions(family, before["version"], after["version"])
            if order == 0 and before["sha256"] == after["sha256"]:
                continue
            kind = "upgraded" if order < 0 else "downgraded" if order > 0 else "changed"
        else:
            kind = "added" if after else "removed"
        changes.append(
            Change(
                kind,
                key[0],
                key[1],
                before["version"] if before else None,
                after["version"] if after else None,
                before["size"] if before else None,
                after["size"] if after else None,
            )
        )
    return changes


def _sources(directory: Path, document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A tarball's or the installers' sources, by file name: from lock.json, else from the manifest."""
    lock = load_lock(directory)
    if lock is not None:
        listed = lock.get("sources", [])
    else:
        tarball = [document["tarball"] | {"file": document["package"]["file"]}] if document.get("tarball") else []
        listed = tarball + list(document.get("installers", []))
    sizes = {i["file"]: i.get("size") for i in document.get("installers", [])}
    if document.get("tarball"):
        sizes[document["package"]["file"]] = document["tarball"].get("size")
    return {s["file"]: {"sha256": s["sha256"], "size": sizes.get(s["file"])} for s in listed}


def _source_changes(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> list[Change]:
    changes = []
    for name in sorted(old.keys() | new.keys()):
        before, after = old.get(name), new.get(name)
        if before and after and before["sha256"] == after["sha256"]:
            continue
        kind = "changed" if before and after else "added" if after else "removed"
        old_id = before["sha256"][:12] if before else None
        new_id = after["sha256"][:12] if after else None
        size = (before["size"] if before else None), (after["size"] if after else None)
        changes.append(Change(kind, name, None, old_id, new_id, *size))
    return changes
