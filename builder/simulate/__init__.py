"""`vmapp-build simulate PLAN.yaml`: a VM's goal states applied to one container or Wine prefix, with
the extension's rules (builder.simulate.extension) and no network. The plan format: builder.simulate.plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import docker

from builder.container import Container
from builder.engine import connect, ensure_image
from builder.simulate.extension import Extension, GoalStateResult
from builder.simulate.machine import VM, CommandRun
from builder.simulate.plan import SimulationPlan, load_plan
from builder.simulate.run_linux import LinuxVM
from builder.simulate.run_windows import WindowsVM
from builder.windows.verify import IMAGE_HINT

__all__ = ["GoalStateReport", "load_plan", "simulate"]


@dataclass(frozen=True)
class GoalStateReport:
    index: int
    result: GoalStateResult
    commands: list[CommandRun]

    @property
    def status(self) -> str:
        return self.result.status

    def as_dict(self) -> dict[str, Any]:
        return {
            "goalState": self.index,
            "status": self.status,
            "passes": [
                {"rebooted": p.rebooted, "applications": [o.__dict__ for o in p.outcomes]} for p in self.result.passes
            ],
            "commands": [c.__dict__ for c in self.commands],
        }


def simulate(plan: SimulationPlan, client: docker.DockerClient | None = None) -> list[GoalStateReport]:
    """Every goal state of the plan, in order, on one network-less VM; what each reported."""
    client = client or connect()
    image_id = ensure_image(client, plan.image, IMAGE_HINT if plan.family == "windows" else "")
    reports = []
    with Container(client, image_id, "simulate", network=False) as c:
        vm: VM = WindowsVM(c) if plan.family == "windows" else LinuxVM(c)
        extension = Extension()
        for i, state in enumerate(plan.goal_states, 1):
            vm.served, vm.commands = state.served, []
            result = extension.apply(state.desired, vm, state.reboots)
            reports.append(GoalStateReport(i, result, vm.commands))
    return reports
