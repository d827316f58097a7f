"""`vmapp-build verify`: the extension's steps replayed with no network, for the build's target.

Targets are peers: the build's distro row (builder.distros) names its family, and the family picks
the target's verify. Each runs the shared skeleton (builder.steps) with its own shell and checks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import docker

from builder.distros import DISTROS, get_distro
from builder.lifecycle import EXTENSION_DIR
from builder.lifecycle.verify import verify_packages
from builder.manifest import load_manifest
from builder.steps import VerifyReport
from builder.windows.verify import verify_windows

__all__ = ["EXTENSION_DIR", "VERIFIERS", "VerifyReport", "verify"]

Verifier = Callable[[Path, str | None, Path | None, docker.DockerClient | None], VerifyReport]

# Every family of the distro table, to its verify.
VERIFIERS: dict[str, Verifier] = {
    "windows": verify_windows,
    **{d.family: verify_packages for d in DISTROS.values() if d.family != "windows"},
}


def verify(
    path: Path, image: str | None = None, update_from: Path | None = None, client: docker.DockerClient | None = None
) -> VerifyReport:
    """Verify the build at `path` as its target's VM runs it (`update_from`: an update from that older
    build); raise VerifyError on failure."""
    _, manifest = load_manifest(path)
    family = get_distro(str(manifest["distro"]["name"])).family
    return VERIFIERS[family](path, image, update_from, client)
