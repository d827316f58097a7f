"""`vmapp-build verify`: the extension's steps replayed with no network."""

from __future__ import annotations

import json
from pathlib import Path

import click

from builder.cli.options import image_option
from builder.lifecycle.report import LifecycleFailed, LifecycleReport
from builder.verify import verify_any, wants_lifecycle


@click.command("verify")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--image", callback=image_option, help="Verify in this image instead of the one the package was built in."
)
@click.option(
    "--update-from",
    type=click.Path(path_type=Path),
    help="Install this older build first, then run PATH's update command over it.",
)
@click.option(
    "--lifecycle/--no-lifecycle",
    default=None,
    help="Replay the lifecycle across the earlier builds beside PATH (<root>/<app>/<version>/<distro>): "
    "install the oldest, update through each, from each, remove, reinstall, update, remove. "
    "Default: on when there are earlier builds.",
)
@click.option(
    "--lifecycle-depth",
    "depth",
    type=click.IntRange(min=0),
    default=0,
    help="Replay from the newest N earlier builds only (default 0: every one).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the lifecycle's steps as JSON (only with the lifecycle).")
def verify_cmd(
    path: Path, image: str | None, update_from: Path | None, lifecycle: bool | None, depth: int, as_json: bool
) -> None:
    """Install, check and remove the package at PATH (a dist/... directory) with no network."""
    show_verify(path, image, update_from, lifecycle, as_json, depth or None)


def show_verify(
    path: Path,
    image: str | None,
    update_from: Path | None,
    lifecycle: bool | None = False,
    as_json: bool = False,
    depth: int | None = None,
) -> None:
    if as_json and not wants_lifecycle(path, update_from, lifecycle):
        raise click.UsageError("--json prints the lifecycle's steps: there are no earlier builds beside PATH to replay")
    try:
        report = verify_any(path, image=image, update_from=update_from, lifecycle=lifecycle, depth=depth)
    except LifecycleFailed as exc:  # the table (or JSON) first, then the error
        _show_lifecycle(exc.report, as_json)
        raise
    if isinstance(report, LifecycleReport):
        _show_lifecycle(report, as_json)
        return
    click.echo(report.summary())
    for note in report.notes:
        click.echo(f"note: {note}")


def _show_lifecycle(report: LifecycleReport, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    click.echo(report.table())
    for note in report.notes:
        click.echo(f"note: {note}")
