"""`vmapp-build rebuild`: the catalogue (recipes x targets) rebuilt where something changed upstream."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from builder.cli.cache import cache_options
from builder.cli.options import (
    PROXY_ENV,
    PROXY_HELP,
    engine_option,
    exit_with_failures,
    jobs_option,
    out_option,
    proxy_option,
)
from builder.rebuild.version import POLICIES

if TYPE_CHECKING:  # annotations only: the command line imports the cache when a command runs
    from builder.cache import PackageCache
    from builder.lists import ListsLayers


@click.command("rebuild")
@click.argument("recipes", nargs=-1)
@click.option("--distro", "distros", multiple=True, help="Only these targets (repeatable); default: each recipe's.")
@out_option("Output root: the last builds are read from it and new versions written to it.")
@jobs_option("Entries handled at once.")
@click.option(
    "--version-policy",
    "policy",
    type=click.Choice(POLICIES),
    default="patch",
    show_default=True,
    help="patch: 1.0.0 -> 1.0.1; date: Major.Minor.YYYYMMDDnn.",
)
@click.option("--report", type=click.Path(path_type=Path, dir_okay=False), help="Default: OUT/report.json.")
@click.option("--verify/--no-verify", "then_verify", default=True, show_default=True, help="Verify each new version.")
@click.option(
    "--lifecycle-depth",
    "depth",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Prove updates from the newest N earlier builds (0: every one; the replay grows with N).",
)
@engine_option
@cache_options(lists_ttl="0")
@click.option("--proxy", envvar=PROXY_ENV, callback=proxy_option, help=PROXY_HELP)
def rebuild_cmd(
    recipes: tuple[str, ...],
    distros: tuple[str, ...],
    out: Path,
    jobs: int,
    policy: str,
    report: Path | None,
    then_verify: bool,
    depth: int,
    engine_names: tuple[str, ...],
    cache: PackageCache | None,
    lists: ListsLayers,
    proxy: str | None,
) -> None:
    """Rebuild RECIPES (default: every shipped recipe) for their targets where something changed.

    Each (recipe, target) is checked against its last build under OUT (the recipe, the command strings,
    and the solver's answer after a refresh, with no download): unchanged ones are skipped; changed ones
    get the next version, built, verified with the lifecycle from the last one, and never overwrite a
    version. A failing entry does not stop the others; the run exits with the highest failure's code.
    """
    from builder.catalogue import catalogue
    from builder.distros import get_distro
    from builder.engine import engines
    from builder.rebuild.report import REPORT_NAME, table, write_report
    from builder.rebuild.run import Options, rebuild

    for name in distros:
        get_distro(name)  # an unknown name is a usage error before anything runs
    entries = catalogue(recipes, distros)
    if not entries:
        raise click.UsageError("no recipe targets any of the given --distro")
    pool = engines(engine_names)  # each pinged: a bad engine stops the run before any entry
    options = Options(out, policy, then_verify, jobs, depth or None, pool, cache, proxy, lists)
    rows = rebuild(entries, options, lambda line: click.echo(line, err=True))
    path = report or out / REPORT_NAME
    write_report(path, policy, rows)
    click.echo(table(rows))
    click.echo(f"report {path}")
    exit_with_failures([r.exit_code for r in rows if r.status == "failed"], len(rows))
