"""`vmapp-build verify` of a split closure (builder.split): every part installed in order, offline, by
the extension's own rules (builder.simulate), then all removed, and the VM compared with the start."""

from __future__ import annotations

from pathlib import Path

import docker

from builder.backends import backend_class
from builder.container import Container
from builder.engine import connect
from builder.errors import VerifyError
from builder.lifecycle.build import bare
from builder.lifecycle.verify import PackageReport
from builder.lifecycle.vm import Sh
from builder.manifest import load_manifest
from builder.render import LEDGER_ROOT
from builder.simulate.extension import Desired, Extension, GoalStateResult
from builder.simulate.plan import Served, version_of
from builder.simulate.run_linux import LinuxVM
from builder.split import part_directories, store_dir
from builder.steps import Built, Steps, raise_problems, tail, verify_container


def verify_split(path: Path, image: str | None = None, client: docker.DockerClient | None = None) -> PackageReport:
    """Install every part in order (one goal state), check, remove them all (the next), check again;
    raise VerifyError on failure."""
    directory, manifest = load_manifest(path)
    parts = [Built.load(d) for d in part_directories(directory, manifest)]
    last = parts[-1]
    app = str(manifest["split"]["application"])
    image_ref = image or last.image
    report = PackageReport(app, last.version, image_ref, "", f"offline in {image_ref}, {len(parts)} parts in order")
    for part in parts:
        report.problems += part.digest_problems()
    installed = backend_class(str(manifest["distro"]["family"]), str(manifest["distro"]["name"])).installed_packages
    with verify_container(client or connect(), image_ref) as c:
        vm, extension = LinuxVM(c), Extension()
        vm.served = {p.app: Served(p.package) for p in parts}
        report.before = installed(c)
        desired = [Desired(version_of(p.manifest), order, True) for order, p in enumerate(parts, 1)]
        _apply(extension, vm, desired, report, "install")
        report.after_install = installed(c)
        missing = [p["name"] for p in manifest["packages"] if p["name"] not in bare(report.after_install)]
        if missing:
            report.problems.append(f"bundled packages not installed: {', '.join(missing)}")
        check = manifest["recipe"].get("check")
        steps = Steps(Sh(c), report, f"verification of {app} {last.version}", f"image {image_ref}, no network")
        if check:
            steps.run("check", check, vm.workdir(desired[-1].version))
        _apply(extension, vm, [], report, "remove")
        if check:
            steps.must_fail("check after remove", check, "/")
        report.after_remove = installed(c)
        _left_behind(c, app, report)
    left = sorted(set(report.after_remove) - set(report.before))
    gone = sorted(set(report.before) - set(report.after_remove))
    if left:
        report.problems.append(f"removing the parts left packages installed: {' '.join(left)}")
    if gone:
        report.problems.append(f"removing the parts took out packages the VM had before: {' '.join(gone)}")
    raise_problems(f"verification of {app} {last.version} ({len(parts)} parts) failed", report.problems)
    return report


def _apply(extension: Extension, vm: LinuxVM, desired: list[Desired], report: PackageReport, what: str) -> None:
    """One goal state; each command it ran becomes a step; a failed one is a VerifyError with its output."""
    vm.commands = []
    result: GoalStateResult = extension.apply(desired, vm)
    report.steps += [(f"{run.operation} {run.app}", run) for run in vm.commands]
    failed = [o for o in result.passes[-1].outcomes if o.result not in ("success", "forgotten")]
    if failed:
        runs = {(r.app, r.operation): r for r in vm.commands}
        shown = []
        for o in failed:
            run = runs.get((o.app, o.operation))
            output = f"\n--- stdout ---\n{tail(run.stdout)}\n--- stderr ---\n{tail(run.stderr)}" if run else ""
            shown.append(f"{o.operation} of {o.app} {o.version}: {o.result} {o.detail}{output}")
        raise VerifyError(f"{what} of the parts failed:\n" + "\n".join(shown))


def _left_behind(c: Container, app: str, report: PackageReport) -> None:
    """The ledger and the parts' store must be gone once every part is removed."""
    for where in (f"{LEDGER_ROOT}/{app}", store_dir(app)):
        if c.run(["test", "-e", where], "look for what remove leaves", check=False).exit_code == 0:
            report.problems.append(f"removing the parts left {where}")
