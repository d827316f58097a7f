"""`verify --lifecycle` for Windows builds, under Wine in one network-less container.

A Windows version has no update string, so every update is Azure's replacement, as the extension's code
runs RemoveForUpdate (shared/AZURE.md, observed on the Linux extension and assumed the same here): the new
package's bytes under the OLD packageFileName in the OLD download directory, the old remove string run
there, then the new install in the new directory. The steps are builder.lifecycle.sequence's (no owner
hand install: Windows has no package manager to install a bundle's file with). After each install the
installers' checks must pass; after each remove they must fail and the programs registered under the
Uninstall key must be those of the start (what the VM had stays, nothing of the application is left).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import docker

from builder.container import Container
from builder.engine import connect
from builder.errors import VerifyError
from builder.lifecycle.build import Build
from builder.lifecycle.report import LifecycleReport
from builder.lifecycle.run import planned_steps, run_steps
from builder.lifecycle.sequence import Planned, earlier_builds
from builder.steps import Built, StepResult, Steps, verify_container
from builder.windows.verify import EXTENSION_DIR, IMAGE_HINT, download_dir
from builder.windows.wine import Wine, unix_path

UNINSTALL = r"HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall"


@dataclass
class WineLifecycle:
    """One application's versions replaced, removed and reinstalled in one Wine prefix."""

    c: Container
    app: str
    steps: list[tuple[str, StepResult]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    programs: set[str] = field(default_factory=set)  # the Uninstall key's entries at the start

    def start(self) -> None:
        self.programs = self.registered()

    def do(self, planned: Planned, builds: Mapping[str, Built]) -> str:
        if planned.action == "owner-installs":
            return "skipped"
        build = builds[planned.version]
        if planned.action == "remove":
            self._run(planned.label, build.command("remove"), _dir(build))
            self.c.run(["rm", "-rf", unix_path(_dir(build))], "delete the download directory")
            for check in _checks(build):
                self._steps().must_fail("check after remove", check, "C:\\")
            if changed := sorted(self.registered() ^ self.programs):
                self.problems.append(f"after {planned.label}: the Uninstall key differs from the start: {changed}")
            return "ok"
        if planned.action != "install":  # update, remove-for-update: Azure's replacement
            old = builds[planned.source]
            self._download(build, _dir(old), old.package.name)
            self._run(f"remove-for-update {old.version}", old.command("remove"), _dir(old))
        self._download(build, _dir(build), build.package.name)
        self._run(f"install {build.version}", build.command("install"), _dir(build))
        for check in _checks(build):
            self._run("check", check, _dir(build))
        if lost := sorted(self.programs - self.registered()):
            self.problems.append(f"after {planned.label}: programs the VM had are no longer registered: {lost}")
        return "ok"

    def registered(self) -> set[str]:
        result = Wine(self.c).run(f'reg query "{UNINSTALL}"', "C:\\", "list the installed programs")
        return {line.strip() for line in result.stdout.splitlines() if line.strip().upper().startswith("HKEY")}

    def _download(self, build: Built, directory: str, name: str) -> None:
        self.c.put_file(build.package, unix_path(directory), name)

    def _run(self, name: str, command: str, workdir: str) -> None:
        self._steps().run(name, command, workdir)

    def _steps(self) -> Steps:
        return Steps(Wine(self.c), self, f"lifecycle replay of {self.app}", "under Wine, no network")


def verify_windows_lifecycle(
    path: Path, image: str | None = None, client: docker.DockerClient | None = None, depth: int | None = None
) -> LifecycleReport:
    """The lifecycle across the earlier Windows builds beside `path` and it; raise LifecycleFailed."""
    build = Build.load(path)  # a Windows build, in the Linux replay's class: only its Built part is used
    builds = [*earlier_builds(build, depth), build]
    if len(builds) < 2:
        raise VerifyError(
            f"{build.directory}: no earlier build of {build.app} for windows beside it",
            hint="--lifecycle needs <root>/<app>/<older version>/windows builds of the same application",
        )
    image_ref = image or build.image
    report = LifecycleReport(build.app, "windows", image_ref, [b.version for b in builds], extension_dir=EXTENSION_DIR)
    report.workdirs = {b.version: _dir(b) for b in builds}
    report.problems += [p for b in builds for p in b.digest_problems()]
    report.notes.append("Windows has no package manager: no owner's hand install and no newer dependency mixed in")
    by_version = {b.version: b for b in builds}
    with verify_container(client or connect(), image_ref, IMAGE_HINT) as c:
        machine = WineLifecycle(c, build.app)
        machine.start()
        steps = planned_steps(builds)  # Windows has no update string: every update is a RemoveForUpdate
        run_steps(machine, steps, report, lambda planned: machine.do(planned, by_version))
    if not report.ok:
        raise report.error()
    return report


def _dir(build: Built) -> str:
    return download_dir(build.app, build.version)


def _checks(build: Built) -> list[str]:
    return [str(c) for c in build.manifest["recipe"].get("checks", [])]
