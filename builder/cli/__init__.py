"""The command line. Library errors become messages and exit codes here, and only here.

Exit codes: 0 success, 2 bad input, 3 build failure, 4 verification failure, 5 environment
(no Docker engine, missing image or tool), 128 + the signal's number when interrupted (130 SIGINT,
143 SIGTERM, 129 SIGHUP, 131 SIGQUIT), after the run's containers and temp dir are removed.
"""

from __future__ import annotations

import json
import os
import re
import sys
from contextlib import suppress
from pathlib import Path
from typing import NoReturn

import click

from builder import __version__
from builder.cli.gallery import GALLERY_COMMANDS, gallery_settings_checked
from builder.distros import DISTROS, IMAGE_HINT, IMAGE_RE, get_distro, resolve_image
from builder.errors import VmappError
from builder.interrupts import Interrupted, install_handlers, received, settle_cleanups

SIZE_RE = re.compile(r"([0-9]+)([KMG]?)", re.IGNORECASE | re.ASCII)


def _size(value: str) -> int:
    match = SIZE_RE.fullmatch(value.strip())
    if not match:
        raise click.BadParameter(
            f"{value!r}: expected bytes, or a number with K, M or G (ASCII digits)", param_hint="'--max-package-size'"
        )
    power = " KMG".index((match[2] or " ").upper())
    return int(match[1]) * int(1024**power)


def _image(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not IMAGE_RE.fullmatch(value):
        raise click.BadParameter(f"{value!r} is not an image reference, {IMAGE_HINT}")
    return value


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
@click.option("--image", callback=_image, help="Build in this image instead of the distro's default.")
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
    from builder.backends import installer_for
    from builder.baseline import FULL, IMAGE, load_baseline
    from builder.pipeline import build, check_commands
    from builder.plan import make_plan
    from builder.recipe import load_recipe

    if baseline and full:
        raise click.UsageError("--baseline and --full exclude each other")
    state = load_baseline(baseline) if baseline else FULL if full else IMAGE
    loaded = load_recipe(recipe)
    gallery = gallery_settings_checked(loaded.path, loaded.raw, gallery_file)
    limit = _size(max_size) if max_size else None
    if "windows" in distros:  # installers, not a package manager: builder.windows
        from builder.cli.windows import recipe_windows

        recipe_windows(loaded, out, image, config, limit, dry_run, then_verify, gallery)
        distros = tuple(d for d in distros if d != "windows")
    plans = [make_plan(loaded, d, out, image, config, limit, state) for d in distros]
    rows = []
    for plan in plans:
        if dry_run:
            installer_for(plan)  # "not supported yet" is an answer a dry run owes too
            commands = check_commands(plan)  # and Azure's 4096 characters
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
@click.option("--image", callback=_image, help="Verify in this image instead of the one the package was built in.")
@click.option(
    "--update-from",
    type=click.Path(path_type=Path),
    help="Install this older build first, then run PATH's update command over it.",
)
def verify_cmd(path: Path, image: str | None, update_from: Path | None) -> None:
    """Install, check and remove the package at PATH (a dist/... directory) with no network."""
    _verify(path, image, update_from)


def _verify(path: Path, image: str | None, update_from: Path | None) -> None:
    from builder.cli.windows import is_windows_path, verify_windows_cli
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


@cli.command("distros")
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), help="Configuration file ([images]).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def distros_cmd(config: Path | None, as_json: bool) -> None:
    """List the target releases, their package family and image."""
    from builder.backends import BACKENDS

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


for _command in GALLERY_COMMANDS:  # publish, definitions, check-plan: builder/cli/gallery.py
    cli.add_command(_command)


@cli.command("gc")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("dist"),
    show_default=True,
    help="Output root to clear of stale temp dirs (and the directories above it).",
)
@click.option("--session", help="Only containers of this VMAPP_BUILD_SESSION (one CI job's).")
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
def gc_cmd(out: Path, session: str | None, dry_run: bool) -> None:
    """Remove what killed runs left: containers whose owner process is gone, and stale temp dirs.

    Only this user's, on this host: a live run's or another user's are listed as kept.
    """
    from builder.container import connect
    from builder.gc import container_leftovers, remove, temp_dir_leftovers

    client = connect()
    failed = []
    for leftover in [*container_leftovers(client, session), *temp_dir_leftovers(out)]:
        verb = ("would remove" if dry_run else "removed") if leftover.stale else "kept"
        error = remove(client, leftover) if leftover.stale and not dry_run else None
        if error:
            verb = "could not remove"
            failed.append(leftover.name)
        click.echo(f"{verb} {leftover.kind} {leftover.name}: {leftover.reason}" + (f": {error}" if error else ""))
    if failed:
        raise _GcFailed(f"could not remove {len(failed)} leftovers: {', '.join(failed)}")


class _GcFailed(VmappError):
    exit_code = 5  # the engine or the file system refused


def main() -> None:
    install_handlers()  # SIGINT, SIGTERM, SIGHUP, SIGQUIT: builder.interrupts
    try:
        code = _run()
    except Interrupted as exc:
        code = exc.exit_code
    except BaseException:
        if received() is None:
            raise
        code = 0  # a failure while cleaning up after a signal: the signal decides the code
    signum = received()
    if signum is not None:
        settle_cleanups()
        _interrupted(128 + signum)
    sys.exit(code)


def _run() -> int:
    try:
        cli.main(standalone_mode=False)
    except VmappError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return 0


def _interrupted(code: int) -> NoReturn:
    """Exit after a signal. The terminal may be gone (SIGHUP): output errors are ignored, and
    os._exit skips the interpreter's final flush, whose failure would turn the code into 120."""
    for stream in (sys.stderr, sys.stdout):
        with suppress(OSError, ValueError):
            if stream is sys.stderr:
                print("interrupted", file=stream)
            stream.flush()
    os._exit(code)
