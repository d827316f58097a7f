"""`vmapp-build verify BUILD --lifecycle`: the planned lifecycle (builder.lifecycle.sequence) replayed
step by step in one network-less container (builder.lifecycle.replay), timed, checked and reported."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import docker

from builder.engine import connect
from builder.errors import VerifyError
from builder.lifecycle.build import Build, load_build
from builder.lifecycle.hand import HAND_INSTALL_DRY_RUN
from builder.lifecycle.newer import newer_dependency
from builder.lifecycle.replay import Replay
from builder.lifecycle.report import LifecycleReport, Row
from builder.lifecycle.sequence import Planned, earlier_builds, plan, without_update_string
from builder.lifecycle.vm import Sh
from builder.steps import StepResult, verify_container


def verify_lifecycle(
    path: Path, image: str | None = None, client: docker.DockerClient | None = None, depth: int | None = None
) -> LifecycleReport:
    """Replay the lifecycle across the earlier builds beside `path` and it; raise LifecycleFailed (a
    VerifyError carrying the report) when a step fails or a check after one finds a problem."""
    build = load_build(path)
    builds = [*earlier_builds(build, depth), build]
    if len(builds) < 2:
        raise VerifyError(
            f"{build.directory}: no earlier build of {build.app} for {build.manifest['distro']['name']} beside it",
            hint="--lifecycle needs <root>/<app>/<older version>/<distro> builds of the same application",
        )
    client = client or connect()
    image_ref = image or build.image
    report = LifecycleReport(build.app, str(build.manifest["distro"]["name"]), image_ref, [b.version for b in builds])
    report.problems += [p for b in builds for p in b.digest_problems()]
    with verify_container(client, image_ref, network=build.online, arch=build.arch) as c:
        newer = newer_dependency(c, build, builds)
        if newer:
            report.notes.append(f"the VM had a newer {newer} than the bundle before the first step (it must be kept)")
        elif build.bundled:
            report.notes.append("no pre-existing newer dependency mixed in: verify with --image of a VM that has one")
        replay = Replay.start(c, builds[0])
        by_version = {b.version: b for b in builds}
        report.workdirs = {b.version: b.workdir for b in builds}
        steps = planned_steps(builds)
        run_steps(replay, steps, report, lambda planned: _step(replay, planned, by_version))
    if replay.owner or replay.owner_tree:
        kept = " ".join(sorted(replay.owner | replay.owner_tree))
        report.notes.append(f"the owner's hand installs, which every later step had to keep: {kept}")
    if not report.ok:
        raise report.error()
    return report


class Machine(Protocol):
    """What a lifecycle runs on (a Replay; Wine's replacement lifecycle): its commands and problems."""

    steps: list[tuple[str, StepResult]]
    problems: list[str]


def run_steps(machine: Machine, steps: list[Planned], report: LifecycleReport, do: Callable[[Planned], str]) -> None:
    """Run each step with `do` (the action and the checks after it; it returns the outcome) and time
    it; after a failed command the rest are `not run`."""
    failed = False
    for planned in steps:
        row = Row(planned.label, planned.version, report.directory(planned))
        report.rows.append(row)
        if failed:
            continue
        commands, problems, start = len(machine.steps), len(machine.problems), time.monotonic()
        try:
            row.outcome = do(planned)
        except VerifyError as exc:
            failed, row.outcome = True, "failed"
            report.problems.append(f"step {len(report.rows)} ({planned.label}): {exc.message}")
        row.seconds = time.monotonic() - start
        row.commands = [name for name, _ in machine.steps[commands:]]
        row.exit_code = _exit_code(machine.steps[commands:], failed)
        row.problems = machine.problems[problems:]
        if row.problems and row.outcome == "ok":
            row.outcome = "problems"
        report.problems += [f"step {len(report.rows)} ({planned.label}): {p}" for p in row.problems]


def _step(replay: Replay, planned: Planned, builds: dict[str, Build]) -> str:
    """One step: the extension's action, then the recipe's check (it must fail after a remove)."""
    build = builds.get(planned.version)
    if planned.action == "owner-installs":
        return _owner(replay, builds)
    assert build is not None
    check = str(build.manifest["recipe"].get("check") or "")
    if planned.action == "remove":
        replay.remove()
        if check:  # as verify's: the application's check must fail once it is removed
            result = Sh(replay.c).run(check, "/", "check after remove")
            replay.steps.append(("check after remove", result))
            if result.exit_code == 0:
                replay.problems.append(f"after {planned.label}: the check still succeeds: {check}")
        return "ok"
    if planned.action == "install":
        replay.install(build)
    else:
        replay.update(build, remove_for_update=planned.action == "remove-for-update", label=planned.label)
    if check:
        replay.run("check", check, build.workdir)
    return "ok"


def _owner(replay: Replay, builds: dict[str, Build]) -> str:
    """The owner installs one of the bundles' dependencies by hand (a tarball's owner, which has none,
    writes a file where the tarball is extracted); it must survive every later step."""
    for build in builds.values():
        if replay.family in HAND_INSTALL_DRY_RUN and build.bundled and replay.owner_dependency(build):
            return "ok"
    last = list(builds.values())[-1]
    if last.target_directory:
        replay.owner_writes(f"{last.target_directory}/owner-file-of-vmapp-verify")
        return "ok"
    return "skipped"


def _exit_code(commands: list[tuple[str, StepResult]], failed: bool) -> int | None:
    """The extension's command's exit code (the checks' are not the step's), or the failing command's."""
    ran = commands if failed else [(name, r) for name, r in commands if not name.startswith("check")]
    return ran[-1][1].exit_code if ran else None


def planned_steps(builds: list[Build]) -> list[Planned]:
    """sequence.plan for these builds (oldest first, this one last), an update to a version without an
    update string planned as the RemoveForUpdate it is."""
    by_version = {b.version: b for b in builds}
    steps = plan([b.version for b in builds[:-1]], builds[-1].version)
    return without_update_string(steps, lambda version: bool(by_version[version].command("update")))
