"""`vmapp-build verify`: the extension's steps replayed with no network."""

from __future__ import annotations

from pathlib import Path

import click

from builder.cli.options import image_option
from builder.errors import InputError
from builder.manifest import load_manifest
from builder.plan.windows import TARGET
from builder.windows.verify import is_windows_build, verify_windows


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
    from builder.verify import verify

    if is_windows_path(path):
        verify_windows_cli(path, image, update_from)
        return
    report = verify(path, image=image, update_from=update_from)
    steps = ", ".join(name for name, _ in report.steps)
    click.echo(
        f"verified {report.app} {report.version} offline in {report.image}: {steps}; "
        f"{len(report.added)} packages added and removed"
    )
    for note in report.notes:
        click.echo(f"note: {note}")


def is_windows_path(path: Path) -> bool:
    """Whether PATH is a Windows build (its manifest says so)."""
    try:
        _, manifest = load_manifest(path)
    except InputError:
        return False  # the Linux verify reports the problem in its own words
    return is_windows_build(manifest)


def verify_windows_cli(path: Path, image: str | None, update_from: Path | None = None) -> None:
    if update_from is not None:
        raise InputError(
            f"--update-from does not apply to {TARGET} builds",
            hint="a Windows version has no update string: Azure removes the old version, then installs the new one",
        )
    report = verify_windows(path, image=image)
    steps = ", ".join(name for name, _ in report.steps)
    click.echo(f"verified {report.app} {report.version} under Wine in {report.image} ({report.workdir}): {steps}")
