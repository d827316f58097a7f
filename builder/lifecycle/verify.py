"""`vmapp-build verify` for the Linux targets: replay what the VM Application extension does, with no network.

A fresh container of the build's image, the package under its packageFileName in the extension's
download directory, each command run with `/bin/sh -c` from there: install, the recipe's check,
remove, the check again (it must now fail), and the installed package set compared with the start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import docker

from builder.backends import backend_class
from builder.container import Container
from builder.engine import connect
from builder.errors import VerifyError
from builder.lifecycle.build import Build, bare, load_build, same_application
from builder.lifecycle.hand import HAND_INSTALL_DRY_RUN
from builder.lifecycle.replay import Replay
from builder.lifecycle.vm import Sh, files_under
from builder.render import LEDGER_ROOT
from builder.steps import Steps, VerifyReport, install_check_remove, raise_problems, verify_container


@dataclass
class PackageReport(VerifyReport):
    """The report, with the VM's package sets along the way."""

    before: dict[str, str] = field(default_factory=dict)
    after_install: dict[str, str] = field(default_factory=dict)
    after_remove: dict[str, str] = field(default_factory=dict)
    upgraded: dict[str, tuple[str, str]] = field(default_factory=dict)  # the VM's packages install upgraded
    owner: set[str] = field(default_factory=set)  # --update-from: what the replay's owner installed by hand

    @property
    def added(self) -> list[str]:
        return sorted(set(self.after_install) - set(self.before))

    def outcomes(self) -> list[str]:
        return [f"{len(self.added)} packages added and removed"]


def verify_packages(
    path: Path, image: str | None = None, update_from: Path | None = None, client: docker.DockerClient | None = None
) -> PackageReport:
    """Install, check, remove and check again in a network-less container; raise VerifyError on failure.

    With `update_from`, the extension's lifecycle across both builds is replayed instead (replay_update).
    """
    build = load_build(path)
    older = load_build(update_from) if update_from else None
    if older:
        same_application(older, build)
    client = client or connect()
    image_ref = image or build.image
    report = PackageReport(
        build.app, build.version, image_ref, build.workdir, f"{'online' if build.online else 'offline'} in {image_ref}"
    )
    report.problems += build.digest_problems()
    with verify_container(client, image_ref, network=build.online, arch=build.arch) as c:
        report.before = _installed(c, build)
        _check_baseline(build, report)
        if older:
            replay_update(c, older, build, report)
            _upgrades(report)
            return report
        _install_and_remove(c, build, report)
    left = sorted(set(report.after_remove) - set(report.before))
    gone = sorted(set(report.before) - set(report.after_remove))
    _upgrades(report)
    if left:
        report.problems.append(f"remove left packages installed: {' '.join(left)}")
    if gone:
        report.problems.append(f"remove took out packages the VM had before: {' '.join(gone)}")
    raise_problems(f"verification of {build.app} {build.version} failed", report.problems)
    return report


def _install_and_remove(c: Container, build: Build, report: PackageReport) -> None:
    """The extension's install and remove, then what remove must have restored: packages, ledger, files."""
    steps = Steps(
        Sh(c),
        report,
        f"verification of {build.app} {build.version}",
        f"image {report.image}, {'its own network' if build.online else 'no network'}",
    )
    tree = build.target_directory
    tree_before = files_under(c, tree) if tree else set()
    check = build.manifest["recipe"].get("check")
    install_check_remove(
        steps, build, build.workdir, [check] if check else [], lambda: _after_install(c, build, report, tree_before)
    )
    report.after_remove = _installed(c, build)
    ledger = f"{LEDGER_ROOT}/{build.app}"
    if c.run(["test", "-e", ledger], "look for the ledger", check=False).exit_code == 0:
        report.problems.append(f"remove left its ledger {ledger}")
    if tree and (changed := sorted(files_under(c, tree) ^ tree_before)):
        report.problems.append(f"remove did not restore {tree}: {' '.join(changed[:12])}")


def _after_install(c: Container, build: Build, report: PackageReport, tree_before: set[str]) -> None:
    """Install extracted the tarball, kept the VM's packages (never downgraded) and installed the bundle."""
    report.after_install = _installed(c, build)
    tree = build.target_directory
    if tree and not files_under(c, tree) - tree_before:
        report.problems.append(f"install extracted nothing into {tree}")
    is_older = backend_class(build.family, build.manifest["distro"]["name"]).is_older
    for name, old in report.before.items():
        new = report.after_install.get(name)
        if new and new != old:
            if is_older(c, new, old):
                report.problems.append(f"install downgraded {name} from {old} to {new}")
            else:
                report.upgraded[name] = (old, new)
    missing = [p["name"] for p in build.manifest["packages"] if p["name"] not in bare(report.after_install)]
    if missing:
        report.problems.append(f"bundled packages not installed: {', '.join(missing)}")


def replay_update(c: Container, older: Build, build: Build, report: PackageReport) -> None:
    """The extension's lifecycle across two versions, checked after every step (builder.lifecycle):
    install OLDER, update to BUILD (its update string), check, remove; the owner installs one of the
    bundle's dependencies by hand; install OLDER again (its stale directory is still there; a tarball's
    owner then adds a file where it was extracted), update by
    RemoveForUpdate (OLDER's remove with BUILD's bytes under OLDER's name), check, remove. The owner's
    package must survive, and each remove must leave the VM as it was."""
    replay = Replay.start(c, older)
    check = build.manifest["recipe"].get("check")
    try:
        replay.install(older, label="install (older version)")
        replay.update(build, label="update")
        report.after_install = replay.packages()
        if check:
            replay.run("check", check, build.workdir)
        replay.remove()
        if older.family in HAND_INSTALL_DRY_RUN:
            replay.owner_dependency(older)
        replay.install(older, label="install (older version, again)")
        if older.target_directory:  # a file of the owner's where the tarball goes: remove must keep it
            replay.owner_writes(f"{older.target_directory}/owner-file-of-vmapp-verify")
        replay.update(build, remove_for_update=True)
        if check:
            replay.run("check (after remove-for-update)", check, build.workdir)
        replay.remove()
    finally:
        report.steps = replay.steps
        report.after_remove = replay.packages()
        report.upgraded |= replay.upgraded
        report.owner = replay.owner
        report.problems += replay.problems
    raise_problems(f"verification of {build.app} {older.version} -> {build.version} failed", report.problems)


def _upgrades(report: PackageReport) -> None:
    """Upgrades stay after remove (it never downgrades): the user should know which."""
    if report.upgraded:
        shown = ", ".join(f"{n} {a} -> {b}" for n, (a, b) in sorted(report.upgraded.items()))
        report.notes.append(f"install upgraded packages the VM had, and remove leaves them upgraded: {shown}")


def _check_baseline(build: Build, report: PackageReport) -> None:
    """A bundle resolved against a VM's baseline needs what that VM has: say so before installing."""
    baseline = build.manifest.get("baseline", {})
    if baseline.get("kind") != "file":
        return
    have = bare(report.before)
    lacking = sorted(name for name in baseline["packages"] if name.split(":", 1)[0] not in have)
    if lacking:
        shown = ", ".join(lacking[:12]) + (", ..." if len(lacking) > 12 else "")
        raise VerifyError(
            f"{report.image} lacks {len(lacking)} packages of the baseline {baseline['source']} that the "
            f"bundle relies on: {shown}",
            hint="verify on an image with the target VM's packages: --image",
        )


def _installed(c: Container, build: Build) -> dict[str, str]:
    return backend_class(build.family, build.manifest["distro"]["name"]).installed_packages(c)
