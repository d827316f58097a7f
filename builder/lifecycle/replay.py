"""The extension's lifecycle replayed in one network-less container, checked after every step."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from builder.backends import backend_class
from builder.container import Container
from builder.errors import VerifyError
from builder.lifecycle.build import Build, bare
from builder.lifecycle.hand import HAND_INSTALL, HAND_INSTALL_DRY_RUN
from builder.lifecycle.vm import Sh, files_under, watched
from builder.render import LEDGER_ROOT
from builder.steps import StepResult, Steps, raise_problems


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
    steps: list[tuple[str, StepResult]] = field(default_factory=list)
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
            replay.watch = watched(c, first.target_directory)
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
        for name in sorted(build.bundled - recipe - bare(self.packages())):
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
            self._missing(where, sorted(expected - names))
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
        self._missing(where, sorted(required - names))
        self._differs(
            where, "installed although no version since the last remove bundles them", sorted(names - allowed)
        )
        if self.watch and self.current.target_directory and not self.tree() - self.base_tree:
            self.problems.append(f"after {where}: nothing extracted into {self.current.target_directory}")

    def fail_on_problems(self) -> None:
        raise_problems(f"lifecycle replay of {self.app} failed ({', '.join(n for n, _ in self.steps)})", self.problems)

    # -- internals -------------------------------------------------------------------------------

    def _current(self) -> Build:
        if self.current is None:
            raise VerifyError(f"lifecycle replay of {self.app}: no version is installed")
        return self.current

    def _now(self, build: Build) -> None:
        self.current = build
        self.since_remove |= build.bundled | build.fetched
        self.check()

    def _download(self, build: Build, directory: str, name: str) -> None:
        """What the extension's download does: the package under `name`, directory and file mode 0700."""
        self.c.run(["mkdir", "-p", "-m", "0700", directory], "create the download directory")
        self.c.put_file(build.package, directory, name)
        self.c.run(["chmod", "0700", directory, f"{directory}/{name}"], "set the download mode")

    def run(self, name: str, command: str, workdir: str) -> None:
        """Run a command string as the extension does (`/bin/sh -c` in `workdir`); fail on non-zero."""
        Steps(Sh(self.c), self, f"lifecycle replay of {self.app}", "no network").run(name, command, workdir)

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

    def _missing(self, where: str, names: list[str]) -> None:
        """Packages that must be there and are not, with what the VM had: its own at a version, the
        owner's hand installs, or the installed version's bundle."""
        if not names:
            return
        had = {name.split(":", 1)[0]: version for name, version in self.base.items()}
        whose = [
            f"{n} {had[n]} before the first step"
            if n in had
            else f"{n} installed by its owner"
            if n in self.owner
            else f"{n} from the bundle of {self.current.version if self.current else '?'}"
            for n in names
        ]
        self.problems.append(f"after {where}: missing: {' '.join(names)} (the VM had {', '.join(whose)})")
