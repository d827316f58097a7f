"""The package manager's closure as a payload: resolved and downloaded by the distro's own tools in a
disposable container of the target release, then bundled into a deterministic tar.gz."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import docker

from builder import split
from builder.backends import backend_class
from builder.backends.base import (
    SKIPPED_LIST,
    Backend,
    Collected,
    Discovery,
    Download,
    PackageFile,
    Request,
    Sources,
)
from builder.backends.repository import read_key
from builder.bundle import write_tar_gz
from builder.cache import Feeding, PackageCache, Wanted, feed, keep
from builder.closure_memo import Memo, memo_key, recall, remember
from builder.container import Container
from builder.engine import connect, ensure_image
from builder.errors import BuildError, EnvironmentProblem, InputError
from builder.files import sha256_file
from builder.lists import ListsLayers, layer_key
from builder.online import leave_out_fetched
from builder.payload import Component, Payload
from builder.plan import BuildPlan
from builder.progress import Stages, byte_bar
from builder.proxy import naming_proxy, proxy_environment
from builder.render import Commands, render_commands
from builder.sbom import package_purl

STAGES = ["repositories", "refresh", "discover", "download", "collect", "bundle"]


def request_for(plan: BuildPlan) -> Request:
    """What the backend needs of the plan (backends sit below the plan and never see it)."""
    return Request(
        app=plan.app,
        distro=plan.distro.name,
        family=plan.distro.family,
        image=plan.image,
        packages=plan.packages,
        package_names=plan.package_names,
        repositories=plan.repositories,
        recommends=plan.recommends,
        baseline=plan.baseline,
        recipe_path=plan.recipe_path,
        locked=plan.locked,
    )


def installer_for(plan: BuildPlan) -> Backend:
    """The backend for the plan's distro family; says "not supported yet" (and what the family cannot
    do with this plan) before any container starts."""
    return backend_class(plan.distro.family, plan.distro.name)(request_for(plan))


def bootstrap_hint(plan: BuildPlan) -> str:
    return (
        f"build it locally with `vmapp-build image bootstrap {plan.distro.name}` "
        f"(needs debootstrap and a package mirror), or pass --image"
    )


def bundle_closure(
    plan: BuildPlan,
    commands: Commands,
    tmp: Path,
    client: docker.DockerClient | None,
    cache: PackageCache | None = None,
    lists: ListsLayers | None = None,
) -> Payload:
    """The package manager's closure, resolved and downloaded in a disposable container. The commands
    were rendered from the plan before: what the download left out travels in the bundle (SKIPPED_LIST).
    With a package cache, the container gets the cached files first and the cache what was downloaded;
    the payload is the same bytes either way. With lists layers (builder.lists), the container starts from
    the image's refreshed lists when a layer is usable, and skips the refresh; and a closure built before
    from that layer and the same request is taken from the cache with no container (builder.closure_memo).
    Above the package limit, the closure is split into ordered parts (builder.split)."""
    installer = installer_for(plan)
    client = client or connect()
    image_id = ensure_image(client, plan.image, bootstrap_hint(plan), plan.distro.arch)
    package = tmp / plan.package_file_name
    # A proxy's address would be committed with the container's environment: no layer through one.
    request = _request_text(plan) if lists is not None and not plan.proxy else None
    key = layer_key(image_id, plan.distro.family, request) if request is not None else None
    stages = Stages(STAGES, plan.app)
    refreshing = ExitStack()  # held until the refresh is done: parallel builds of one key refresh it once
    try:
        layer = None
        if lists is not None and key:
            refreshing.enter_context(lists.holding(key))
            layer = lists.usable(client, key)
        if layer and cache is not None and request is not None:
            recalled = _recall(cache, memo_key(layer, request, package.name), plan, commands, package)
            if recalled is not None and recalled.package.stat().st_size <= plan.max_package_bytes:
                return recalled  # one built under a larger --max-package-size is split by a new build
        run = _Run(plan, installer, client, image_id, stages, refreshing, lists, key)
        closure = run.resolve(layer, cache, tmp / "files")
        if cache is not None:
            _keep(cache, closure.feeding, closure.packages)
        with stages.stage("bundle"):
            parts, carriers = _write_parts(plan, installer, image_id, closure, package, tmp)
    finally:
        refreshing.close()
        stages.close()
    payload = _payload(plan, image_id, commands, closure, package, parts, carriers)
    if closure.layer and cache is not None and request is not None and not carriers:  # the memo keeps one bundle
        _remember(cache, memo_key(closure.layer, request, package.name), payload, plan)
    return payload


@dataclass(frozen=True)
class _Closure:
    """What the build container gave: the report, the download and the packages copied out."""

    layer: str | None  # the lists layer it started from or made (None: no layer)
    discovery: Discovery
    feeding: Feeding
    download: Download
    collected: Collected
    sources: Sources
    fetched: list[dict[str, str]]  # online mode: what the VM fetches itself
    packages: list[PackageFile]


@dataclass(frozen=True)
class _Run:
    """One build container's stages: repositories, refresh (or a lists layer), discover, download, collect."""

    plan: BuildPlan
    installer: Backend
    client: docker.DockerClient
    image_id: str
    stages: Stages
    refreshing: ExitStack
    lists: ListsLayers | None
    key: str | None

    def resolve(self, layer: str | None, cache: PackageCache | None, files_dir: Path) -> _Closure:
        plan, installer, stages = self.plan, self.installer, self.stages
        files_dir.mkdir()
        feeding_cache = _feeding(installer, cache)
        if will_build := getattr(installer, "will_build", None):  # a backend that can run ahead (dnf, zypper)
            will_build(feeding_cache is not None)
        env = proxy_environment(plan.proxy)  # fetching only: never recorded, so the bytes are the same without
        with (
            Container(self.client, layer or self.image_id, "build", environment=env) as container,
            naming_proxy(plan.proxy),
        ):
            with stages.stage("repositories"):
                installer.prepare(container)
            with stages.stage("refresh"):
                if layer is None:
                    installer.refresh(container)
                    layer = _keep_lists(self.lists, self.key, self.client, container, installer, self.image_id)
            self.refreshing.close()
            with stages.stage("discover"):
                discovery = installer.discover(container)
            with stages.stage("download"):
                feeding, fed = _feed(installer, container, feeding_cache)
                download = fed or installer.download(container)
            with stages.stage("collect"):
                collected = installer.collect(container, download.directory)
                sources = installer.sources(container, collected)
                fetched = leave_out_fetched(plan, container, download.directory, collected, sources)
                if fetched:  # the family's index (dnf's repodata) over what stays
                    collected = installer.collect(container, download.directory)
                files, written = container.copy_files_out(
                    download.directory, files_dir, installer.suffix, collected.written_in
                )
                if collected.written_in:  # the index the family's tool wrote (dnf's repodata), same stream
                    collected = replace(collected, written=written)
        if not files:
            raise InputError(
                f"nothing to bundle: {' '.join(plan.packages)} and all their dependencies are already "
                f"in {plan.image} ({plan.distro.name})",
                hint="the target VM already has them; no package is needed",
            )
        packages = [_describe(f, collected) for f in files]
        return _Closure(layer, discovery, feeding, download, collected, sources, fetched, packages)


def _write_parts(
    plan: BuildPlan, installer: Backend, image_id: str, closure: _Closure, package: Path, tmp: Path
) -> tuple[list[list[PackageFile]], list[Payload]]:
    """The bundle, or above the limit its ordered parts: the earlier ones (carriers) carry files only;
    the last, `package`, has the index and installs them all."""
    packages, collected = closure.packages, closure.collected
    members = _members(installer, plan, packages, collected, closure.download)
    groups = split.group_files(
        [split.Sized(p.path.name, p.size) for p in packages],
        sum(len(m) for m in members.values()),
        plan.max_package_bytes,
        f"{plan.app} {plan.version} for {plan.distro.name}",
    )
    by_name = {p.path.name: p for p in packages}
    parts = [[by_name[f.name] for f in group] for group in groups]
    with byte_bar(sum(p.size for p in packages), "bundle") as bar:
        carriers = [
            _carrier(plan, image_id, k, len(parts), part, collected, tmp, bar.update)
            for k, part in enumerate(parts[:-1], 1)
        ]
        write_tar_gz(package, [p.path for p in parts[-1]], members, bar.update)
    return parts, carriers


def _payload(
    plan: BuildPlan,
    image_id: str,
    commands: Commands,
    closure: _Closure,
    package: Path,
    parts: list[list[PackageFile]],
    carriers: list[Payload],
) -> Payload:
    sections = _sections(plan, image_id, closure.packages, closure.discovery)
    if carriers:  # the last part installs them all: its strings read the earlier parts' stored files
        sections["application"]["name"] = split.part_app(plan.app, len(parts))
        sections["split"] = split.split_section(plan.app, len(parts), len(parts))
        stored = split.stored_parts(plan.app, [sha256_file(c.package) for c in carriers])
        commands = render_commands(plan, parts=stored)
    if plan.online:  # what the build image's apt would fetch: verify expects the VM to fetch the same
        sections["online"] = {"fetched": closure.fetched}
    return Payload(
        package,
        commands.as_dict(),
        sections,
        *_totals(parts[-1]),
        _components(plan, parts[-1], closure.collected),
        lock=_lock(closure.packages, closure.sources),
        parts=tuple(carriers),
    )


def _request_text(plan: BuildPlan) -> str:
    """What decides a closure besides the image and its lists: the backend's request, and each added
    repository's key by its bytes' hash (a key file or URL can change under one name)."""
    keys = [hashlib.sha256(read_key(r)).hexdigest() for r in plan.repositories]
    return f"{request_for(plan)!r}\0{keys!r}" + ("\0resolve=vm" if plan.online else "")  # another bundle


def _keep_lists(
    lists: ListsLayers | None,
    key: str | None,
    client: docker.DockerClient,
    container: Container,
    installer: Backend,
    image_id: str,
) -> str | None:
    """The refreshed container as the key's layer, when the backend's lists may be shared (apt's, from
    http(s) sources only; the RPM families refresh every time): the layer's id, or None."""
    lists_state = getattr(installer, "lists_state", None)
    if lists is None or not key or lists_state is None:
        return None
    state = lists_state(container)
    return None if state is None else lists.keep(client, container, key, image_id, state)


def _recall(cache: PackageCache, key: str, plan: BuildPlan, commands: Commands, package: Path) -> Payload | None:
    """The payload of an earlier build with this key, its bundle copied to `package`; or None."""
    memo = recall(cache, key, package)
    if memo is None:
        return None
    _say("closure: the same as an earlier build from the same package lists (--lists-ttl 0 refreshes them)")
    sections = plan.manifest_sections() | memo.sections
    return Payload(package, commands.as_dict(), sections, memo.contents, memo.files, memo.components, memo.lock)


def _remember(cache: PackageCache, key: str, payload: Payload, plan: BuildPlan) -> None:
    """The closure for later builds from the same layer and request; a cache that cannot be written is
    a warning, as for packages."""
    own = {k: v for k, v in payload.sections.items() if k not in plan.manifest_sections()}
    memo = Memo(own, payload.contents, payload.files, payload.components, payload.lock)
    try:
        remember(cache, key, payload.package, memo)
    except (OSError, EnvironmentProblem) as exc:
        _say(f"warning: package cache {cache.directory}: closure not kept: {exc}")


def _carrier(
    plan: BuildPlan,
    image_id: str,
    index: int,
    count: int,
    packages: list[PackageFile],
    collected: Collected,
    tmp: Path,
    progress: Callable[[int], object],
) -> Payload:
    """An earlier part of a split closure (builder.split): its package files, and strings that keep
    them for the last part's install."""
    app = split.part_app(plan.app, index)
    package = tmp / f"{app}.tar.gz"
    write_tar_gz(package, [p.path for p in packages], None, progress)
    commands = split.carrier_commands(plan.app, plan.version, index, count, package.name)
    sections = {
        **plan.manifest_sections(),
        "application": {"name": app, "version": plan.version, "description": plan.description},
        "image": {"name": plan.image, "id": image_id},
        "packages": [p.as_manifest() for p in packages],
        "split": split.split_section(plan.app, index, count),
    }
    return Payload(package, commands.as_dict(), sections, *_totals(packages), _components(plan, packages, collected))


def _feeding(installer: Backend, cache: PackageCache | None) -> PackageCache | None:
    """The cache to feed the container from, or None: `wanted` is optional on a backend, and an empty
    cache has nothing to look up. A cache that cannot be read is a warning: the build downloads
    everything, as without one."""
    if cache is None or getattr(installer, "wanted", None) is None:
        return None
    try:
        if cache.is_empty():
            return None
    except EnvironmentProblem as exc:
        _say(f"warning: {exc.message}; building without it")
        return None
    return cache


def _feed(installer: Backend, container: Container, cache: PackageCache | None) -> tuple[Feeding, Download | None]:
    """Cached files into the download directory (`cache`: _feeding's); and the download itself when the
    cache had every file (apt would fetch nothing: its second solve is skipped; dnf and zypper download
    anyway, finding the fed files in place)."""
    if cache is None:
        return Feeding(), None
    download, files = installer.wanted(container)  # type: ignore[attr-defined]  # _feeding checked it
    feeding = feed(container, cache, [Wanted(*f) for f in files])
    complete = download is not None and files and len(feeding.served) == len(files)
    return feeding, download if complete else None


def _keep(cache: PackageCache, feeding: Feeding, packages: list[PackageFile]) -> None:
    """The downloaded files into the cache (the build's hits and bytes go to stderr, never the manifest).
    A cache that cannot be written (a full disk) is a warning: the build itself is whole."""
    try:
        summary = keep(cache, feeding, [(p.path, p.sha256) for p in packages])
    except (OSError, EnvironmentProblem) as exc:
        _say(f"warning: package cache {cache.directory} not updated: {exc}")
        return
    _say(summary.line())


def _say(line: str) -> None:
    with suppress(OSError, ValueError):  # stderr may be a terminal that is gone
        print(line, file=sys.stderr)


def _components(plan: BuildPlan, packages: list[PackageFile], collected: Collected) -> tuple[Component, ...]:
    """Each bundled package for the SBOM. The license is the header's (rpm's License tag, read by
    collect); a deb's control file has no license field, so deb packages carry none."""
    return tuple(
        Component(
            name=p.name,
            sha256=p.sha256,
            version=p.version,
            purl=package_purl(plan.distro, p.name, p.version, p.architecture),
            license=collected.packages[p.path.name].fields.get("License") or None,
        )
        for p in packages
    )


def _lock(packages: list[PackageFile], sources: Sources) -> dict[str, Any]:
    """lock.json's packages (each file with its repository and suite) and repositories (builder.lock)."""
    entries = []
    for p in sorted(packages, key=lambda p: p.path.name):
        origin = sources.packages.get(p.path.name)
        where = {
            "repository": origin.repository if origin else None,
            "suite": origin.suite if origin else None,
            "component": origin.component if origin else None,
        }
        entries.append(p.as_manifest() | where)
    return {"packages": entries, "repositories": [r.as_lock() for r in sources.repositories]}


def _members(
    installer: Backend, plan: BuildPlan, packages: list[PackageFile], collected: Collected, download: Download
) -> dict[str, bytes]:
    """The bundle's index files, and the recipe's specs the download left out (if any)."""
    members = installer.index(packages, collected)
    skipped = [spec for spec in plan.packages if spec not in download.packages]
    return members | ({SKIPPED_LIST: "".join(f"{spec}\n" for spec in skipped).encode()} if skipped else {})


def _totals(packages: list[PackageFile]) -> tuple[int, int]:
    return sum(p.size for p in packages), len(packages)


def _sections(plan: BuildPlan, image_id: str, packages: list[PackageFile], discovery: Discovery) -> dict[str, Any]:
    """The manifest sections of a closure: the plan's, the image, the baseline, packages and discovery."""
    return {
        **plan.manifest_sections(),
        "image": {"name": plan.image, "id": image_id},
        "baseline": plan.baseline.as_manifest() | ({"image": image_id} if plan.baseline.kind == "image" else {}),
        "packages": [p.as_manifest() for p in packages],
        "discovery": {"commands": discovery.commands, "direct": discovery.direct, "tree": discovery.tree},
    }


def _describe(path: Path, collected: Collected) -> PackageFile:
    info = collected.packages.get(path.name)
    if info is None:
        raise BuildError(f"{path.name}: the package manager could not read its metadata")
    return PackageFile(
        path=path,
        name=info.name,
        version=info.version,
        architecture=info.architecture,
        size=path.stat().st_size,
        sha256=sha256_file(path),
    )
