"""`vmapp-build gc`: what killed runs left behind."""

from __future__ import annotations

from pathlib import Path

import click

from builder.errors import VmappError


@click.command("gc")
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
    from builder.engine import connect
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
