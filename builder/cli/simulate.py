"""`vmapp-build simulate`: a VM's application plan, goal state by goal state, as the extension runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from builder.errors import VerifyError

if TYPE_CHECKING:
    from builder.simulate import GoalStateReport


@click.command("simulate")
@click.argument("plan_file", metavar="PLAN.yaml", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the goal states' results as JSON.")
@click.option("--strict", is_flag=True, help="Exit 4 also when an application failed without failing the deployment.")
def simulate_cmd(plan_file: Path, as_json: bool, strict: bool) -> None:
    """Apply a VM's goal states (builds by directory) to one network-less container or Wine prefix,
    with the extension's rules: order, skips, no retries, reboots, directories and files.

    PLAN.yaml lists `goalStates`, each with `applications`: entries of `build: DIR` (a dist/<app>/<version>/<distro>
    directory, relative to the plan) plus check-plan's keys (order, treatFailureAsDeploymentFailure,
    configurationReference: a local file), configFileName, scriptBehaviorAfterReboot and `reboot: {during, times}`;
    and optional `reboots:` for applications the goal state removes.

    Exit 0 when every goal state reports success (as Azure would), 4 when one reports error (an install
    or update failed with treatFailureAsDeploymentFailure; with --strict, any failed application),
    2 for a bad plan, 5 when the engine or image is missing.
    """
    from builder.simulate import load_plan, simulate

    plan = load_plan(plan_file)
    reports = simulate(plan)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in reports], indent=2))
    else:
        for report in reports:
            click.echo("\n".join(_table(report)))
    errors = [r.index for r in reports if r.status == "error"]
    failed = [r.index for r in reports for p in r.result.passes for o in p.outcomes if o.result == "failed"]
    if errors or (strict and failed):
        which = ", ".join(map(str, sorted(set(errors or failed))))
        # VerifyError's exit code, 4: the deployment would fail (or, with --strict, an application did)
        raise VerifyError(f"goal state {which} " + ("reported error" if errors else "had a failed application"))


def _table(report: GoalStateReport) -> list[str]:
    """The goal state's status, then one row per action: the pass (a reboot starts the next), the
    application, its version, the operation and the result."""
    rows = [("pass", "application", "version", "operation", "result")]
    for n, p in enumerate(report.result.passes, 1):
        rows += [(str(n), o.app, o.version, o.operation, f"{o.result} {o.detail}".strip()) for o in p.outcomes]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"goal state {report.index}: {report.status}"]
    if len(rows) > 1:
        lines += [
            "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[4]
            for row in rows
        ]
    return lines
