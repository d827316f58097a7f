"""The extension's goal-state rules (builder.simulate.extension), against a VM that only records.

Each case is a rule read from VMApplication-Extension's internal/actionplan; the recording VM fails a
command whose string is in `failing` and lets every other one succeed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from builder.simulate.extension import Desired, Extension, GoalStateResult, Reboot, Step, Version


@dataclass
class RecordingVM:
    failing: set[str] = field(default_factory=set)
    log: list[str] = field(default_factory=list)

    def download(self, step: Step) -> None:
        self.log.append(f"download {step.version.app} {step.version.version} as {step.version.package_name}")

    def run(self, step: Step, command: str, sigterm: bool) -> int:
        self.log.append(f"run {command}" + (" (sigterm)" if sigterm else ""))
        return 1 if command in self.failing else 0

    def delete(self, version: Version) -> None:
        self.log.append(f"delete {version.app} {version.version}")


def v(app: str, version: str = "1.0.0", update: bool = False, behavior: Literal["None", "Rerun"] = "None") -> Version:
    return Version(
        app,
        version,
        f"install {app} {version}",
        f"remove {app} {version}",
        f"update {app} {version}" if update else "",
        f"{app}.tar.gz",
        reboot_behavior=behavior,
    )


def runs(vm: RecordingVM) -> list[str]:
    return [line.removeprefix("run ") for line in vm.log if line.startswith("run ")]


def results(result: GoalStateResult) -> list[tuple[str, str, str]]:
    return [(o.app, o.operation, o.result) for p in result.passes for o in p.outcomes]


def test_removals_first_then_ordered_ascending_then_unordered() -> None:
    ext, vm = Extension(), RecordingVM()
    ext.apply([Desired(v("gone"))], vm)
    vm.log.clear()
    ext.apply([Desired(v("free")), Desired(v("three"), 3), Desired(v("one"), 1), Desired(v("two"), 2)], vm)
    assert runs(vm) == [
        "remove gone 1.0.0",
        "install one 1.0.0",
        "install two 1.0.0",
        "install three 1.0.0",
        "install free 1.0.0",
    ]
    assert "delete gone 1.0.0" in vm.log
    assert "download gone 1.0.0 as gone.tar.gz" not in vm.log  # remove downloads nothing


def test_a_failure_skips_only_higher_orders() -> None:
    ext, vm = Extension(), RecordingVM(failing={"install b 1.0.0"})
    desired = [
        Desired(v("a"), 1),
        Desired(v("b"), 2),
        Desired(v("b2"), 2),
        Desired(v("c"), 3),
        Desired(v("d"), 4),
        Desired(v("free")),
    ]
    result = ext.apply(desired, vm)
    assert results(result) == [
        ("a", "install", "success"),
        ("b", "install", "failed"),
        ("b2", "install", "success"),  # same order: still runs
        ("c", "install", "skipped"),
        ("d", "install", "skipped"),
        ("free", "install", "success"),  # unordered: still runs
    ]
    assert runs(vm) == ["install a 1.0.0", "install b 1.0.0", "install b2 1.0.0", "install free 1.0.0"]
    assert result.status == "success"  # no treatFailureAsDeploymentFailure
    assert {a: r.state for a, r in ext.registry.items()} == {
        "a": "NoAction",
        "b": "Failed",
        "b2": "NoAction",
        "c": "Skipped",
        "d": "Skipped",
        "free": "NoAction",
    }


def test_failed_and_skipped_apps_are_not_retried_until_their_version_changes() -> None:
    ext, vm = Extension(), RecordingVM(failing={"install b 1.0.0"})
    ext.apply([Desired(v("b"), 1), Desired(v("c"), 2)], vm)
    vm.log.clear()
    again = ext.apply([Desired(v("b"), 1), Desired(v("c"), 2)], vm)
    assert vm.log == [] and results(again) == []
    ext.apply([Desired(v("b", "1.0.1"), 1), Desired(v("c"), 2)], vm)
    # b's recorded (failed) version is removed for the update; c is still at its skipped version
    assert runs(vm) == ["remove b 1.0.0", "install b 1.0.1"]


def test_a_skipped_app_left_out_is_forgotten_without_its_remove() -> None:
    ext, vm = Extension(), RecordingVM(failing={"install a 1.0.0"})
    ext.apply([Desired(v("a"), 1), Desired(v("b"), 2)], vm)
    vm.log.clear()
    result = ext.apply([Desired(v("a"), 1)], vm)
    assert results(result) == [("b", "cleanup", "forgotten")]
    assert vm.log == [] and "b" not in ext.registry


def test_update_string_or_remove_for_update_with_the_new_bytes_under_the_old_name() -> None:
    ext, vm = Extension(), RecordingVM()
    ext.apply([Desired(v("a"))], vm)
    vm.log.clear()
    ext.apply([Desired(v("a", "2.0.0", update=True))], vm)
    assert vm.log == ["download a 2.0.0 as a.tar.gz", "run update a 2.0.0"]
    vm.log.clear()
    ext.apply([Desired(v("a", "3.0.0"))], vm)
    assert vm.log == [
        "download a 2.0.0 as a.tar.gz",  # the old version's directory and name (the host serves 3.0.0)
        "run remove a 2.0.0",
        "download a 3.0.0 as a.tar.gz",
        "run install a 3.0.0",
    ]
    assert not any(line.startswith("delete") for line in vm.log)  # older directories stay


def test_a_failed_remove_for_update_stops_the_install_and_keeps_the_old_version() -> None:
    ext, vm = Extension(), RecordingVM(failing={"remove a 1.0.0"})
    ext.apply([Desired(v("a"), 1)], vm)
    result = ext.apply([Desired(v("a", "2.0.0"), 1, fail_deployment=True), Desired(v("b"), 2)], vm)
    assert results(result) == [("a", "remove-for-update", "failed"), ("b", "install", "skipped")]
    assert result.status == "success"  # only install and update failures fail the deployment
    assert ext.registry["a"].version.version == "1.0.0"


def test_a_failing_remove_is_not_retried_and_still_leaves_the_registry() -> None:
    ext, vm = Extension(), RecordingVM(failing={"remove a 1.0.0"})
    ext.apply([Desired(v("a"), fail_deployment=True), Desired(v("b"))], vm)
    result = ext.apply([Desired(v("c"), 1)], vm)
    assert results(result) == [
        ("a", "remove", "failed"),
        ("b", "remove", "success"),  # the next removal and the installs still run
        ("c", "install", "success"),
    ]
    assert result.status == "success" and list(ext.registry) == ["c"]
    assert "delete a 1.0.0" in vm.log
    vm.log.clear()
    ext.apply([Desired(v("c"), 1)], vm)
    assert vm.log == []


def test_error_only_for_install_or_update_failures_with_treat_failure_as_deployment_failure() -> None:
    ext, vm = Extension(), RecordingVM(failing={"install a 1.0.0", "update b 2.0.0"})
    assert ext.apply([Desired(v("a"))], vm).status == "success"
    ext2 = Extension()
    assert ext2.apply([Desired(v("a"), fail_deployment=True)], vm).status == "error"
    ext3 = Extension()
    ext3.apply([Desired(v("b"))], vm)
    assert ext3.apply([Desired(v("b", "2.0.0", update=True), fail_deployment=True)], vm).status == "error"


def test_reboot_rerun_runs_the_operation_again_at_most_three_times() -> None:
    ext, vm = Extension(), RecordingVM()
    result = ext.apply([Desired(v("a", behavior="Rerun"), 1), Desired(v("b"), 2)], vm, [Reboot("a", "install", 2)])
    assert runs(vm) == [
        "install a 1.0.0 (sigterm)",
        "install a 1.0.0 (sigterm)",
        "install a 1.0.0",
        "install b 1.0.0",
    ]
    assert [p.rebooted for p in result.passes] == [True, True, False]
    assert ext.registry["a"].state == "NoAction" and ext.registry["a"].reboots == 0

    ext, vm = Extension(), RecordingVM()
    result = ext.apply([Desired(v("a", behavior="Rerun"), 1, True), Desired(v("b"), 2)], vm, [Reboot("a", times=3)])
    assert runs(vm) == ["install a 1.0.0 (sigterm)"] * 3  # the fourth attempt fails without running
    assert results(result)[-2:] == [("a", "install", "failed"), ("b", "install", "skipped")]
    assert result.status == "error"


def test_reboot_none_records_the_version_as_done() -> None:
    ext, vm = Extension(), RecordingVM(failing={"install a 1.0.0"})
    result = ext.apply([Desired(v("a"), fail_deployment=True), Desired(v("b"))], vm, [Reboot("a")])
    assert runs(vm) == ["install a 1.0.0 (sigterm)", "install b 1.0.0"]
    assert results(result) == [("a", "install", "reboot"), ("b", "install", "success")]
    assert result.status == "success" and ext.registry["a"].state == "NoAction"


def test_reboot_none_during_a_remove_keeps_the_app_so_the_remove_runs_again() -> None:
    ext, vm = Extension(), RecordingVM()
    ext.apply([Desired(v("a"))], vm)
    vm.log.clear()
    result = ext.apply([], vm, [Reboot("a", "remove")])
    assert runs(vm) == ["remove a 1.0.0 (sigterm)", "remove a 1.0.0"]
    assert len(result.passes) == 2 and ext.registry == {}


def test_reboot_during_another_operation_does_not_fire() -> None:
    ext, vm = Extension(), RecordingVM()
    ext.apply([Desired(v("a"))], vm, [Reboot("a", "update")])
    assert runs(vm) == ["install a 1.0.0"]


def test_a_skipped_remove_for_update_keeps_the_old_version_so_it_is_retried() -> None:
    ext, vm = Extension(), RecordingVM(failing={"install a 1.0.0"})
    ext.apply([Desired(v("b"), 2)], vm)
    result = ext.apply([Desired(v("a"), 1), Desired(v("b", "2.0.0"), 2)], vm)
    assert results(result) == [("a", "install", "failed"), ("b", "remove-for-update", "skipped")]
    assert (ext.registry["b"].version.version, ext.registry["b"].state) == ("1.0.0", "Skipped")
    vm.log.clear()
    ext.apply([Desired(v("a"), 1), Desired(v("b", "2.0.0"), 2)], vm)
    assert runs(vm) == ["remove b 1.0.0", "install b 2.0.0"]  # b's version differs from the record: retried


def test_rerun_during_remove_for_update_reruns_it_then_installs() -> None:
    ext, vm = Extension(), RecordingVM()
    ext.apply([Desired(v("a", behavior="Rerun"))], vm)
    vm.log.clear()
    result = ext.apply([Desired(v("a", "2.0.0"))], vm, [Reboot("a", "remove-for-update")])
    assert runs(vm) == ["remove a 1.0.0 (sigterm)", "remove a 1.0.0", "install a 2.0.0"]
    assert results(result) == [
        ("a", "remove-for-update", "reboot"),
        ("a", "remove-for-update", "success"),
        ("a", "install", "success"),
    ]
