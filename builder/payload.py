"""What a payload stage hands to the finish step (builder.finish): the package in the build's temp
dir, its command strings and its own manifest sections."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Component:
    """One thing the package bundles, for the SBOM (builder.sbom): a distro package, which has a purl,
    or a file (a Windows installer, a tarball), which has none."""

    name: str
    sha256: str
    version: str | None = None
    purl: str | None = None
    license: str | None = None  # as the package's own header states it; None where it states none


@dataclass(frozen=True)
class Payload:
    """What a payload stage produced: the package in the temp dir, its strings and manifest sections."""

    package: Path
    commands: dict[str, str]  # install, remove and (Linux) update, as Azure's manageActions
    sections: dict[str, Any]  # the payload's own manifest sections (application, recipe, distro, ...)
    contents: int  # bytes of the files inside
    files: int
    components: tuple[Component, ...] = ()  # what the SBOM lists
    # lock.json's packages and repositories, where the payload came from a package manager (builder.lock)
    lock: dict[str, Any] | None = None
    # a closure split into several applications (builder.split): the earlier parts, in install order;
    # this payload is the last part, whose install string installs them all
    parts: tuple[Payload, ...] = ()
