"""`vmapp-build verify`: replay what the VM Application extension does, with no network.

A fresh container of the build's image, the package under its packageFileName in the extension's
download directory, each command run with `/bin/sh -c` from there: install, the recipe's check,
remove, the check again (it must now fail), and the installed package set compared with the start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import docker

from builder.backends import backend_class
from builder.container import Container, Result
from builder.engine import connect, ensure_image
from builder.errors import VerifyError
from builder.files import sha256_file
from builder.lifecycle import (
    EXTENSION_DIR,
    HAND_INSTALL_DRY_RUN,
    Build,
    Replay,
    files_under,
    load_build,
    run_step,
    same_application,
)
from builder.render import LEDGER_ROOT

__all__ = ["EXTENSION_DIR", "VerifyReport", "verify"]


@dataclass
class VerifyReport:
    app: str
    version: str
    image: str
    steps: list[tuple[str, Result]] = field(default_factory=list)
    before: dict[str, str] = field(default_factory=dict)
    after_install: dict[str, str] = field(default_factory=dict)
    after_remove: dict[str, str] = field(default_factory=dict)
    tree_before: set[str] = field(default_factory=set)  # a tarball's target directory, before install
    problems: list[str] = field(default_factory=list)
    upgraded: dict[str, tuple[str, str]] = field(default_factory=dict)  # the VM's packages install upgraded
    notes: list[str] = field(default_factory=list)  # what the user should know although nothing failed
    owner: set[str] = field(default_factory=set)  # --update-from: what the replay's owner installed by hand

    @property
    def added(self) -> list[str]:
        return sorted(set(self.after_install) - set(self.before))


def verify(
    path: Path, image: str | None = None, update_from: Path | None = None, client: docker.DockerClient | None = None
) -> VerifyReport:
    """Install, check, remove and check again in a network-less container; raise VerifyError on failure.

    With `update_from`, the extension's lifecycle across both builds is replayed instead (replay_update).
    """
    build = load_build(path)
    older = load_build(update_from) if update_from else None
    if older:
        same_application(older, build)
    backend = backend_class(build.manifest["distro"]["family"], build.manifest["distro"]["name"])
    installed_packages, is_older = backend.installed_packages, backend.is_older
    client = client or connect()
    image_ref = image or str(build.manifest["image"]["id"] or build.manifest["image"]["name"])
    image_id = ensure_image(client, image_ref)
    report = VerifyReport(build.app, build.version, image_ref)
    expected = build.manifest["packages"]
    if sha256_file(build.package) != _package_digest(build):
        report.problems.append(f"{build.package} differs from the package this manifest was built with")
    check = build.manifest["recipe"].get("check")
    with Container(client, image_id, "verify", network=False) as c:
        report.before = installed_packages(c)
        _check_baseline(build, report)
        if older:
            replay_update(c, older, build, report)
            _upgrades(report)
            return report
        c.put_file(build.package, build.workdir, build.package.name)
        tree = build.manifest.get("tarball", {}).get("directory")
        report.tree_before = _tree(c, tree) if tree else set()
        _step(c, report, "install", build.command("install"), build.workdir)
        report.after_install = installed_packages(c)
        if tree and not _tree(c, tree) - report.tree_before:
            report.problems.append(f"install extracted nothing into {tree}")
        for name, old in report.before.items():
            new = report.after_install.get(name)
            if new and new != old:
                if is_older(c, new, old):
                    report.problems.append(f"install downgraded {name} from {old} to {new}")
                else:
                    report.upgraded[name] = (old, new)
        missing = [p["name"] for p in expected if p["name"] not in _names(report.after_install)]
        if missing:
            report.problems.append(f"bundled packages not installed: {', '.join(missing)}")
        if check:
            _step(c, report, "check", check, build.workdir)
        _step(c, report, "remove", build.command("remove"), build.workdir)
        if check:
            result = c.run(["/bin/sh", "-c", check], "check after remove", check=False, workdir=build.workdir)
            report.steps.append(("check after remove", result))
            if result.exit_code == 0:
                report.problems.append(f"the check still succeeds after remove: {check}")
        report.after_remove = installed_packages(c)
        ledger = f"{LEDGER_ROOT}/{build.app}"
        if c.run(["test", "-e", ledger], "look for the ledger", check=False).exit_code == 0:
            report.problems.append(f"remove left its ledger {ledger}")
        if tree and (changed := sorted(_tree(c, tree) ^ report.tree_before)):
            report.problems.append(f"remove did not restore {tree}: {' '.join(changed[:12])}")
    left = sorted(set(report.after_remove) - set(report.before))
    gone = sorted(set(report.before) - set(report.after_remove))
    _upgrades(report)
    if left:
        report.problems.append(f"remove left packages installed: {' '.join(left)}")
    if gone:
        report.problems.append(f"remove took out packages the VM had before: {' '.join(gone)}")
    if report.problems:
        raise VerifyError(
            f"verification of {build.app} {build.version} failed:\n" + "\n".join(f"  - {p}" for p in report.problems)
        )
    return report


def replay_update(c: Container, older: Build, build: Build, report: VerifyReport) -> None:
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
    if report.problems:
        raise VerifyError(
            f"verification of {build.app} {older.version} -> {build.version} failed:\n"
            + "\n".join(f"  - {p}" for p in report.problems)
        )


def _upgrades(report: VerifyReport) -> None:
    """Upgrades stay after remove (it never downgrades): the user should know which."""
    if report.upgraded:
        shown = ", ".join(f"{n} {a} -> {b}" for n, (a, b) in sorted(report.upgraded.items()))
        report.notes.append(f"install upgraded packages the VM had, and remove leaves them upgraded: {shown}")


def _tree(c: Container, directory: str) -> set[str]:
    """Every path under `directory` (for tarball payloads: what remove must restore)."""
    return files_under(c, directory)


def _check_baseline(build: Build, report: VerifyReport) -> None:
    """A bundle resolved against a VM's baseline needs what that VM has: say so before installing."""
    baseline = build.manifest.get("baseline", {})
    if baseline.get("kind") != "file":
        return
    have = _names(report.before)
    lacking = sorted(name for name in baseline["packages"] if name.split(":", 1)[0] not in have)
    if lacking:
        shown = ", ".join(lacking[:12]) + (", ..." if len(lacking) > 12 else "")
        raise VerifyError(
            f"{report.image} lacks {len(lacking)} packages of the baseline {baseline['source']} that the "
            f"bundle relies on: {shown}",
            hint="verify on an image with the target VM's packages: --image",
        )


def _step(c: Container, report: VerifyReport, name: str, command: str, workdir: str) -> None:
    what = f"verification of {report.app} {report.version}"
    run_step(c, report.steps, name, command, workdir, what, report.problems, f"image {report.image}, no network")


def _package_digest(build: Build) -> str:
    return str(build.manifest.get("package", {}).get("sha256", ""))


def _names(state: dict[str, str]) -> set[str]:
    return {name.split(":", 1)[0] for name in state}
