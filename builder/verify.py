"""`vmapp-build verify`: the extension's steps replayed with no network, for the build's target.

Targets are peers: the build's distro row (builder.distros) names its family, and the family picks
the target's verify. Each runs the shared skeleton (builder.steps) with its own shell and checks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import docker

from builder.distros import DISTROS, get_distro
from builder.errors import InputError
from builder.lifecycle import EXTENSION_DIR
from builder.lifecycle.build import load_build
from builder.lifecycle.report import LifecycleReport
from builder.lifecycle.run import verify_lifecycle
from builder.lifecycle.sequence import earlier_builds
from builder.lifecycle.verify import verify_packages
from builder.lifecycle.windows import verify_windows_lifecycle
from builder.manifest import load_manifest
from builder.split.verify import verify_split
from builder.steps import VerifyReport
from builder.windows.verify import verify_windows

__all__ = [
    "EXTENSION_DIR",
    "LIFECYCLES",
    "VERIFIERS",
    "LifecycleReport",
    "VerifyReport",
    "verify",
    "verify_any",
    "wants_lifecycle",
]

Verifier = Callable[[Path, str | None, Path | None, docker.DockerClient | None], VerifyReport]

Lifecycle = Callable[[Path, str | None, docker.DockerClient | None, int | None], LifecycleReport]

# Every family of the distro table, to its verify and its lifecycle replay.
VERIFIERS: dict[str, Verifier] = {
    "windows": verify_windows,
    **{d.family: verify_packages for d in DISTROS.values() if d.family != "windows"},
}
LIFECYCLES: dict[str, Lifecycle] = {
    "windows": verify_windows_lifecycle,
    **{d.family: verify_lifecycle for d in DISTROS.values() if d.family != "windows"},
}


def verify(
    path: Path, image: str | None = None, update_from: Path | None = None, client: docker.DockerClient | None = None
) -> VerifyReport:
    """Verify the build at `path` as its target's VM runs it (`update_from`: an update from that older
    build); raise VerifyError on failure. A closure split into parts installs them all, in order."""
    if _is_split(path):
        if update_from is not None:
            raise InputError(
                f"{path} is a closure split into parts: --update-from cannot replay it yet",
                hint="verify it alone: every part is installed in order, then removed",
            )
        return verify_split(path, image, client)
    return VERIFIERS[_family(path)](path, image, update_from, client)


def verify_any(
    path: Path,
    image: str | None = None,
    update_from: Path | None = None,
    lifecycle: bool | None = None,
    client: docker.DockerClient | None = None,
    depth: int | None = None,
) -> VerifyReport | LifecycleReport:
    """`verify`, or the lifecycle across the earlier builds beside `path` (builder.lifecycle.run):
    asked for with `lifecycle`, or by default (None) when there are earlier builds and no --update-from;
    `depth`: from the newest that many earlier builds only (None: all)."""
    if _is_split(path):
        if lifecycle:
            raise InputError(
                f"{path} is a closure split into parts: its lifecycle across versions is not replayed yet",
                hint="leave out --lifecycle: verify installs every part in order, then removes them all",
            )
        return verify(path, image, update_from, client)
    if not wants_lifecycle(path, update_from, lifecycle):
        return verify(path, image, update_from, client)
    if update_from is not None:
        raise InputError(
            "--lifecycle and --update-from both choose the versions to replay: give one",
            hint="--lifecycle replays every earlier build beside BUILD; --update-from one update from OLDER",
        )
    return LIFECYCLES[_family(path)](path, image, client, depth)


def wants_lifecycle(path: Path, update_from: Path | None, lifecycle: bool | None) -> bool:
    """--lifecycle, --no-lifecycle, or by default: earlier builds beside `path` and no --update-from."""
    if lifecycle is None:
        return update_from is None and bool(earlier_builds(load_build(path)))
    return lifecycle


def _is_split(path: Path) -> bool:
    return bool(load_manifest(path)[1].get("split"))


def _family(path: Path) -> str:
    """The package family of the build at `path`, from its distro row."""
    _, manifest = load_manifest(path)
    return get_distro(str(manifest["distro"]["name"])).family
