"""`vmapp-build diff OLD NEW`: what changed between two builds of one app for one distro."""

from __future__ import annotations

import json
from pathlib import Path

import click

from builder.diff import diff_builds


@click.command("diff")
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
def diff_cmd(old: Path, new: Path, as_json: bool) -> None:
    """Packages added, removed, upgraded and downgraded from OLD to NEW (dist/<app>/<version>/<distro>)."""
    result = diff_builds(old, new)
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2, sort_keys=True))
    else:
        click.echo("\n".join(result.lines()))
