"""The command line's Windows branch: `recipe ... --distro windows` and `verify` of a Windows build.

builder.cli dispatches here; errors are raised, and turned into exit codes by builder.cli.main.
"""

from __future__ import annotations

from pathlib import Path

import click

from builder.azure.gallery import GallerySettings
from builder.errors import InputError
from builder.manifest import load_manifest
from builder.recipe import Recipe
from builder.windows.plan import TARGET, make_windows_plan
from builder.windows.render import render_windows_commands
from builder.windows.verify import is_windows_build, verify_windows


def recipe_windows(
    recipe: Recipe,
    out: Path,
    image: str | None,
    config: Path | None,
    limit: int | None,
    dry_run: bool,
    then_verify: bool,
    gallery: GallerySettings | None = None,
) -> None:
    """Build (or show) a recipe's Windows package; with gallery settings, the Azure definitions too."""
    from builder.windows.build import build_windows

    plan = make_windows_plan(recipe, out, image, config, limit)
    if dry_run:
        commands = render_windows_commands(plan)
        click.echo(plan.describe())
        click.echo(f"packageFileName {plan.package_file_name}")
        for name, text in commands.as_dict().items():
            click.echo(f"--- {name} ({len(text)} characters) ---\n{text}")
        return
    result = build_windows(plan, gallery)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    sizes = result.document["sizes"]
    click.echo(f"built {result.package} ({sizes['package']} bytes, {sizes['files']} installers)")
    click.echo(f"manifest {result.manifest}")
    if then_verify:
        verify_windows_cli(plan.out_dir, None)


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
