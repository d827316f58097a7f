"""The apt backend: refresh, discovery, closure download and the flat repository index.

It builds argv and parses output; the resolving is always apt's own solver.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any

from builder.backends.apt_output import (
    REPO_FAILURE,
    apt_url,
    parse_print_uris,
    parse_simulation,
    repo_problem,
    sources_line,
)
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
from builder.backends.deb822 import (
    format_paragraph,
    parse_apt_show,
    parse_depends_tree,
    parse_paragraphs,
    unknown_packages,
    virtual_providers,
)
from builder.backends.repository import read_key
from builder.backends.sources import apt_sources
from builder.container import Container, Result
from builder.errors import BuildError, CommandFailed, InputError, PackageNotFound

DEB_DIR = "/var/cache/vmapp-build/debs"
BASELINE_STATUS = "/var/lib/vmapp-build/baseline/status"
KEYRING_DIR = "/etc/apt/keyrings"
_VERSION_GONE = re.compile(r"^E: Version '([^']+)' for '([^':]+)(?::[^']*)?' was not found", re.MULTILINE)


class AptInstaller:
    family = "apt"
    suffix = ".deb"

    def __init__(self, request: Request) -> None:
        self.request = request
        if request.baseline.kind == "file" and request.baseline.format != "dpkg":
            raise InputError(
                f"{request.baseline.source}: an rpm -qa list cannot be the baseline of {request.distro}",
                hint="copy the VM's /var/lib/dpkg/status, or save `dpkg-query -W` there",
            )
        self.where = request.where

    def _apt_get(self, *args: str) -> list[str]:
        recommends = "--install-recommends" if self.request.recommends else "--no-install-recommends"
        # A baseline other than the image: apt's solver reads that package state instead of dpkg's.
        state = ["-o", f"Dir::State::status={BASELINE_STATUS}"] if self.request.baseline.overrides_image else []
        return ["apt-get", "-q", "-y", recommends, *state, *args]

    # -- prepare: extra repositories, each with its own signed-by keyring ----------------------------
    def prepare(self, container: Container) -> None:
        if self.request.baseline.overrides_image:
            native = container.run(["dpkg", "--print-architecture"], "native architecture").stdout.strip()
            status = self.request.baseline.status_for(native).encode()
            directory, _, name = BASELINE_STATUS.rpartition("/")
            container.put_bytes(status, directory, name)
        for repo in self.request.repositories:
            if not repo.suite:
                raise InputError(
                    f"repository {repo.name}: an apt repository needs a suite (and components) "
                    f"for {self.request.distro}",
                    hint="e.g. suite: jammy, components: [main]; or a flat repository with suite: ./",
                )
            key = read_key(repo)
            suffix = ".asc" if key.lstrip().startswith(b"-----BEGIN PGP") else ".gpg"
            keyring = f"{KEYRING_DIR}/vmapp-{repo.name}{suffix}"
            container.put_bytes(key, KEYRING_DIR, f"vmapp-{repo.name}{suffix}")
            container.put_bytes(
                sources_line(repo, keyring).encode(), "/etc/apt/sources.list.d", f"vmapp-{repo.name}.list"
            )

    def refresh(self, container: Container) -> None:
        result = container.run(["apt-get", "-q", "update"], "refresh package lists", check=False)
        failures = REPO_FAILURE.findall(result.output)
        if result.exit_code != 0 or failures:
            detail = "\n".join(failures) or result.output.strip()[-2000:]
            failed = [r for r in self.request.repositories if apt_url(r) in detail]
            if not failed:
                raise BuildError(
                    f"refreshing the package lists {self.where} failed for a package repository:\n{detail}",
                    hint="check the repository's URL, suite and signing key, and that the builder reaches it",
                )
            # Name each failing repository with apt's reason for it, in words, then apt's own lines.
            reasons = []
            for repo in failed:
                own = "\n".join(line for line in failures if apt_url(repo) in line) or detail
                reasons.append(f"repository {repo.name} ({repo.url} {repo.suite}): {repo_problem(own)[0]}")
            raise BuildError(
                f"refreshing the package lists {self.where} failed:\n" + "\n".join(reasons) + f"\napt says:\n{detail}",
                hint=repo_problem(detail)[1],
            )

    def lists_state(self, container: Container) -> list[dict[str, Any]] | None:
        """What the refreshed lists were made from, for keeping them (builder.lists): every repository's
        InRelease/Release with its sha256, as a lock records them; None when a source is not http(s)
        (a `file:` repository can change under the same URL, and its refresh is cheap anyway)."""
        argv = ["apt-get", "indextargets", "--format", "$(REPO_URI)"]
        result = container.run(argv, "list the package sources", check=False)
        uris = set(result.stdout.split())
        if result.exit_code != 0 or not uris or not all(u.startswith(("http://", "https://")) for u in uris):
            return None
        _, repositories = apt_sources(container, Collected({}))
        return [r.as_lock() for r in repositories]

    # -- discovery: the documented commands, kept as a report ----------------------------------------
    def discover(self, container: Container) -> Discovery:
        """`apt show` (the seed's Depends/Pre-Depends lines) and the recursive tree. Resolution errors
        come from the download, which runs the solver anyway: a separate `apt-get -s` solve cost
        as much again (benchmarks/bench_apt.py)."""
        show = ["apt", "show", *self.request.packages]
        shown = container.run(show, "apt show", check=False)
        if shown.exit_code != 0:
            # apt show fails, saying only "No packages found", when it finds none of them (beside a
            # known package it just warns): ask apt-get's solver, whose errors name each package.
            simulate = self._apt_get("--simulate", "install", *self.request.packages)
            simulated = container.run(simulate, "simulate", check=False)
            if simulated.exit_code != 0:
                self._raise_resolution_error(simulated.argv, simulated.exit_code, simulated.output)
            raise CommandFailed(shown.argv, shown.exit_code, shown.output, f"apt show failed {self.where}")
        excluded = ["--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"]
        if not self.request.recommends:
            excluded.insert(0, "--no-recommends")
        tree_argv = ["apt-cache", "depends", "--recurse", *excluded, *self.request.package_names]
        tree = container.run(tree_argv, "apt-cache depends")
        return Discovery(
            commands=[shlex.join(show), shlex.join(tree_argv)],
            direct=parse_apt_show(shown.stdout),
            tree=parse_depends_tree(tree.stdout),
        )

    def _named_virtuals(self, output: str) -> set[str]:
        """Virtual names apt refused although the recipe also names one of their providers.

        apt will not pick a provider of a virtual package itself when there are several, even if
        one is on the same command line; installing the named provider is what the recipe means.
        """
        names = set(self.request.package_names)
        return {v for v, providers in virtual_providers(output).items() if v in names and names & set(providers)}

    def _raise_resolution_error(self, argv: list[str], code: int, output: str) -> None:
        virtual = {p: v for p, v in virtual_providers(output).items() if p in self.request.package_names}
        if virtual:
            name, providers = next(iter(virtual.items()))
            raise PackageNotFound(
                f"{name} is a virtual package {self.where}; it is provided by: {', '.join(providers)}",
                hint="name one of the providers in the recipe's packages",
            )
        missing = unknown_packages(output)
        if missing:
            raise PackageNotFound(
                f"package {', '.join(missing)} not found {self.where}",
                hint="check the spelling with `apt-cache search`, or add the repository that has it",
            )
        raise CommandFailed(argv, code, output, f"apt cannot resolve {' '.join(self.request.packages)} {self.where}")

    # -- download: apt's solver, relative to what the image already has ------------------------------
    def _download_argv(self, packages: tuple[str, ...]) -> list[str]:
        return self._apt_get("--download-only", "-o", f"Dir::Cache::archives={DEB_DIR}", "install", *packages)

    def download(self, container: Container) -> Download:
        """The closure in DEB_DIR, and what apt was asked for: see _named_virtuals."""
        container.run(["mkdir", "-p", f"{DEB_DIR}/partial"], "create download directory")
        if self.request.locked:
            return self._download_locked(container)
        result, packages = self._solve(container, self._download_argv, "download")
        if result.exit_code != 0:
            self._raise_resolution_error(result.argv, result.exit_code, result.output)
        return Download(DEB_DIR, packages)

    def _solve(
        self, container: Container, argv: Callable[[tuple[str, ...]], list[str]], what: str
    ) -> tuple[Result, tuple[str, ...]]:
        """One solve of the recipe's packages (a download, a simulation, a listing); when apt refuses a
        virtual name next to a provider the recipe names, again without it (_named_virtuals)."""
        packages = self.request.packages
        result = container.run(argv(packages), what, check=False)
        if result.exit_code != 0 and (named := self._named_virtuals(result.output)):
            packages = tuple(p for p in packages if p not in named)
            result = container.run(argv(packages), what, check=False)
        return result, packages

    def resolve(self, container: Container) -> frozenset[Resolved]:
        """What download would fetch, from the same solver call with --simulate: nothing is downloaded."""
        result, _ = self._solve(container, lambda specs: self._apt_get("--simulate", "install", *specs), "simulate")
        if result.exit_code != 0:
            self._raise_resolution_error(result.argv, result.exit_code, result.output)
        return parse_simulation(result.stdout)

    def wanted(self, container: Container) -> tuple[Download | None, list[tuple[str, int, str]]]:
        """The files the download will fetch (absolute path in DEB_DIR, size, SHA256 from the signed
        index), from the same solve, nothing downloaded: what the package cache feeds first. With them,
        the download that these files complete: once each is in DEB_DIR (checked against its hash), apt
        would fetch nothing, so the closure need not solve again. (None, []) when apt cannot resolve (the
        download then says why); no Download when a file has no SHA256 (it can only be downloaded)."""
        container.run(["mkdir", "-p", f"{DEB_DIR}/partial"], "create download directory")
        if self.request.locked:
            specs = self._locked_pins()
            result = container.run(self._print_uris_argv(specs), "list the download", check=False)
        else:
            result, specs = self._solve(container, self._print_uris_argv, "list the download")
        if result.exit_code != 0:
            return None, []
        printed = parse_print_uris(result.stdout)
        files = [(f"{DEB_DIR}/{name}", size, sha256) for name, size, sha256 in printed if sha256]
        complete = len(files) == len(printed)
        return (Download(DEB_DIR, self.request.packages if self.request.locked else specs) if complete else None), files

    def _print_uris_argv(self, packages: tuple[str, ...]) -> list[str]:
        """The download's argv (same options, same solve), printing the files instead of fetching them."""
        return self._apt_get(
            "--download-only",
            "--print-uris",
            "-qq",
            "-o",
            "Acquire::ForceHash=SHA256",
            "-o",
            f"Dir::Cache::archives={DEB_DIR}",
            "install",
            *packages,
        )

    def _locked_pins(self) -> tuple[str, ...]:
        return tuple(
            f"{name}{'' if arch == 'all' else ':' + arch}={version}" for name, version, arch in self.request.locked
        )

    def _download_locked(self, container: Container) -> Download:
        """--locked: exactly the lock's versions (NAME[:ARCH]=VERSION), or an error naming those gone."""
        pins = self._locked_pins()
        result = container.run(self._download_argv(pins), "download the locked versions", check=False)
        if result.exit_code != 0:
            gone = [f"{name} {version}" for version, name in _VERSION_GONE.findall(result.output)]
            if gone:
                raise BuildError(
                    f"locked versions are gone from the repositories {self.where}: {', '.join(gone)}",
                    hint="rebuild without --locked to take the repositories' current versions",
                )
            raise CommandFailed(
                result.argv, result.exit_code, result.output, f"apt cannot install the locked versions {self.where}"
            )
        return Download(DEB_DIR, self.request.packages)

    def collect(self, container: Container, directory: str) -> Collected:
        """Each .deb's control paragraph, by file name, read with the image's own dpkg-deb."""
        script = (
            'for f in "$1"/*.deb; do [ -e "$f" ] || continue; printf "\\n@@ %s\\n" "${f##*/}"; dpkg-deb -f "$f"; done'
        )
        out = container.run(["sh", "-c", script, "sh", directory], "read package control files").stdout
        described = {}
        for chunk in out.split("\n@@ ")[1:]:
            name, _, body = chunk.partition("\n")
            paragraphs = parse_paragraphs(body)
            if paragraphs and "Package" in paragraphs[0]:
                control = paragraphs[0]
                version, arch = control.get("Version", ""), control.get("Architecture", "")
                described[name.strip()] = PackageInfo(control["Package"], version, arch, control)
        return Collected(described)

    # -- index: a flat repository (`deb [trusted=yes] file:DIR ./`) ------------------------------------
    def index(self, files: list[PackageFile], collected: Collected) -> dict[str, bytes]:
        """A `Packages` file like dpkg-scanpackages writes: each control paragraph plus location and hash."""
        paragraphs = []
        for f in sorted(files, key=lambda f: f.path.name):
            fields = dict(collected.packages[f.path.name].fields)
            fields.update({"Filename": f"./{f.path.name}", "Size": str(f.size), "SHA256": f.sha256})
            paragraphs.append(format_paragraph(fields))
        return {"Packages": "\n".join(paragraphs).encode()}

    def sources(self, container: Container, collected: Collected) -> Sources:
        """Each .deb's repository and suite (apt-cache policy) and those repositories' Release files."""
        return Sources(*apt_sources(container, collected))

    @staticmethod
    def installed_packages(container: Container) -> dict[str, str]:
        """The packages dpkg has installed: {name[:arch]: version}."""
        fmt = r"${db:Status-Abbrev} ${binary:Package} ${Version}\n"
        out = container.run(["dpkg-query", "-W", "-f", fmt], "list installed packages").stdout
        state = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "ii":
                state[parts[1]] = parts[2]
        return state

    @staticmethod
    def is_older(container: Container, version: str, than: str) -> bool:
        """dpkg's own version ordering (epochs, tildes and all)."""
        argv = ["dpkg", "--compare-versions", version, "lt", than]
        return container.run(argv, "compare versions", check=False).exit_code == 0
