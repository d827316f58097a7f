"""The VM Application extension's goal-state rules, as its own code runs them (pure: no I/O).

Read from Azure/VMApplication-Extension, `internal/actionplan` (actionplan.go, executehelper.go):
- the registry records one version per application, with the operation it is in (or NoAction,
  Failed, Skipped) and how many reboots interrupted that operation;
- a goal state first removes the applications it leaves out (a Skipped one is only forgotten: no
  remove string runs), then runs the ordered applications by ascending order, then the unordered
  ones; a failure skips only higher orders (same order and unordered ones still run);
- a new version runs its update string, or, without one, RemoveForUpdate (the recorded version's
  remove string in its directory) then install; a failed RemoveForUpdate stops that install;
- the version a goal state names is recorded before its operation runs, so a failed or skipped
  application is not retried until its version changes (a skipped RemoveForUpdate records the old
  version, so that one is retried);
- a remove deletes the recorded version's directory and leaves the registry, whatever its exit code;
- SIGTERM during a command is a reboot: the manager exits at once (the command keeps running) and the
  same goal state is processed again after it. `Rerun` runs the operation again, and the fourth
  attempt fails without running; `None` records NoAction (the extension's code then keeps a removed
  application in the registry, so its remove runs again);
- the status is `error` only when an install or update failed for an application with
  treatFailureAsDeploymentFailure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

Operation = Literal["install", "update", "remove", "remove-for-update"]
Result = Literal["success", "failed", "skipped", "reboot", "forgotten"]
State = Literal["NoAction", "Failed", "Skipped", "install", "update", "remove", "remove-for-update"]
MAX_REBOOTS = 3
_ONGOING: dict[str, Operation] = {
    "install": "install",
    "update": "update",
    "remove": "remove",
    "remove-for-update": "remove-for-update",
}


@dataclass(frozen=True)
class Version:
    """One application version, as the extension's registry keeps it."""

    app: str
    version: str
    install: str
    remove: str
    update: str = ""
    package_file: str = ""  # packageFileName; the application's name when empty
    config_file: str | None = None  # where the configuration goes, when the VM gets one
    reboot_behavior: Literal["None", "Rerun"] = "None"  # scriptBehaviorAfterReboot

    @property
    def package_name(self) -> str:
        return self.package_file or self.app


@dataclass(frozen=True)
class Desired:
    """One application of a goal state."""

    version: Version
    order: int | None = None
    fail_deployment: bool = False  # treatFailureAsDeploymentFailure


@dataclass(frozen=True)
class Reboot:
    """SIGTERM during the next `times` commands of `app` (of operation `during`, or any)."""

    app: str
    during: Operation | None = None
    times: int = 1


@dataclass(frozen=True)
class Recorded:
    version: Version
    state: State
    reboots: int = 0


@dataclass(frozen=True)
class Step:
    """One operation of a goal state, run against the version it records."""

    operation: Operation
    version: Version
    fail_deployment: bool = False


@dataclass(frozen=True)
class Outcome:
    app: str
    version: str
    operation: Operation | Literal["cleanup"]
    result: Result
    detail: str = ""
    fail_deployment: bool = False
    exit_code: int | None = None


class Machine(Protocol):
    """What the rules drive: one VM (a container or a Wine prefix)."""

    def download(self, step: Step) -> None:
        """The package (and configuration) the goal state serves for the app, into the step's directory."""

    def run(self, step: Step, command: str, sigterm: bool) -> int:
        """The command in the step's directory; with `sigterm` the manager is stopped during it."""

    def delete(self, version: Version) -> None:
        """The version's download directory."""


@dataclass
class Pass:
    outcomes: list[Outcome] = field(default_factory=list)
    rebooted: bool = False


@dataclass
class GoalStateResult:
    passes: list[Pass]

    @property
    def status(self) -> Literal["success", "error"]:
        """What the last pass (the one that finished) reports."""
        last = self.passes[-1].outcomes
        failed = any(o.result == "failed" and o.fail_deployment and o.operation in ("install", "update") for o in last)
        return "error" if failed else "success"


class Extension:
    """The registry of one VM and the rules that change it."""

    def __init__(self) -> None:
        self.registry: dict[str, Recorded] = {}
        self._sigterms: dict[str, Reboot] = {}

    def apply(self, desired: list[Desired], machine: Machine, reboots: Iterable[Reboot] = ()) -> GoalStateResult:
        """One goal state, processed again after every reboot until a pass ends without one."""
        self._sigterms = {r.app: r for r in reboots}
        passes = []
        while True:
            current = Pass()
            passes.append(current)
            self._pass(desired, machine, current)
            if not current.rebooted:
                return GoalStateResult(passes)

    def _pass(self, desired: list[Desired], machine: Machine, out: Pass) -> None:
        wanted = {d.version.app: d for d in desired}
        for app, recorded in list(self.registry.items()):
            if app not in wanted:
                if recorded.state == "Skipped":
                    del self.registry[app]
                    out.outcomes.append(_outcome(Step("remove", recorded.version), "forgotten", "cleanup"))
                elif self._run(Step("remove", recorded.version), machine, out) is None:
                    return
        ordered, unordered = self._groups(desired)
        failed_at: int | None = None
        for order, group in ordered:
            if failed_at is not None and order > failed_at:
                self._skip(group, out)
                continue
            outcome = self._run_group(group, machine, out)
            if outcome is None:
                return
            if not outcome:
                failed_at = order
        for group in unordered:
            if self._run_group(group, machine, out) is None:
                return

    def _groups(self, desired: list[Desired]) -> tuple[list[tuple[int, list[Step]]], list[list[Step]]]:
        """Each application's dependent steps, ordered groups sorted by order (stable, as Go's sort.Ints
        of distinct keys with insertion-ordered lists)."""
        ordered: list[tuple[int, list[Step]]] = []
        unordered: list[list[Step]] = []
        for d in desired:
            steps = self._steps(d)
            if not steps:
                continue
            if d.order is None:
                unordered.append(steps)
            else:
                ordered.append((d.order, steps))
        ordered.sort(key=lambda pair: pair[0])
        return ordered, unordered

    def _steps(self, d: Desired) -> list[Step]:
        recorded = self.registry.get(d.version.app)
        if recorded is None:
            return [Step("install", d.version, d.fail_deployment)]
        if recorded.version.version != d.version.version:
            if d.version.update:
                return [Step("update", d.version, d.fail_deployment)]
            return [Step("remove-for-update", recorded.version), Step("install", d.version, d.fail_deployment)]
        if recorded.reboots > 0 and recorded.state not in ("NoAction", "Failed", "Skipped"):
            return [Step(_ONGOING[recorded.state], recorded.version, d.fail_deployment)]
        return []  # the version is there (done, failed or skipped): nothing until it changes

    def _skip(self, steps: list[Step], out: Pass) -> None:
        first = steps[0]  # the extension records the group's first step's version as Skipped
        self.registry[first.version.app] = Recorded(first.version, "Skipped")
        out.outcomes.append(_outcome(first, "skipped", "lower order operation failed"))

    def _run_group(self, steps: list[Step], machine: Machine, out: Pass) -> bool | None:
        """True when every step succeeded, False at the first failure, None when a reboot ended the pass."""
        for step in steps:
            result = self._run(step, machine, out)
            if result is None:
                return None
            if not result:
                return False
        return True

    def _run(self, step: Step, machine: Machine, out: Pass) -> bool | None:
        """One operation, as executeHelper runs it; None when a reboot ended the pass."""
        app = step.version.app
        previous = self.registry.get(app)
        same = previous is not None and previous.version.version == step.version.version
        reboots = previous.reboots if previous is not None and same else 0
        self.registry[app] = Recorded(step.version, step.operation, reboots)
        if reboots >= MAX_REBOOTS:
            detail = f"the {step.operation} operation has resulted in {MAX_REBOOTS} reboots"
            return self._finish(step, machine, out, None, detail)
        if step.operation != "remove":
            machine.download(step)
        sigterm = self._take_sigterm(step)
        exit_code = machine.run(step, _command(step), sigterm)
        if sigterm:
            self._rebooted(step, out, reboots)
            return None
        return self._finish(step, machine, out, exit_code, "" if exit_code == 0 else f"exit code {exit_code}")

    def _finish(self, step: Step, machine: Machine, out: Pass, exit_code: int | None, detail: str) -> bool:
        ok = exit_code == 0
        if step.operation == "remove":
            # whatever the exit code: a failing remove is not retried, and the directory goes
            del self.registry[step.version.app]
            machine.delete(step.version)
        else:
            self.registry[step.version.app] = Recorded(step.version, "NoAction" if ok else "Failed")
        out.outcomes.append(_outcome(step, "success" if ok else "failed", detail, exit_code))
        return ok

    def _rebooted(self, step: Step, out: Pass, reboots: int) -> None:
        out.rebooted = True
        if step.version.reboot_behavior == "Rerun":
            self.registry[step.version.app] = Recorded(step.version, step.operation, reboots + 1)
            detail = f"reboot {reboots + 1} during {step.operation}: rerun after reboot"
        else:
            # the extension sets NoAction before testing for a remove, so a removed app stays recorded
            self.registry[step.version.app] = Recorded(step.version, "NoAction")
            detail = f"reboot during {step.operation}: no further action (scriptBehaviorAfterReboot None)"
        out.outcomes.append(_outcome(step, "reboot", detail))

    def _take_sigterm(self, step: Step) -> bool:
        reboot = self._sigterms.get(step.version.app)
        if reboot is None or reboot.times <= 0 or reboot.during not in (None, step.operation):
            return False
        self._sigterms[step.version.app] = replace(reboot, times=reboot.times - 1)
        return True


def _command(step: Step) -> str:
    if step.operation == "install":
        return step.version.install
    if step.operation == "update":
        return step.version.update
    return step.version.remove


def _outcome(step: Step, result: Result, detail: str, exit_code: int | None = None) -> Outcome:
    operation: Operation | Literal["cleanup"] = "cleanup" if result == "forgotten" else step.operation
    return Outcome(step.version.app, step.version.version, operation, result, detail, step.fail_deployment, exit_code)
