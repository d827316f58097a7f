"""One rebuild run: every catalogue entry checked, the changed ones built and verified, in parallel
with --jobs; one entry's failure is its row, never the end of the run."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import docker

from builder.cache import PackageCache
from builder.catalogue import Entry
from builder.diff import diff_builds
from builder.distros import get_distro, resolve_image
from builder.engine import Pool, engine_for
from builder.errors import VmappError
from builder.lists import ListsLayers
from builder.manifest import load_manifest
from builder.pipeline import build
from builder.plan import Plan, Release, make_plan
from builder.rebuild.check import check
from builder.rebuild.history import failed_directory, is_taken, last_build
from builder.rebuild.refreshed import Refreshed
from builder.rebuild.report import Row
from builder.rebuild.version import next_version
from builder.verify import LifecycleReport, verify_any


@dataclass(frozen=True)
class Options:
    out: Path
    policy: str = "patch"
    verify: bool = True
    jobs: int = 1
    depth: int | None = 3  # the lifecycle from the newest that many earlier builds (None: all)
    engines: Pool | None = None  # --engine: entries go to each in turn; None: the default engine
    cache: PackageCache | None = None  # the host's package cache (builder.cache), shared by the jobs
    proxy: str | None = None  # the build containers' caching proxy (builder.proxy), else the config's
    lists: ListsLayers | None = None  # refreshed package lists (builder.lists): once per image in the run


Progress = Callable[[str], None]


def rebuild(entries: list[Entry], options: Options, progress: Progress = lambda _: None) -> list[Row]:
    """Each entry's row, in the entries' order; `jobs` entries at a time."""
    with Refreshed() as refreshed, ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
        work = enumerate(entries)
        return list(pool.map(lambda ie: _guarded(ie[0], ie[1], options, progress, refreshed), work))


def _guarded(index: int, entry: Entry, options: Options, progress: Progress, refreshed: Refreshed) -> Row:
    last = last_build(options.out, entry.app, entry.target) if entry.error is None else None
    try:
        row = rebuild_one(entry, options, last, refreshed, index)
    except VmappError as exc:
        previous = last[0] if last else None
        row = Row(entry.recipe, entry.app, entry.target, "failed", previous, error=str(exc), exit_code=exc.exit_code)
    progress(f"{entry.app} for {entry.target}: {row.status}" + (f" ({row.error.splitlines()[0]})" if row.error else ""))
    return row


def rebuild_one(
    entry: Entry, options: Options, last: tuple[str, Path] | None, refreshed: Refreshed, index: int = 0
) -> Row:
    """Check the entry against its `last` build; build, verify and describe the next version if it changed.
    The index-th entry runs on the index-th engine in turn (builder.engine.engine_for)."""
    if entry.error is not None:
        raise entry.error
    assert entry.loaded is not None
    recipe, out = entry.loaded, options.out
    client = _client(entry, options, index)
    previous, previous_dir = last if last else (None, None)
    row = Row(entry.recipe, entry.app, entry.target, "unchanged", previous, None, str(previous_dir or ""))
    if previous is not None and previous_dir is not None:
        at_previous = _plan(entry, options, Release(previous, options.policy, recipe.version, None))
        verdict = check(at_previous, previous_dir, client, refreshed)
        if not verdict.changed:
            return replace(row, reason=verdict.reason)
        reason = verdict.reason
    else:
        reason = "no earlier build"
    version = next_version(
        options.policy, recipe.version, previous, lambda v: is_taken(out, recipe.name, entry.target, v)
    )
    plan = _plan(entry, options, Release(version, options.policy, recipe.version, previous))
    result = build(plan, client, cache=options.cache, lists=options.lists)
    verified = (
        _verify(plan.out_dir, previous_dir, options.depth, client) if options.verify else "not verified (--no-verify)"
    )
    return Row(
        entry.recipe,
        entry.app,
        entry.target,
        "built",
        previous,
        version,
        str(plan.out_dir),
        reason,
        _changes(previous_dir, plan.out_dir),
        int(result.document["package"]["size"]),
        verified=verified,
    )


def _plan(entry: Entry, options: Options, release: Release) -> Plan:
    assert entry.loaded is not None
    return make_plan(entry.loaded, entry.target, options.out, release=release, proxy=options.proxy)


def _client(entry: Entry, options: Options, index: int) -> docker.DockerClient | None:
    """The entry's engine, with the target's image there; a Windows entry needs it only to verify (Wine).
    The image is the row's (or the config's), as make_plan resolves it: no third plan is made for it."""
    distro = get_distro(entry.target)
    needs_image = options.verify or distro.kind != "windows"
    return engine_for(options.engines, index, resolve_image(distro, None) if needs_image else None)


def _verify(build_dir: Path, previous_dir: Path | None, depth: int | None, client: docker.DockerClient | None) -> str:
    """Verify with the lifecycle from the earlier builds when the last one's package is at hand (a CI
    cache holds only locks and manifests); a build that fails is moved aside, never left as the last."""
    lifecycle = previous_dir is not None and _has_package(previous_dir)
    try:
        report = verify_any(build_dir, lifecycle=lifecycle, client=client, depth=depth)
    except BaseException:  # a failed check, a broken engine or a signal: unverified is never the last build
        target = failed_directory(build_dir)
        shutil.rmtree(target, ignore_errors=True)
        build_dir.rename(target)
        raise
    if isinstance(report, LifecycleReport):
        return f"lifecycle over {', '.join(report.versions)} ({len(report.rows)} steps)"
    return "install, check, remove" + ("" if previous_dir is None else " (the last build's package is not at hand)")


def _has_package(directory: Path) -> bool:
    _, manifest = load_manifest(directory)
    return (directory / str(manifest["package"]["file"])).is_file()


def _changes(previous_dir: Path | None, build_dir: Path) -> dict[str, Any]:
    if previous_dir is None:
        return {}
    diff = diff_builds(previous_dir, build_dir)
    lines = [
        f"{c.kind} {c.name} " + " -> ".join(v for v in (c.old_version, c.new_version) if v is not None)
        for c in diff.changes
    ]
    return {**diff.as_json(), "lines": lines}
