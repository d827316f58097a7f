"""`vmapp-build simulate`: a VM's application plan, goal state by goal state, as the extension runs it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from builder.errors import VerifyError

DEPLOYMENT_ERROR = 4  # a goal state reported error: the VM's deployment would fail


@click.command("simulate")
@click.argument("plan_file", metavar="PLAN.yaml", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the goal states' results as JSON.")
@click.option("--strict", is_flag=True, help="Exit 4 also when an application failed without failing the deployment.")
def simulate_cmd(plan_file: Path, as_json: bool, strict: bool) -> None:
    """Apply a VM's goal states (builds by directory) to one network-less container or Wine prefix,
    with the extension's rules: order, skips, no retries, reboots, directories and files.

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
            click.echo(f"goal state {report.index}: {report.status}")
            for n, p in enumerate(report.result.passes, 1):
                for o in p.outcomes:
                    detail = f"  {o.detail}" if o.detail else ""
                    click.echo(f"  {n:>2}  {o.app:<20} {o.version:<12} {o.operation:<18} {o.result}{detail}")
    errors = [r.index for r in reports if r.status == "error"]
    failed = [r.index for r in reports for p in r.result.passes for o in p.outcomes if o.result == "failed"]
    if errors or (strict and failed):
        which = ", ".join(map(str, sorted(set(errors or failed))))
        error = VerifyError(f"goal state {which} " + ("reported error" if errors else "had a failed application"))
        error.exit_code = DEPLOYMENT_ERROR
        raise error
