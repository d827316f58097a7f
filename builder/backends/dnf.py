"""The dnf backend (RHEL 8, 9) and its yum 3 sibling (RHEL 7): refresh, discovery, closure download
with the solver itself, and createrepo_c metadata so the VM installs from the bundle as a repository.

It builds argv and parses output; the resolving is always dnf's (or yum's) own solver.
"""

from __future__ import annotations

import re
import shlex

from builder.backends.base import (
    Collected,
    Discovery,
    Download,
    PackageFile,
    PackageInfo,
    Request,
    Resolved,
    Sources,
)
from builder.backends.batch import Command
from builder.backends.rpm_cache import wanted_files
from builder.backends.rpm_parse import (
    NEVRA_FORMAT,
    dnf_signature_failures,
    dnf_unknown_packages,
    parse_config_dump,
    parse_deplist,
    parse_origins,
    parse_repoquery_tree,
    parse_transaction,
    parse_transaction_origins,
)
from builder.backends.rpm_signatures import ROUTED, SignatureError, check_closure, routed_argv
from builder.backends.rpm_steps import Ahead, put_repositories, run_together
from builder.backends.rpmdb import (
    BASELINE_RPMS,
    EMPTY_ROOT,
    RPM_DIR,
    RpmBackend,
    describe_argv,
    make_empty_root,
    nevra,
    parse_described,
    raise_locked_gone,
    raise_resolution_error,
    register_baseline,
    rpm_spec,
)
from builder.backends.sources import CONTEXT as REPOMDS
from builder.backends.sources import RPM_CACHES, repomds_argv, rpm_sources
from builder.container import Container, Result
from builder.errors import BuildError, CommandFailed, EnvironmentProblem

REPOS_DIR = "/etc/yum.repos.d"
_REPO_FAILURE = re.compile(
    r"^.*(?:Failed to download metadata for repo|Cannot download repomd\.xml|Cannot retrieve repository metadata|"
    r"Errors during downloading metadata for repository|Curl error|failure: repodata/repomd\.xml|"
    r"GPG signature verification error|Ignoring repositories|Cannot find a valid baseurl|"
    r"One of the configured repositories failed).*$",
    re.MULTILINE,
)
_TREE_FORMAT = "%{name}.%{arch} %{evr}"
_ROOTS = ("/", EMPTY_ROOT)  # where repomd.xml is read from: the image's caches, and the --full root's
# The bundle's repodata with the image's createrepo_c (or old createrepo); exit 127 when it has neither.
# Fixed mtimes and revision: the same packages give the same metadata bytes.
_NO_CREATEREPO = 127
_CREATEREPO = r"""
cd "$1" || exit 1
options="--no-database --revision 0"
if command -v createrepo_c >/dev/null; then tool=createrepo_c; options="$options --set-timestamp-to-revision"
elif command -v createrepo >/dev/null; then tool=createrepo
else exit 127
fi
touch -d @0 ./*.rpm && rm -rf repodata && $tool -q $options .
"""


class DnfInstaller(RpmBackend):
    family = "dnf"
    tool = "dnf"

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self.specs = [rpm_spec(p) for p in request.packages]
        self._releasever: str | None = None  # the solver root's, once made (solver_root)
        # What the signature check read after the download, so collect and sources need not ask again.
        self._described: tuple[str, dict[str, PackageInfo]] = ("", {})
        self._known_origins: dict[str, list[str]] = {}
        self.ahead = Ahead()

    # -- argv: one place per command, so the yum sibling changes only what differs -------------------
    def base_argv(self) -> list[str]:
        weak = [] if self.request.recommends else ["--setopt=install_weak_deps=False"]
        return [self.tool, "-q", "-y", *weak]

    def refresh_argv(self) -> list[str]:
        return [*self.base_argv(), "makecache"]

    def deplist_argv(self) -> list[str]:
        return [*self.base_argv(), "deplist", *self.specs]

    def tree_argv(self) -> list[str]:
        query = ["repoquery", "--requires", "--resolve", "--recursive", "--qf", _TREE_FORMAT]
        return [*self.base_argv(), *query, *self.specs]

    def root_argv(self, releasever: str | None) -> list[str]:
        """With a releasever (--full), the solver works in an empty root, with the image's repositories."""
        if not releasever:
            return []
        return ["--installroot", EMPTY_ROOT, f"--releasever={releasever}", f"--setopt=reposdir={REPOS_DIR}"]

    def solver_specs(self) -> list[str]:
        """What download and resolve ask the solver for: the recipe's packages, or with --locked the
        lock's exact versions."""
        return list(self.locked_pins()) or self.specs

    def download_argv(self, releasever: str | None = None) -> list[str]:
        """Without -q: the transaction table names each package's repository (the signature check's origins)."""
        return [
            *(a for a in self.base_argv() if a != "-q"),
            *self.root_argv(releasever),
            "install",
            "--downloadonly",
            f"--downloaddir={RPM_DIR}",
            *self.solver_specs(),
        ]

    def resolve_argv(self, releasever: str | None = None) -> list[str]:
        """The download's solver call, answered "no" before anything is fetched. Without -q, which
        hides the transaction table, and -y, which --assumeno replaces."""
        options = [o for o in self.base_argv() if o not in ("-q", "-y")]
        return [*options, *self.root_argv(releasever), "install", "--assumeno", *self.solver_specs()]

    def repolist_argv(self) -> list[str]:
        return [self.tool, "-q", "repolist"]

    def origins_argv(self, nevras: list[str]) -> list[str]:
        return [self.tool, "-q", "repoquery", "--qf", NEVRA_FORMAT + "\t%{repoid}", *nevras]

    def repo_config_argv(self) -> list[str]:
        """Every repository's settings, dumped by dnf itself (dnf-plugins-core)."""
        return [self.tool, "-q", "config-manager", "--dump", "*"]

    def download_succeeded(self, exit_code: int, output: str) -> bool:
        return exit_code == 0

    def resolve_succeeded(self, exit_code: int, output: str) -> bool:
        """--assumeno ends a solved transaction with exit code 1; 0 is "Nothing to do"."""
        return exit_code == 0 or (exit_code == 1 and "Operation aborted." in output)

    # -- prepare: each extra repository as a .repo file (its key is imported into rpm by the refresh) --
    def prepare(self, container: Container) -> None:
        put_repositories(container, self.request.repositories, REPOS_DIR, {"skip_if_unavailable": "False"})

    def will_build(self, feeding: bool) -> None:
        """The build will discover and download after the refresh (asking `wanted` first, when a
        package cache feeds it): the refresh's batch runs those commands too."""
        self.ahead.wanted = "resolve" if feeding else "download"

    def refresh(self, container: Container) -> None:
        """The recipe's keys into rpm, and makecache; then, in the same batch (one exec, one import of
        dnf: builder.backends.batch), what will_build said comes next: discovery's commands, and for a
        build against the image itself the download and the steps after it (or the feeding's resolve)."""
        refresh = Command(self.refresh_argv(), "refresh package metadata", gate=True)
        early = self._ahead_commands()
        self.ahead.refresh(
            container, self.request.repositories, refresh, early, _REPO_FAILURE, "package metadata", self.where
        )

    def _ahead_commands(self) -> list[Command]:
        if self.tool != "dnf" or not self.ahead.wanted:
            return []
        early = [Command(argv, context) for argv, context in self._discovery_steps()]
        if self.request.baseline.kind != "image":  # the solver's root is made between
            return early
        if self.ahead.wanted == "resolve":
            return [*early, Command(self.resolve_argv(None), "resolve")]
        return [*early, *self._download_commands(None)]

    def _download_commands(self, releasever: str | None) -> list[Command]:
        """The download, and what the stages after it run, as one batch."""
        commands = [
            Command(self.download_argv(releasever), "download"),
            Command(describe_argv(RPM_DIR), "read package headers"),
            Command(routed_argv(RPM_DIR, self.request.repositories), ROUTED),
        ]
        if not self.request.repositories:  # every package is from the image's repositories: their settings
            commands.append(Command(self.repo_config_argv(), "repository settings"))
        # Ahead of the signature check: the repodata is only bundled if that passes.
        commands.append(Command(_createrepo_argv(RPM_DIR), "write repository metadata"))
        return [*commands, Command(repomds_argv(_ROOTS), REPOMDS)]

    # -- discovery: the documented commands, kept as a report ----------------------------------------
    def _discovery_steps(self) -> list[tuple[list[str], str]]:
        return [(self.deplist_argv(), "deplist"), (self.tree_argv(), "repoquery --recursive")]

    def discover(self, container: Container) -> Discovery:
        steps = self._discovery_steps()
        deplist, tree = (self.ahead.take(context, argv) for argv, context in steps)
        if deplist is None or tree is None:
            deplist, tree = run_together(container, steps)
        return Discovery(
            commands=[shlex.join(self.deplist_argv()), shlex.join(self.tree_argv())],
            direct=parse_deplist(deplist.stdout),
            # repoquery --recursive also lists what the image already has: a report, not the bundle.
            tree={"packages": parse_repoquery_tree(tree.stdout)},
        )

    # -- download: the solver, relative to what the image already has -------------------------------
    def baseline_download_argv(self) -> list[str]:
        """The baseline's exact packages; strict=False skips one no repository has any more."""
        entries = self.request.baseline.entries
        return [self.tool, "-q", "download", "--setopt=strict=False", f"--destdir={BASELINE_RPMS}", *entries]

    def solver_root(self, container: Container) -> str | None:
        """For a baseline other than the image, the root the solver works in (the empty one, with a
        VM's baseline registered), made once per container; its release version, else None."""
        kind = self.request.baseline.kind  # full or a VM's baseline: solve in a root of that state
        if kind == "image":
            return None
        if self._releasever is None:
            releasever = make_empty_root(container)
            if releasever == "":
                raise BuildError(f"cannot tell the release version of {self.request.image} {self.where}")
            if kind == "file":
                container.run(["mkdir", "-p", BASELINE_RPMS], "create baseline directory")
                container.run(self.baseline_download_argv(), "download the baseline's packages", check=False)
                register_baseline(container, BASELINE_RPMS)
            self._releasever = releasever
        return self._releasever

    def resolve(self, container: Container) -> frozenset[Resolved]:
        """What download would fetch: its solver call with --assumeno, read from the transaction table."""
        argv = self.resolve_argv(self.solver_root(container))
        result = self.ahead.run(container, argv, "resolve")
        if not self.resolve_succeeded(result.exit_code, result.output):
            self._raise_resolution_error(container, argv, result.exit_code, result.output)
        return parse_transaction(result.stdout)

    def wanted(self, container: Container) -> tuple[Download | None, list[tuple[str, int, str]]]:
        """The closure's files (in --downloaddir, with primary.xml's size and SHA-256) for the package
        cache to feed: dnf's librepo then skips each one there whose checksum matches ("Already
        downloaded"). The download still runs (and checks signatures), so no Download is returned.
        yum 3 is not fed (nothing shows it skips such a file); nor is a solve that fails (download says why)."""
        if self.tool != "dnf":
            return None, []
        try:
            resolved = self.resolve(container)
        except BuildError:
            return None, []
        caches = [f"{root.rstrip('/')}{cache}" for root in ("/", EMPTY_ROOT) for cache in RPM_CACHES]
        return None, wanted_files(container, resolved, caches, lambda e: f"{RPM_DIR}/{e.location.rsplit('/', 1)[-1]}")

    def download(self, container: Container) -> Download:
        releasever = self.solver_root(container)
        argv = self.download_argv(releasever)
        result = self.ahead.take("download", argv)
        if result is None:  # not in the refresh's batch (a cache fed the container, or a baseline's root)
            self.ahead.run_ahead(container, self._download_commands(releasever) if self.tool == "dnf" else [])
            result = self.ahead.run(container, argv, "download")
        if not self.download_succeeded(result.exit_code, result.output):
            self._raise_resolution_error(container, argv, result.exit_code, result.output)
        self.check_signatures(container, RPM_DIR, parse_transaction_origins(result.stdout))
        return Download(RPM_DIR, self.request.packages)

    def locked_pins(self) -> dict[str, tuple[str, str]]:
        """--locked: each package of the lock as its NEVRA (`NAME-[EPOCH:]VERSION-RELEASE.ARCH`), to
        its name and version."""
        return {f"{name}-{version}.{arch}": (name, version) for name, version, arch in self.request.locked}

    def check_signatures(self, container: Container, directory: str, table: dict[str, list[str]] | None = None) -> None:
        """Every downloaded package against its repository's key (builder.backends.rpm_signatures):
        yum 3 checks nothing when it only downloads, and dnf trusts every key in the rpm database. The
        repository each came from is the download's transaction table's (`table`), or repoquery's when
        the table does not name every file's."""
        described = self.ahead.checked(container, describe_argv(directory), "read package headers")
        self._described = (directory, parse_described(described.stdout))
        nevras = {file: nevra(info) for file, info in self._described[1].items()}
        labels = sorted(set(nevras.values()))
        table = table or {}
        recipe = {repo.name for repo in self.request.repositories}
        # The image's repositories' settings matter only for a package from one of them.
        from_table = all(label in table for label in labels)
        early = self.ahead.take("repository settings", self.repo_config_argv())
        results = {"repository settings": early} if early else {}
        steps = (
            []
            if early or (from_table and all(set(table[label]) <= recipe for label in labels))
            else [(self.repo_config_argv(), "repository settings")]
        )
        if not from_table:
            steps.append((self.origins_argv(labels), "package origins"))
        results |= dict(zip((context for _, context in steps), run_together(container, steps), strict=True))
        queried = results.get("package origins")
        self._known_origins = parse_origins(queried.stdout) if queried else table
        origins = {file: self._known_origins.get(nevra, []) for file, nevra in nevras.items()}
        dump = results.get("repository settings")
        checks = parse_config_dump(dump.stdout) if dump and dump.exit_code == 0 else {}
        routed = self.ahead.take(ROUTED, routed_argv(directory, self.request.repositories))
        check_closure(container, directory, self.request.repositories, self.where, origins, checks, routed)

    def _origins(self, container: Container, labels: list[str]) -> dict[str, list[str]]:
        """The repositories offering each package (by NEVRA), as the package manager reports them (once
        per package: the signature check asked already for the downloaded ones)."""
        if not labels:
            return {}
        if all(label in self._known_origins for label in labels):
            return {label: self._known_origins[label] for label in labels}
        return parse_origins(container.run(self.origins_argv(labels), "package origins", check=False).stdout)

    def _raise_resolution_error(self, container: Container, argv: list[str], code: int, output: str) -> None:
        refused = dnf_signature_failures(output)
        if refused:  # dnf checks signatures after downloading, and then says only "GPG check FAILED"
            origins = self._origins(container, [package for package, _ in refused])
            problems = []
            for package, reason in refused:
                repos = next((r for label, r in origins.items() if label.replace("-0:", "-", 1) == package), [])
                problems.append(f"{package} from repository {' or '.join(repos) or '(unknown)'}: {reason}")
            raise SignatureError(self.where, problems)
        failed = (argv, code, output)
        missing = dnf_unknown_packages(output)
        pins = self.locked_pins()
        if gone := [pins[spec] for spec in missing if spec in pins]:
            raise_locked_gone(self.where, gone)
        raise_resolution_error(self.tool, self.request, self.where, failed, missing, self._repo_ids(container))

    def _repo_ids(self, container: Container) -> list[str]:
        out = container.run(self.repolist_argv(), "list repositories", check=False).stdout
        ids = [line.split()[0] for line in out.splitlines() if line.strip()]
        return [i for i in ids if i not in ("repo", "repolist:", "Loaded")]

    # -- collect: headers with rpm -qp, then createrepo_c metadata for the bundle --------------------
    def collect(self, container: Container, directory: str) -> Collected:
        """Each .rpm's name, EVR and arch; and the bundle's repodata, written by createrepo_c.

        Metadata generation needs the image's tools, so it runs here, in the build container, after the
        download (installing createrepo_c only now keeps it out of the download's baseline). The files it
        wrote come out with the packages (`written_in`); `index` hands them back.
        """
        done, described = self._described
        if done != directory:
            described = parse_described(container.run(describe_argv(directory), "read package headers").stdout)
        if described:
            self._create_repodata(container, directory)
        return Collected(described, written_in="repodata" if described else None)

    def _create_repodata(self, container: Container, directory: str) -> None:
        written = self._write_repodata(container, directory)
        if written.exit_code == _NO_CREATEREPO:  # installing it only now keeps it out of the download's baseline
            install = [self.tool, "-q", "-y", "install", "createrepo_c"]
            result = container.run(install, "install createrepo_c", check=False)
            if result.exit_code != 0:
                raise EnvironmentProblem(
                    f"createrepo_c is not in {self.request.image} and cannot be installed {self.where}:\n"
                    + result.output.strip()[-1500:],
                    hint="build in an image that has createrepo_c or whose repositories offer it (--image)",
                )
            written = self._write_repodata(container, directory)
        if written.exit_code != 0:
            raise CommandFailed(written.argv, written.exit_code, written.output, "write repository metadata")

    def _write_repodata(self, container: Container, directory: str) -> Result:
        return self.ahead.run(container, _createrepo_argv(directory), "write repository metadata")

    def index(self, files: list[PackageFile], collected: Collected) -> dict[str, bytes]:
        """The bundle's `repodata/`, as createrepo_c wrote it in collect."""
        if "repodata/repomd.xml" not in collected.written:  # the VM's dnf could not read the bundle
            raise BuildError(f"createrepo_c's repodata/repomd.xml did not come out of the build container {self.where}")
        return dict(collected.written)

    def sources(self, container: Container, collected: Collected) -> Sources:
        """Each file's repository as repoquery reports it; repomd.xml from the cache (or the --full root's)."""
        nevras = {file: nevra(info) for file, info in collected.packages.items()}
        by_nevra = self._origins(container, sorted(set(nevras.values())))
        origins = {file: by_nevra.get(label, []) for file, label in nevras.items()}
        listing = self.ahead.take(REPOMDS, repomds_argv(_ROOTS))
        found = rpm_sources(container, origins, _ROOTS, self.request.urls, listing.stdout if listing else None)
        return Sources(*found)


def _createrepo_argv(directory: str) -> list[str]:
    return ["sh", "-c", _CREATEREPO, "sh", directory]


class YumInstaller(DnfInstaller):
    """RHEL 7's yum 3 with yum-utils: no weak dependencies, repoquery is its own command, and
    `--downloadonly` ends with exit code 1 and "exiting because "Download Only" specified"."""

    family = "yum"
    tool = "yum"

    def base_argv(self) -> list[str]:
        return [self.tool, "-q", "-y"]

    def refresh_argv(self) -> list[str]:
        return [*self.base_argv(), "makecache", "fast"]

    def tree_argv(self) -> list[str]:
        return ["repoquery", "--requires", "--resolve", "--recursive", "--qf", _TREE_FORMAT, *self.specs]

    def download_succeeded(self, exit_code: int, output: str) -> bool:
        return exit_code == 0 or (exit_code == 1 and 'exiting because "Download Only" specified' in output)

    def resolve_succeeded(self, exit_code: int, output: str) -> bool:
        return exit_code == 0 or (exit_code == 1 and "Exiting on user command" in output)

    def origins_argv(self, nevras: list[str]) -> list[str]:
        return ["repoquery", "--qf", NEVRA_FORMAT + "\t%{repoid}", *nevras]

    def repo_config_argv(self) -> list[str]:
        return ["yum-config-manager", "*"]  # yum-utils, like repoquery

    def baseline_download_argv(self) -> list[str]:
        return ["yumdownloader", "-q", f"--destdir={BASELINE_RPMS}", *self.request.baseline.entries]
