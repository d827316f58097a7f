"""What a package-manager backend is: the request it serves, the protocol it implements, and the
neutral data its methods return. apt, dnf and zypper import these; the registry (the package's
__init__) imports them, so nothing here imports a backend."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from builder.backends.baseline import Baseline
from builder.backends.repository import Repository

if TYPE_CHECKING:
    from builder.container import Container

# The bundle member listing the recipe's specs the download left out (apt: a virtual name it refuses
# next to a named provider), one a line, present only when there are some. The install strings are
# rendered once, from the recipe, before the download: they read this list to leave the same out.
SKIPPED_LIST = "vmapp-skipped.txt"


@dataclass(frozen=True)
class Request:
    """What a backend needs of a build: the plan's fields, without the plan (backends sit below it)."""

    app: str
    distro: str  # the distro's name, for messages
    family: str
    image: str
    packages: tuple[str, ...]  # the recipe's specs (NAME or NAME=VERSION)
    package_names: tuple[str, ...]
    repositories: tuple[Repository, ...] = ()
    recommends: bool = False
    baseline: Baseline = field(default_factory=lambda: Baseline("image"))
    recipe_path: Path | None = None
    # --locked: exactly these (name, version, architecture), from a previous build's lock.json
    locked: tuple[tuple[str, str, str], ...] = ()

    @property
    def urls(self) -> dict[str, str]:
        """The recipe's repositories' URLs, by the id they are given in the image (their name)."""
        return {repo.name: repo.url for repo in self.repositories}

    @property
    def where(self) -> str:
        return f"on {self.distro} ({self.image})"


@dataclass(frozen=True)
class Discovery:
    """What the documented discovery found, kept for the manifest (a report, not the bundle)."""

    commands: list[str]
    direct: list[dict[str, Any]]
    tree: dict[str, Any]


@dataclass(frozen=True)
class Download:
    """What a download fetched: where the package files are, and what the VM's package manager must
    be asked for (the recipe's packages, less a virtual name apt refuses next to a named provider)."""

    directory: str
    packages: tuple[str, ...]


@dataclass(frozen=True)
class PackageInfo:
    """One downloaded package file's identity, read with the image's own tools."""

    name: str
    version: str
    architecture: str
    # The family's own header fields: apt's control paragraph (for its index), rpm's License (for the SBOM).
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Collected:
    """What collect read in the container: each file's identity (by file name), and index files the
    family's tools wrote there (dnf: createrepo_c's repodata), by bundle member name. Those are in
    `written_in`, a subdirectory of the download's directory: the copy-out brings them (in the same
    stream as the packages) into `written`."""

    packages: dict[str, PackageInfo]
    written: dict[str, bytes] = field(default_factory=dict)
    written_in: str | None = None


@dataclass(frozen=True)
class PackageFile:
    """One package file in the bundle."""

    path: Path
    name: str
    version: str
    architecture: str
    size: int
    sha256: str

    def as_manifest(self) -> dict[str, Any]:
        return {
            "file": self.path.name,
            "name": self.name,
            "version": self.version,
            "architecture": self.architecture,
            "size": self.size,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class Origin:
    """Where the package manager took one package file from: its repository and (apt) suite."""

    repository: str  # apt: the repository's URL; dnf, yum, zypper: the repository's id
    suite: str | None = None  # apt's suite (./ for a flat repository); RPM repositories have none
    component: str | None = None  # apt's component


@dataclass(frozen=True)
class RepositoryState:
    """One repository's metadata as the refresh saw it: apt's InRelease/Release, or repomd.xml."""

    id: str
    metadata: str  # the metadata file's name: InRelease, Release or repomd.xml
    sha256: str | None  # of that file, as the package manager stored it
    date: str | None  # apt: the Release's Date; RPM: repomd.xml's newest timestamp (seconds since the epoch)
    url: str | None = None
    suite: str | None = None
    revision: str | None = None  # repomd.xml's <revision>

    def as_lock(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "suite": self.suite,
            "metadata": self.metadata,
            "sha256": self.sha256,
            "date": self.date,
            "revision": self.revision,
        }


@dataclass(frozen=True)
class Sources:
    """Where each downloaded file came from (by file name) and the state of every repository, read from
    the package manager's own outputs after the download: what lock.json records."""

    packages: dict[str, Origin]
    repositories: tuple[RepositoryState, ...]


# One package of a closure as the lock records it: name, version (the family's own form: apt's with its
# epoch, rpm's [epoch:]version-release) and architecture.
Resolved = tuple[str, str, str]


class Backend(Protocol):
    """What the closure stage needs from a package-manager backend, in the order it calls them."""

    family: str
    suffix: str  # the package files' suffix, e.g. ".deb"

    def __init__(self, request: Request) -> None: ...
    def prepare(self, container: Container) -> None: ...
    def refresh(self, container: Container) -> None: ...
    def discover(self, container: Container) -> Discovery: ...
    def download(self, container: Container) -> Download: ...
    def collect(self, container: Container, directory: str) -> Collected: ...
    def index(self, files: list[PackageFile], collected: Collected) -> dict[str, bytes]: ...
    def sources(self, container: Container, collected: Collected) -> Sources: ...

    # What `rebuild` checks first (after prepare and refresh): the closure the download would fetch,
    # from the solver's own simulation, nothing downloaded.
    def resolve(self, container: Container) -> frozenset[Resolved]: ...

    # What verify and the lifecycle replay need of the family, on a container of the target image:
    @staticmethod
    def installed_packages(container: Container) -> dict[str, str]: ...
    @staticmethod
    def is_older(container: Container, version: str, than: str) -> bool: ...
