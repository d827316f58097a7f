"""Has anything changed since the last build? Checked without building: the recipe's hash, the command
strings, then the payload itself: a closure's solver simulation after a refresh (no download) against
the lock's packages, or a tarball's or installers' sources against the lock's sha256."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from docker.errors import ImageNotFound

from builder.closure import installer_for
from builder.engine import connect
from builder.lock import load_lock
from builder.manifest import load_manifest
from builder.plan import BuildPlan, Plan, WindowsPlan
from builder.rebuild.refreshed import Refreshed
from builder.render import render_commands
from builder.repo_metadata import metadata_unchanged

Triple = tuple[str, str, str]


@dataclass(frozen=True)
class Verdict:
    changed: bool
    reason: str  # for the report: what changed, or "unchanged"


SAME_METADATA = Verdict(False, "unchanged: every repository's metadata is as locked")
SAME_CLOSURE = Verdict(False, "unchanged: the solver picks the locked versions")
SAME_SOURCES = Verdict(False, "unchanged: the sources' sha256 are as locked")


def check(
    plan: Plan, previous: Path, client: docker.DockerClient | None = None, refreshed: Refreshed | None = None
) -> Verdict:
    """Compare the plan (at the last build's version) with the last build in `previous`: the recipe and the
    strings first; then a closure's metadata (builder.repo_metadata) and, when that is in doubt, the
    solver; a tarball's or installers' sources."""
    _, manifest = load_manifest(previous)
    lock = load_lock(previous)
    if lock is None:
        return Verdict(True, "the last build has no lock.json")
    if manifest.get("recipe", {}).get("sha256") != plan.recipe_sha256:
        return Verdict(True, "the recipe changed")
    if render_commands(plan).as_dict() != manifest.get("commands"):
        return Verdict(True, "the command strings changed (templates or vmapp-build)")
    if isinstance(plan, WindowsPlan) or plan.tarball:
        return _sources(plan, lock)
    client = client or connect()
    if _image_id(client, plan.image) == manifest.get("image", {}).get("id") and metadata_unchanged(
        lock.get("repositories", [])
    ):
        return SAME_METADATA
    if refreshed is None:
        with Refreshed() as own:
            return _closure(plan, lock, client, own)
    return _closure(plan, lock, client, refreshed)


def _image_id(client: docker.DockerClient, image: str) -> str | None:
    """The local image's id, or None when it is not here (the container's way pulls or builds it)."""
    try:
        return str(client.images.get(image).id)
    except ImageNotFound:
        return None


def _sources(plan: Plan, lock: dict[str, Any]) -> Verdict:
    """The recipe pins each source's sha256: the lock must hold exactly those."""
    if isinstance(plan, WindowsPlan):
        pinned = sorted((i.source, i.sha256.lower()) for i in plan.installers)
    else:
        assert plan.tarball is not None
        pinned = [(plan.tarball.source, plan.tarball.sha256.lower())]
    locked = sorted((str(s["source"]), str(s["sha256"]).lower()) for s in lock.get("sources", []))
    return SAME_SOURCES if pinned == locked else Verdict(True, "a source's sha256 changed")


def _closure(plan: BuildPlan, lock: dict[str, Any], client: docker.DockerClient, refreshed: Refreshed) -> Verdict:
    """Ask the solver, after a refresh, what the download would fetch today; nothing is downloaded."""
    resolved = refreshed.resolve(client, plan, installer_for(plan))
    locked = {(str(p["name"]), str(p["version"]), str(p["architecture"])) for p in lock.get("packages", [])}
    if plan.online:  # the lock holds the bundled packages only; the VM's fetched ones are not the build's
        names = {n for n, _, _ in locked} | {n.split(":", 1)[0] for n in plan.package_names}
        resolved = frozenset(t for t in resolved if t[0] in names)
    return SAME_CLOSURE if resolved == locked else Verdict(True, closure_change(locked, set(resolved)))


def closure_change(locked: set[Triple], resolved: set[Triple]) -> str:
    """What the solver would fetch differently from the lock, in words: `libjq1 1.6-2.1 -> 1.6-2.2, +x 1.0`."""
    before = {(n, a): v for n, v, a in locked}
    after = {(n, a): v for n, v, a in resolved}
    both = sorted(before.keys() & after.keys())
    parts = [f"{k[0]} {before[k]} -> {after[k]}" for k in both if before[k] != after[k]]
    parts += [f"+{n} {after[n, a]}" for n, a in sorted(after.keys() - before.keys())]
    parts += [f"-{n} {before[n, a]}" for n, a in sorted(before.keys() - after.keys())]
    return "the closure changed: " + ", ".join(parts)
