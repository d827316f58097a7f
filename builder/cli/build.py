"""`vmapp-build recipe`: plan, build and (with --verify) verify a recipe for each target, Linux or
Windows alike: one plan each (builder.plan), one pipeline (builder.pipeline)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from builder.azure.gallery import GallerySettings
from builder.cli.gallery import gallery_settings_checked
from builder.cli.options import PROXY_ENV, PROXY_HELP, image_option, parse_size, proxy_option
from builder.cli.verify import show_verify

if TYPE_CHECKING:  # annotations only: the command line imports the pipeline when a command runs
    from builder.plan import Plan


@click.command("recipe")
@click.argument("recipe")
@click.option("--distro", "distros", multiple=True, required=True, help="Target release (repeatable), e.g. debian-12.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("dist"),
    show_default=True,
    help="Output root; files go to OUT/<app>/<version>/<distro>/.",
)
@click.option("--image", callback=image_option, help="Build in this image instead of the distro's default.")
@click.option(
    "--config", type=click.Path(path_type=Path, dir_okay=False), help="Configuration file ([images], [build])."
)
@click.option("--max-package-size", "max_size", help="Fail above this size (at most Azure's 2G), e.g. 500M.")
@click.option(
    "--baseline",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The target VM's package state (its /var/lib/dpkg/status, or `dpkg-query -W` output): "
    "bundle only what that VM lacks.",
)
@click.option("--full", is_flag=True, help="Bundle the whole closure, for VMs whose package state is unknown.")
@click.option(
    "--gallery",
    "gallery_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Gallery settings (YAML); else the recipe's `gallery:` key. Writes Azure definitions beside the package.",
)
@click.option("--verify", "then_verify", is_flag=True, help="Verify each package offline after building it.")
@click.option("--dry-run", is_flag=True, help="Print the plan and the command strings; build nothing.")
@click.option(
    "--locked",
    type=click.Path(path_type=Path),
    help="Rebuild exactly the versions of this lock.json (or build directory); fail if one is gone.",
)
@click.option("--proxy", envvar=PROXY_ENV, callback=proxy_option, help=PROXY_HELP)
def recipe_cmd(
    recipe: str,
    distros: tuple[str, ...],
    out: Path,
    image: str | None,
    config: Path | None,
    max_size: str | None,
    baseline: Path | None,
    full: bool,
    gallery_file: Path | None,
    then_verify: bool,
    dry_run: bool,
    locked: Path | None,
    proxy: str | None,
) -> None:
    """Build RECIPE (a shipped recipe's name or a YAML path) for each --distro."""
    from builder.backends.baseline import FULL, IMAGE, load_baseline
    from builder.plan import make_plan
    from builder.recipe import load_recipe

    if baseline and full:
        raise click.UsageError("--baseline and --full exclude each other")
    state = load_baseline(baseline) if baseline else FULL if full else IMAGE
    loaded = load_recipe(recipe)
    gallery = gallery_settings_checked(loaded.path, loaded.raw, gallery_file)
    limit = parse_size(max_size) if max_size else None
    plans = [make_plan(loaded, d, out, image, config, limit, state, proxy=proxy) for d in distros]
    if locked:
        plans = [_locked(plan, locked) for plan in plans]
    if dry_run:
        for plan in plans:
            _show(plan)
        return
    rows = [_build(plan, gallery, then_verify) for plan in plans]
    if len(rows) > 1:
        click.echo(f"\n{'distro':<14} {'packages':>8} {'bytes':>12}  file")
        for row in rows:
            click.echo(f"{row[0]:<14} {row[1]:>8} {row[2]:>12}  {row[3]}")


def _locked(plan: Plan, path: Path) -> Plan:
    """The plan, pinned to the lock's versions (apt builds; the backend refuses another family)."""
    from dataclasses import replace

    from builder.errors import InputError
    from builder.lock import locked_packages, read_lock
    from builder.plan import BuildPlan

    if not isinstance(plan, BuildPlan) or plan.tarball:
        raise InputError(f"--locked rebuilds a package manager's closure, not a {plan.kind} payload")
    return replace(plan, locked=locked_packages(read_lock(path), plan.app, plan.distro.name, path))


def _show(plan: Plan) -> None:
    """A dry run: the plan and its strings, refused like a build for what the plan alone decides."""
    from builder.pipeline import preflight

    commands = preflight(plan)  # "not supported yet" and Azure's 4096 characters: a dry run owes them
    click.echo(plan.describe())
    for name, text in commands.as_dict().items():
        click.echo(f"--- {name} ({len(text)} characters) ---\n{text}")


def _build(plan: Plan, gallery: GallerySettings | None, then_verify: bool) -> tuple[str, int, int, str]:
    """Build (and verify) one plan; its row of the summary table."""
    from builder.pipeline import build

    result = build(plan, gallery=gallery)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    sizes = result.document["sizes"]
    click.echo(f"built {result.package} ({sizes['package']} bytes, {sizes['files']} {plan.unit})")
    click.echo(f"manifest {result.manifest}")
    if then_verify:
        show_verify(plan.out_dir, None, None)
    return plan.distro.name, sizes["files"], sizes["package"], str(result.package)
