"""The command line. Library errors become messages and exit codes here, and only here.

Exit codes: 0 success, 2 bad input, 3 build failure, 4 verification failure, 5 environment
(no Docker engine, missing image or tool), 130 interrupted.
"""

from __future__ import annotations

import json
import re
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from builder import __version__
from builder.cli_gallery import GALLERY_COMMANDS, gallery_settings_checked
from builder.distros import DISTROS, get_distro, resolve_image
from builder.errors import VmappError

SIZE_RE = re.compile(r"^(\d+)([KMG]?)$", re.IGNORECASE)


def _size(value: str) -> int:
    match = SIZE_RE.match(value.strip())
    if not match:
        raise click.BadParameter(f"{value!r}: expected bytes, or a number with K, M or G")
    power = " KMG".index((match[2] or " ").upper())
    return int(match[1]) * int(1024**power)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "VMAPP_BUILD"})
@click.version_option(__version__, prog_name="vmapp-build")
def cli() -> None:
    """Build Azure VM Application packages that install offline, with the distro's own tools."""


@cli.command("recipe")
@click.argument("recipe")
@click.option("--distro", "distros", multiple=True, required=True, help="Target release (repeatable), e.g. debian-12.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("dist"),
    show_default=True,
    help="Output root; files go to OUT/<app>/<version>/<distro>/.",
)
@click.option("--image", help="Build in this image instead of the distro's default.")
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), help="Configuration file ([images]).")
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
) -> None:
    """Build RECIPE (a shipped recipe's name or a YAML path) for each --distro."""
    from builder.baseline import FULL, IMAGE, load_baseline
    from builder.installers import installer_for
    from builder.pipeline import build
    from builder.plan import make_plan
    from builder.recipe import load_recipe
    from builder.render import render_commands

    if baseline and full:
        raise click.UsageError("--baseline and --full exclude each other")
    state = load_baseline(baseline) if baseline else FULL if full else IMAGE
    loaded = load_recipe(recipe)
    gallery = gallery_settings_checked(loaded.path, loaded.raw, gallery_file)
    limit = _size(max_size) if max_size else None
    if "windows" in distros:  # installers, not a package manager: builder.windows
        from builder.windows.cli import recipe_windows

        recipe_windows(loaded, out, image, config, limit, dry_run, then_verify)
        distros = tuple(d for d in distros if d != "windows")
    plans = [make_plan(loaded, d, out, image, config, limit, state) for d in distros]
    rows = []
    for plan in plans:
        if dry_run:
            installer_for(plan)  # "not supported yet" is an answer a dry run owes too
            commands = render_commands(plan)
            click.echo(plan.describe())
            for name, text in commands.as_dict().items():
                click.echo(f"--- {name} ({len(text)} characters) ---\n{text}")
            continue
        result = build(plan, gallery=gallery)
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
        sizes = result.document["sizes"]
        click.echo(f"built {result.package} ({sizes['package']} bytes, {sizes['files']} packages)")
        click.echo(f"manifest {result.manifest}")
        if then_verify:
            _verify(plan.out_dir, None, None)
        rows.append((plan.distro.name, sizes["files"], sizes["package"], str(result.package)))
    if len(rows) > 1:
        click.echo(f"\n{'distro':<14} {'packages':>8} {'bytes':>12}  file")
        for row in rows:
            click.echo(f"{row[0]:<14} {row[1]:>8} {row[2]:>12}  {row[3]}")


@cli.command("verify")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--image", help="Verify in this image instead of the one the package was built in.")
@click.option(
    "--update-from",
    type=click.Path(path_type=Path),
    help="Install this older build first, then run PATH's update command over it.",
)
def verify_cmd(path: Path, image: str | None, update_from: Path | None) -> None:
    """Install, check and remove the package at PATH (a dist/... directory) with no network."""
    _verify(path, image, update_from)


def _verify(path: Path, image: str | None, update_from: Path | None) -> None:
    from builder.verify import verify
    from builder.windows.cli import is_windows_path, verify_windows_cli

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


@cli.command("distros")
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), help="Configuration file ([images]).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def distros_cmd(config: Path | None, as_json: bool) -> None:
    """List the target releases, their package family and image."""
    from builder.installers import BACKENDS

    rows = [
        {
            "name": d.name,
            "family": d.family,
            "image": resolve_image(d, None, config),
            "supported": d.family in BACKENDS or d.family == "windows",  # windows: builder.windows
        }
        for d in DISTROS.values()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        note = "" if r["supported"] else "  (not supported yet)"
        click.echo(f"{r['name']:<14} {r['family']:<7} {r['image']}{note}")


@cli.group("image")
def image_group() -> None:
    """Manage the base images builds run in."""


@image_group.command("bootstrap")
@click.argument("distro")
@click.option("--mirror", help="Package mirror URL (default: the vendor's public archive).")
@click.option("--tag", help="Image tag (default: the distro table's image).")
def bootstrap_cmd(distro: str, mirror: str | None, tag: str | None) -> None:
    """Build DISTRO's base image locally with debootstrap and import it into Docker."""
    from builder.bootstrap import bootstrap_image

    target = get_distro(distro)
    image_id = bootstrap_image(target, tag or target.image, mirror)
    click.echo(f"{tag or target.image} {image_id}")


for _command in GALLERY_COMMANDS:  # publish, definitions, check-plan: builder/cli_gallery.py
    cli.add_command(_command)


def _terminate(signum: int, frame: Any) -> NoReturn:
    # Turn SIGTERM into an exception so `finally` blocks remove containers and temp files.
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        cli.main(standalone_mode=False)
    except VmappError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
