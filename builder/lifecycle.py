"""Replay the VM Application extension's lifecycle in one network-less container.

The extension's own code (shared/AZURE.md, "The lifecycle"): each version runs in
`<EXTENSION_DIR>/<app>/<version>`, mode 0700, with the package saved under packageFileName. Update runs
the new version's update string in the new directory; without one, RemoveForUpdate runs the OLD remove
string in the OLD directory after the package file there was overwritten with the NEW bytes, then the
new install in the new directory. Remove runs the current version's remove string in its directory and
deletes that directory only: older directories stay, also across a reinstall. The owner may install
packages by hand at any time. After each step the package set (and, for tarballs, the files under the
target directory) is checked against what it must be: the VM's own packages and the owner's always
stay, never downgraded; while the application is installed its version's bundle is installed and
nothing beyond what some version since the last remove bundled; after remove, exactly the VM's and
the owner's packages and files are left, and the ledger is gone.
"""

from __future__ import annotations

import gzip
import io
import shlex
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from builder.backends import backend_class
from builder.container import Container, Result
from builder.errors import InputError, VerifyError
from builder.manifest import load_manifest
from builder.render import LEDGER_ROOT

EXTENSION_DIR = "/var/lib/waagent/Microsoft.CPlat.Core.VMApplicationManagerLinux"

# How the VM's owner installs a package file by hand, with the VM's own package manager, offline;
# and the same as a dry run (does it install on its own, with what the VM has?).
HAND_INSTALL: dict[str, list[str]] = {
    "apt": ["apt-get", "-q", "-y", "install"],
    "dnf": ["dnf", "-q", "-y", "--noplugins", "install"],
    "zypper": ["zypper", "--non-interactive", "--no-gpg-checks", "install"],
}
HAND_INSTALL_DRY_RUN: dict[str, list[str]] = {
    "apt": ["apt-get", "-q", "-s", "install"],
    "dnf": ["dnf", "-q", "-y", "--noplugins", "--setopt=tsflags=test", "install"],
    "zypper": ["zypper", "--non-interactive", "--no-gpg-checks", "install", "--dry-run"],
}


@dataclass(frozen=True)
class Build:
    """One built application version, as the replay needs it."""

    directory: Path
    manifest: dict[str, Any]

    @property
    def app(self) -> str:
        return str(self.manifest["application"]["name"])

    @property
    def version(self) -> str:
        return str(self.manifest["application"]["version"])

    @property
    def workdir(self) -> str:
        return f"{EXTENSION_DIR}/{self.app}/{self.version}"

    @property
    def package(self) -> Path:
        return self.directory / str(self.manifest["packageFileName"])

    @property
    def family(self) -> str:
        return str(self.manifest["distro"]["family"])

    @property
    def bundled(self) -> set[str]:
        """Names of the packages the bundle carries."""
        return {str(p["name"]) for p in self.manifest.get("packages", [])}

    @property
    def target_directory(self) -> str | None:
        directory = self.manifest.get("tarball", {}).get("directory")
        return str(directory) if directory else None

    def command(self, name: str) -> str:
        return str(self.manifest["commands"].get(name) or "")

    def bundled_file(self, name: str) -> tuple[str, bytes]:
        """The bundle's file of package `name` (what an owner could install by hand)."""
        files = [p["file"] for p in self.manifest.get("packages", []) if p["name"] == name]
        if not files:
            raise InputError(f"{self.directory}: the bundle has no package {name!r}")
        with gzip.open(self.package) as gz, tarfile.open(fileobj=io.BytesIO(gz.read())) as tar:
            member = tar.extractfile(files[0])
            assert member is not None
            return files[0], member.read()


def load_build(path: Path) -> Build:
    directory, manifest = load_manifest(path)
    build = Build(directory, manifest)
    if not build.package.is_file():
        raise InputError(f"{build.package}: the package named by the manifest is missing")
    return build


def bare(state: dict[str, str] | set[str]) -> set[str]:
    """Package names without their architecture (`libc6:amd64` -> `libc6`)."""
    return {name.split(":", 1)[0] for name in state}


@dataclass
class Replay:
    """One application's lifecycle in one container, checked after every step.

    `problems` collects what a check found; `steps` every command run, with its result.
    """

    c: Container
    app: str
    family: str
    watch: str | None = None  # tarballs: the existing directory whose tree remove must restore
    current: Build | None = None
    steps: list[tuple[str, Result]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    base: dict[str, str] = field(default_factory=dict)
    base_tree: set[str] = field(default_factory=set)
    owner: set[str] = field(default_factory=set)  # package names the owner's hand installs added
    owner_tree: set[str] = field(default_factory=set)
    since_remove: set[str] = field(default_factory=set)
    upgraded: dict[str, tuple[str, str]] = field(default_factory=dict)  # the VM's packages install upgraded

    @classmethod
    def start(cls, c: Container, first: Build) -> Replay:
        """Record the VM's state before anything of the application runs."""
        replay = cls(c, first.app, first.family)
        if first.target_directory:
            replay.watch = _watched(c, first.target_directory)
            replay.base_tree = replay.tree()
        replay.base = replay.packages()
        return replay

    # -- the extension's steps -------------------------------------------------------------------

    def install(self, build: Build, label: str = "") -> None:
        self._download(build, build.workdir, build.package.name)
        self.run(label or f"install {build.version}", build.command("install"), build.workdir)
        self._now(build)

    def update(self, build: Build, remove_for_update: bool = False, label: str = "") -> None:
        """Update the current version to `build`: its update string, or RemoveForUpdate when it has
        none (or when asked to)."""
        old = self._current()
        if build.command("update") and not remove_for_update:
            self._download(build, build.workdir, build.package.name)
            self.run(label or f"update {old.version} -> {build.version}", build.command("update"), build.workdir)
        else:
            self._download(build, old.workdir, old.package.name)  # the NEW bytes under the OLD name
            self.run(f"remove-for-update {old.version}", old.command("remove"), old.workdir)
            self._download(build, build.workdir, build.package.name)
            self.run(f"install {build.version} (after remove-for-update)", build.command("install"), build.workdir)
        self._now(build)

    def remove(self) -> None:
        old = self._current()
        self.run(f"remove {old.version}", old.command("remove"), old.workdir)
        self.c.run(["rm", "-rf", old.workdir], "delete the download directory")
        self.current = None
        self.since_remove = set()
        self.check()

    def hand_install(self, file_name: str, content: bytes, package: str = "") -> set[str]:
        """The owner installs a package file with the VM's package manager; returns what it added.

        `package` names the file's package when it may be installed already (it is the owner's then)."""
        self.c.put_bytes(content, "/root/owner", file_name)
        return self.hand_install_path(f"/root/owner/{file_name}", package)

    def owner_dependency(self, build: Build) -> set[str]:
        """The owner installs, by hand, one of the bundle's dependencies (not a recipe package) that
        installs offline on its own: the first that does, in name order; what it added, or nothing."""
        recipe = {p.split("=", 1)[0].split(":", 1)[0] for p in build.manifest["recipe"]["packages"]}
        for name in sorted(build.bundled - recipe):
            file_name, content = build.bundled_file(name)
            self.c.put_bytes(content, "/root/owner", file_name)
            argv = [*HAND_INSTALL_DRY_RUN[self.family], f"/root/owner/{file_name}"]
            if self.c.run(argv, "simulate a hand install", check=False).exit_code == 0:
                return self.hand_install_path(f"/root/owner/{file_name}")
        return set()

    def hand_install_path(self, path: str, package: str = "") -> set[str]:
        """The same for a package file already in the container."""
        before = bare(self.packages())
        self.owner |= {package} - {""}
        self.run(f"owner installs {PurePosixPath(path).name}", shlex.join([*HAND_INSTALL[self.family], path]), "/root")
        added = bare(self.packages()) - before
        self.owner |= added
        self.check()
        return added

    def owner_writes(self, path: str) -> None:
        """The owner creates a file (e.g. inside a directory a tarball's install created)."""
        before = self.tree()
        self.run(
            f"owner writes {path}",
            f"mkdir -p {shlex.quote(str(PurePosixPath(path).parent))} && echo owner >{shlex.quote(path)}",
            "/root",
        )
        self.owner_tree |= self.tree() - before
        self.check()

    # -- state and checks ------------------------------------------------------------------------

    def packages(self) -> dict[str, str]:
        return backend_class(self.family, "").installed_packages(self.c)

    def tree(self) -> set[str]:
        if not self.watch:
            return set()
        return files_under(self.c, self.watch)

    def ledger_exists(self) -> bool:
        return (
            self.c.run(["test", "-e", f"{LEDGER_ROOT}/{self.app}"], "look for the ledger", check=False).exit_code == 0
        )

    def check(self) -> None:
        """Compare the VM with what it must be now; record problems (fail_on_problems raises them)."""
        now = self.packages()
        names, base = bare(now), bare(self.base)
        where = self.steps[-1][0] if self.steps else "start"
        self._versions(now, where)
        if self.current is None:
            expected = base | self.owner
            self._differs(where, "installed", sorted(names - expected))
            self._differs(where, "missing", sorted(expected - names))
            if self.ledger_exists():
                self.problems.append(f"after {where}: the ledger {LEDGER_ROOT}/{self.app} is still there")
            # the owner's files stay, and so do the directories they are in
            kept = (
                self.base_tree | self.owner_tree | {str(a) for p in self.owner_tree for a in PurePosixPath(p).parents}
            )
            tree = self.tree()
            if self.watch and (changed := sorted((tree - kept) | (self.base_tree | self.owner_tree) - tree)):
                self.problems.append(f"after {where}: {self.watch} differs from before: {' '.join(changed[:12])}")
            return
        required = base | self.owner | self.current.bundled
        allowed = required | self.since_remove
        self._differs(where, "missing", sorted(required - names))
        self._differs(
            where, "installed although no version since the last remove bundles them", sorted(names - allowed)
        )
        if self.watch and self.current.target_directory and not self.tree() - self.base_tree:
            self.problems.append(f"after {where}: nothing extracted into {self.current.target_directory}")

    def fail_on_problems(self) -> None:
        if self.problems:
            raise VerifyError(
                f"lifecycle replay of {self.app} failed ({', '.join(n for n, _ in self.steps)}):\n"
                + "\n".join(f"  - {p}" for p in self.problems)
            )

    # -- internals -------------------------------------------------------------------------------

    def _current(self) -> Build:
        if self.current is None:
            raise VerifyError(f"lifecycle replay of {self.app}: no version is installed")
        return self.current

    def _now(self, build: Build) -> None:
        self.current = build
        self.since_remove |= build.bundled
        self.check()

    def _download(self, build: Build, directory: str, name: str) -> None:
        """What the extension's download does: the package under `name`, directory and file mode 0700."""
        self.c.run(["mkdir", "-p", "-m", "0700", directory], "create the download directory")
        self.c.put_file(build.package, directory, name)
        self.c.run(["chmod", "0700", directory, f"{directory}/{name}"], "set the download mode")

    def run(self, name: str, command: str, workdir: str) -> None:
        """Run a command string as the extension does (`/bin/sh -c` in `workdir`); fail on non-zero."""
        run_step(self.c, self.steps, name, command, workdir, f"lifecycle replay of {self.app}", self.problems)

    def _versions(self, now: dict[str, str], where: str) -> None:
        """The VM's own packages are never downgraded; upgrades are remembered (remove keeps them)."""
        is_older = backend_class(self.family, "").is_older
        for name, old in self.base.items():
            new = now.get(name)
            if not new or new == old:
                continue
            if is_older(self.c, new, old):
                if not any(f": {name} was downgraded from" in p for p in self.problems):
                    self.problems.append(f"after {where}: {name} was downgraded from {old} to {new}")
            else:
                self.upgraded[name] = (old, new)

    def _differs(self, where: str, what: str, names: list[str]) -> None:
        if names:
            self.problems.append(f"after {where}: {what}: {' '.join(names)}")


def files_under(c: Container, directory: str) -> set[str]:
    """Every path under `directory`, a symlink with its target: one a tarball's install replaced by a
    directory of the same name (GNU tar does, unless told not to) must not compare equal."""
    script = 'if [ -d "$1" ]; then find "$1" -xdev \\( -type l -printf "%p -> %l\\n" \\) -o -print; fi'
    return set(c.run(["sh", "-c", script, "sh", directory], "list files").stdout.splitlines())


def same_application(older: Build, build: Build) -> None:
    """--update-from replays an update of one application on one VM: the same name (the ledger is
    per application), the same distro (a VM keeps its release) and another version."""
    for what, old, new in (
        ("application", older.app, build.app),
        ("distro", older.manifest["distro"]["name"], build.manifest["distro"]["name"]),
    ):
        if old != new:
            raise InputError(
                f"--update-from {older.directory}: that build is of {what} {old}, this one of {new}:"
                " an update replaces a version of the same application on the same VM",
                hint=f"give an older build of {build.app} for {build.manifest['distro']['name']}",
            )
    if older.version == build.version:
        raise InputError(
            f"--update-from {older.directory}: that build is version {older.version} too: an update changes"
            " the version",
            hint=f"give an older version of {build.app}",
        )


def _watched(c: Container, directory: str) -> str:
    """The nearest existing ancestor of a tarball's directory (its top-level one when that is /)."""
    script = 'd=$1; while [ -n "$d" ] && [ ! -d "$d" ]; do d=${d%/*}; done; printf %s "$d"'
    found = c.run(["sh", "-c", script, "sh", directory], "find the target's existing ancestor").stdout
    return found or "/" + PurePosixPath(directory).parts[1]


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty)"


def run_step(
    c: Container,
    steps: list[tuple[str, Result]],
    name: str,
    command: str,
    workdir: str,
    what: str,
    problems: list[str],
    where: str = "no network",
) -> None:
    """One command string run as the extension runs it (`/bin/sh -c` in `workdir`), kept in `steps`;
    a non-zero exit is a VerifyError with the output's tail and the problems seen so far."""
    result = c.run(["/bin/sh", "-c", command], name, check=False, workdir=workdir)
    steps.append((name, result))
    if result.exit_code != 0:
        raise VerifyError(
            f"{what} failed: {name} exited with {result.exit_code} (in {workdir}, {where})\n"
            f"--- stdout ---\n{tail(result.stdout)}\n--- stderr ---\n{tail(result.stderr)}"
            + "".join(f"\nalso: {p}" for p in problems)
        )
