"""`vmapp-build verify`: the extension's steps replayed with no network."""

from __future__ import annotations

from pathlib import Path

import click

from builder.cli.options import image_option
from builder.verify import verify


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
def verify_cmd(path: Path, image: str | None, update_from: Path | None) -> None:
    """Install, check and remove the package at PATH (a dist/... directory) with no network."""
    show_verify(path, image, update_from)


def show_verify(path: Path, image: str | None, update_from: Path | None) -> None:
    report = verify(path, image=image, update_from=update_from)
    click.echo(report.summary())
    for note in report.notes:
        click.echo(f"note: {note}")
