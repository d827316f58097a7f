"""The zypper backend (SLES 15): refresh, discovery, closure download with zypper's own solver.

The bundle is a plain directory of .rpm files: the VM adds it as a `plaindir` repository, so no
index is written. It builds argv and parses output; the resolving is always zypper's.
"""

from __future__ import annotations

import re
import shlex
from xml.etree import ElementTree

from builder.backends.base import Collected, Discovery, Download, PackageFile, Request, Resolved, Sources
from builder.backends.batch import Command
from builder.backends.rpm_cache import wanted_files
from builder.backends.rpm_parse import (
    parse_zypper_info,
    parse_zypper_repos_xml,
    parse_zypper_summary,
    xml_stream_text,
    zypper_signature_failures,
    zypper_unknown_packages,
)
from builder.backends.rpm_signatures import ROUTED, SignatureError, check_closure, routed_argv
from builder.backends.rpm_steps import Ahead, put_repositories
from builder.backends.rpmdb import (
    BASELINE_RPMS,
    EMPTY_ROOT,
    RPM_DIR,
    RpmBackend,
    describe_argv,
    flatten_rpms,
    make_empty_root,
    parse_described,
    raise_locked_gone,
    raise_resolution_error,
    register_baseline,
)
from builder.backends.sources import CONTEXT as REPOMDS
from builder.backends.sources import repomds_argv, rpm_sources
from builder.container import Container
from builder.errors import BuildError, CommandFailed

REPOS_DIR = "/etc/zypp/repos.d"
ZYPP_CACHE = "/var/cache/vmapp-build/zypp"
RAW_CACHE = "/var/cache/zypp/raw"  # the refresh's metadata, by alias (also the --full solver's: --cache-dir)
BASELINE_CACHE = "/var/cache/vmapp-build/zypp-baseline"  # zypper nests downloads as <repo>/<arch>/*.rpm here
_REPO_FAILURE = re.compile(
    r"^.*(?:Problem retrieving files from|Repository '[^']*' is invalid|Valid metadata not found|"
    r"Signature verification failed|is unsigned|Could not refresh the repositories|"
    r"Skipping repository|Download \(curl\) error|Some of the repositories have not been refreshed|"
    r"File '[^']*' not found on medium|Error code:).*$",
    re.MULTILINE,
)
# The download's files, listed as zypper's cache nests them (./ALIAS/.../FILE: their origins), then moved
# to the bundle's directory.
_TAKE_DOWNLOAD = (
    'mkdir -p "$1" "$2" && cd "$1" && find . -type f -name "*.rpm"'
    ' && find . -type f -name "*.rpm" -exec mv -f {} "$2"/ \\;'
)
_TAKE = ["sh", "-c", _TAKE_DOWNLOAD, "sh", ZYPP_CACHE, RPM_DIR]
_INFO = "zypper info --requires"
_ROOTS = ("/", EMPTY_ROOT)  # where repomd.xml is read from: the image's caches, and the --full root's
# With signed metadata, gpgcheck=1 checks repomd.xml only: pkg_gpgcheck makes libzypp check each
# package too (the build checks them again, against this repository's key alone).
REPO_SETTINGS = {"autorefresh": "1", "type": "rpm-md", "pkg_gpgcheck": "1"}
# zypper's exit codes (zypper(8)): 104 a capability was not found; 106/107 repositories skipped.
EXIT_CAP_NOT_FOUND = 104


class ZypperInstaller(RpmBackend):
    family = "zypper"

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        # file name -> repositories, read from zypper's cache at download (the files move out of it)
        self.origins: dict[str, list[str]] = {}
        self._root_made = False  # solver_root's, once per container
        self.ahead = Ahead()

    def base_argv(self) -> list[str]:
        return ["zypper", "--non-interactive"]

    def info_argv(self) -> list[str]:
        return [*self.base_argv(), "info", "--requires", *self.request.package_names]

    def install_argv(self, full: bool, *options: str) -> list[str]:
        """The solver call of download and resolve. With full, the solver works in an empty root, with
        the image's repositories and cache."""
        recommends = "--recommends" if self.request.recommends else "--no-recommends"
        root = ["--root", EMPTY_ROOT, "--reposd-dir", REPOS_DIR, "--cache-dir", "/var/cache/zypp"]
        return [
            *self.base_argv(),
            *(root if full else []),
            "--pkg-cache-dir",
            ZYPP_CACHE,
            "install",
            *options,
            recommends,
            *(tuple(self.locked_pins()) or self.request.packages),  # --locked: the lock's exact versions
        ]

    def download_argv(self, full: bool = False) -> list[str]:
        return self.install_argv(full, "--download-only")

    def locked_pins(self) -> dict[str, tuple[str, str]]:
        """--locked: each package of the lock as `NAME.ARCH=EDITION` (zypper's exact capability), to
        its name and version."""
        return {f"{name}.{arch}={version}": (name, version) for name, version, arch in self.request.locked}

    def resolve_argv(self, full: bool = False) -> list[str]:
        """--dry-run alone fetches nothing (with --download-only it would); --xmlout gives the summary
        as XML, global options first."""
        argv = self.install_argv(full, "--dry-run")
        return [*argv[:2], "--xmlout", *argv[2:]]

    # -- prepare: each extra repository as a .repo file (its key is imported into rpm by the refresh) --
    def prepare(self, container: Container) -> None:
        put_repositories(container, self.request.repositories, REPOS_DIR, REPO_SETTINGS)

    def will_build(self, feeding: bool) -> None:
        """The build will discover and download after the refresh (asking `wanted` first, when a
        package cache feeds it): the refresh's batch runs those commands too."""
        self.ahead.wanted = "resolve" if feeding else "download"

    def refresh(self, container: Container) -> None:
        """The recipe's keys into rpm, and `zypper refresh`; then, in the same exec
        (builder.backends.batch), what will_build said comes next: discovery's command, and for a build
        against the image itself the download and the steps after it (or the feeding's resolve)."""
        refresh = Command([*self.base_argv(), "refresh"], "refresh repositories", gate=True)
        early = self._ahead_commands()
        self.ahead.refresh(
            container, self.request.repositories, refresh, early, _REPO_FAILURE, "repositories", self.where
        )

    def _ahead_commands(self) -> list[Command]:
        if not self.ahead.wanted:
            return []
        early = [Command(self.info_argv(), _INFO)]
        if self.request.baseline.kind != "image":  # the solver's root is made between
            return early
        if self.ahead.wanted == "resolve":
            return [*early, Command(self.resolve_argv(False), "resolve")]
        return [*early, *self._download_commands(False)]

    def _download_commands(self, full: bool) -> list[Command]:
        """The download, and what the stages after it run, as one batch."""
        commands = [
            Command(self.download_argv(full), "download"),
            Command(_TAKE, "collect downloaded packages"),
            Command(describe_argv(RPM_DIR), "read package headers"),
            Command(routed_argv(RPM_DIR, self.request.repositories), ROUTED),
        ]
        if not self.request.repositories:  # every package is from the image's repositories: their settings
            commands.append(Command(self.repos_argv(), "repository settings"))
        return [*commands, Command(repomds_argv(_ROOTS), REPOMDS)]

    def repos_argv(self) -> list[str]:
        return [*self.base_argv(), "--xmlout", "repos"]

    # -- discovery: the documented command, kept as a report -----------------------------------------
    def discover(self, container: Container) -> Discovery:
        info = self.ahead.run(container, self.info_argv(), _INFO)
        return Discovery(commands=[shlex.join(self.info_argv())], direct=parse_zypper_info(info.stdout), tree={})

    # -- download: zypper's solver, relative to what the image already has ---------------------------
    def baseline_download_argv(self) -> list[str]:
        """The baseline's exact packages (zypper warns about, and skips, one no repository has)."""
        specs = [f"{name}={version}" for name, version in self.request.baseline.packages.items()]
        return [*self.base_argv(), "--pkg-cache-dir", BASELINE_CACHE, "download", *specs]

    def solver_root(self, container: Container) -> bool:
        """For a baseline other than the image, make the root the solver works in (the empty one, with
        a VM's baseline registered), once per container; whether there is one."""
        kind = self.request.baseline.kind  # full or a VM's baseline: solve in a root of that state
        if kind != "image" and not self._root_made:
            make_empty_root(container)
            if kind == "file":
                container.run(self.baseline_download_argv(), "download the baseline's packages", check=False)
                flatten_rpms(container, BASELINE_CACHE, BASELINE_RPMS)
                register_baseline(container, BASELINE_RPMS)
            self._root_made = True
        return kind != "image"

    def resolve(self, container: Container) -> frozenset[Resolved]:
        """What download would fetch: its solver call as a dry run, read from the XML install summary."""
        argv = self.resolve_argv(self.solver_root(container))
        result = self.ahead.run(container, argv, "resolve")
        if result.exit_code != 0:
            text = xml_stream_text(result.stdout) + result.stderr
            self._raise_resolution_error(container, argv, result.exit_code, text)
        try:
            return parse_zypper_summary(result.stdout)
        except ElementTree.ParseError as exc:
            raise CommandFailed(
                argv, result.exit_code, result.output, f"zypper's install summary is not XML ({exc}) {self.where}"
            ) from exc

    def wanted(self, container: Container) -> tuple[Download | None, list[tuple[str, int, str]]]:
        """The closure's files (in the package cache dir as zypper nests them, <alias>/<location>, with
        primary.xml's size and SHA-256) for the package cache to feed: libzypp takes each one there whose
        checksum matches ("In cache"). The download still runs (and checks signatures): no Download."""
        try:
            resolved = self.resolve(container)
        except BuildError:
            return None, []
        return None, wanted_files(
            container, resolved, [RAW_CACHE], lambda e: f"{ZYPP_CACHE}/{e.repository}/{e.location}"
        )

    def download(self, container: Container) -> Download:
        full = self.solver_root(container)
        argv = self.download_argv(full)
        result = self.ahead.take("download", argv)
        if result is None:  # not in the refresh's batch (a cache fed the container, or a baseline's root)
            self.ahead.run_ahead(container, self._download_commands(full))
            result = self.ahead.run(container, argv, "download")
        if result.exit_code != 0:
            self._raise_resolution_error(container, argv, result.exit_code, result.output)
        taken = self.ahead.checked(container, _TAKE, "collect downloaded packages")
        origins = self.origins = self._origins(taken.stdout)
        repos = {}
        recipe = {repo.name for repo in self.request.repositories}
        if not all(set(aliases) <= recipe for aliases in origins.values()):  # the image's repositories' settings
            repos = parse_zypper_repos_xml(self.ahead.run(container, self.repos_argv(), "repository settings").stdout)
        routed = self.ahead.take(ROUTED, routed_argv(RPM_DIR, self.request.repositories))
        check_closure(container, RPM_DIR, self.request.repositories, self.where, origins, repos, routed)
        return Download(RPM_DIR, self.request.packages)

    @staticmethod
    def _origins(out: str) -> dict[str, list[str]]:
        """file name -> the repositories it was downloaded from: zypper's cache nests them by alias."""
        origins: dict[str, list[str]] = {}
        for line in out.splitlines():
            parts = line.strip().split("/")
            if len(parts) >= 3:  # ./ALIAS/.../FILE
                origins.setdefault(parts[-1], []).append(parts[1])
        return origins

    def _raise_resolution_error(self, container: Container, argv: list[str], code: int, output: str) -> None:
        repos = container.run([*self.base_argv(), "--quiet", "repos"], "list repositories", check=False).stdout
        aliases = [cols[1].strip() for line in repos.splitlines() if len(cols := line.split("|")) > 2]
        aliases = [a for a in aliases if a and a != "Alias"]
        refused = zypper_signature_failures(output)
        if refused:  # pkg_gpgcheck: libzypp refused a package (exit 8, "Signature verification failed")
            raise SignatureError(self.where, [f"{p} from repository {r}: {why}" for p, r, why in refused])
        missing = zypper_unknown_packages(output)
        pins = self.locked_pins()
        if gone := [pins[spec] for spec in missing if spec in pins]:
            raise_locked_gone(self.where, gone)
        if code == EXIT_CAP_NOT_FOUND and not missing:
            missing = list(self.request.packages)  # zypper said "not found" without naming the capability
        raise_resolution_error("zypper", self.request, self.where, (argv, code, output), missing, aliases)

    def collect(self, container: Container, directory: str) -> Collected:
        headers = self.ahead.checked(container, describe_argv(directory), "read package headers")
        return Collected(parse_described(headers.stdout))

    def index(self, files: list[PackageFile], collected: Collected) -> dict[str, bytes]:
        """Nothing: a plaindir repository is the directory of .rpm files itself."""
        return {}

    def sources(self, container: Container, collected: Collected) -> Sources:
        """Each file's repository (the alias zypper's cache nested it under) and the repositories' repomd.xml."""
        listing = self.ahead.take(REPOMDS, repomds_argv(_ROOTS))
        found = rpm_sources(container, self.origins, _ROOTS, self.request.urls, listing.stdout if listing else None)
        return Sources(*found)
