"""`vmapp-build matrix`: the catalogue's (recipe, target) pairs, for a CI matrix or a person.

`--json` prints GitHub Actions' matrix `include` form, `{"include": [{"recipe", "app", "distro"}, ...]}`,
for `strategy.matrix: ${{ fromJSON(...) }}`: one job per pair, each running `vmapp-build rebuild`.
A recipe that does not load fails the command (exit 2) rather than dropping out of the matrix, where
nobody would notice that it is no longer built.
"""

from __future__ import annotations

import json

import click

from builder.catalogue import Entry, catalogue
from builder.distros import get_distro
from builder.errors import InputError


@click.command("matrix")
@click.argument("recipes", nargs=-1)
@click.option("--distro", "distros", multiple=True, help="Only this target (repeatable); never adds one.")
@click.option("--json", "as_json", is_flag=True, help='Print GitHub\'s matrix form: {"include": [...]}.')
def matrix_cmd(recipes: tuple[str, ...], distros: tuple[str, ...], as_json: bool) -> None:
    """The (recipe, target) pairs of RECIPES (names or paths; default: every shipped recipe)."""
    for name in distros:
        get_distro(name)  # an unknown name is a typo, not an empty narrowing
    entries = catalogue(recipes, distros)
    _refuse_broken(entries)
    if not entries:
        raise InputError(
            f"no (recipe, target) pair for {' '.join(recipes) or 'the shipped recipes'}"
            f" with --distro {' '.join(distros)}",
            hint="--distro narrows each recipe's targets (`vmapp-build matrix` lists them)",
        )
    if as_json:
        click.echo(json.dumps({"include": [e.as_json() for e in entries]}))
        return
    _print_table(entries)


def _refuse_broken(entries: list[Entry]) -> None:
    """Name every recipe that does not load on stderr, then fail once for all of them."""
    broken = list({e.recipe: e for e in entries if e.error is not None}.values())
    for entry in broken:
        click.echo(f"error: recipe {entry.recipe}: {entry.error}", err=True)
    if broken:
        names = ", ".join(e.recipe for e in broken)
        raise InputError(f"{len(broken)} recipe(s) do not load: {names}", hint="fix them, or name only the others")


def _print_table(entries: list[Entry]) -> None:
    width = max(len("recipe"), *(len(e.recipe) for e in entries))
    app_width = max(len("app"), *(len(e.app) for e in entries))
    click.echo(f"{'recipe':<{width}}  {'app':<{app_width}}  distro")
    for entry in entries:
        click.echo(f"{entry.recipe:<{width}}  {entry.app:<{app_width}}  {entry.target}")
    click.echo(f"{len(entries)} entries")
