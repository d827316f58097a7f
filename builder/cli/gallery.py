"""The commands that take a build to Azure: `publish`, `definitions` and `check-plan`.

builder.cli registers them. The Azure SDKs are imported only when a command needs them, so the
rest of the tool works without the `azure` extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from builder.azure.checks import check_settings, enforce_gallery
from builder.azure.gallery import GallerySettings
from builder.azure.settings import gallery_settings_for, load_gallery_file
from builder.errors import EnvironmentProblem, InputError

_AZURE_HINT = "install the Azure extra: pip install 'vmapp-build[azure]'"


def gallery_settings_checked(
    recipe_path: Path, recipe_raw: dict[str, Any], gallery_file: Path | None
) -> GallerySettings | None:
    """The build's gallery settings, with the checks that need no package done before any build starts."""
    settings = gallery_settings_for(recipe_path, recipe_raw, gallery_file)
    if settings is not None:
        for warning in enforce_gallery(check_settings(settings), settings.source):
            click.echo(f"warning: {warning}", err=True)
    return settings


def _report(message: str) -> None:
    click.echo(message, err=message.startswith("warning:"))


@click.command("publish")
@click.argument("path", type=click.Path(path_type=Path, exists=True))
@click.option("--gallery", "gallery_file", type=click.Path(path_type=Path, dir_okay=False), help="Gallery settings.")
@click.option(
    "--connection-string",
    envvar="AZURE_STORAGE_CONNECTION_STRING",
    help="Storage connection string (env AZURE_STORAGE_CONNECTION_STRING).",
)
@click.option("--account-url", help="https://ACCOUNT.blob.core.windows.net (default: gallery.storage.account_url).")
@click.option(
    "--account-key",
    envvar="AZURE_STORAGE_KEY",
    help="Sign the SAS with this key (env AZURE_STORAGE_KEY); without one, sign in for a user delegation SAS.",
)
@click.option("--container", help="Blob container (default: gallery.storage.container, else vmapps).")
@click.option("--block-mib", type=click.IntRange(1, 4000), default=4, show_default=True, help="Block size in MiB.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True, help="Parallel blocks.")
@click.option("--create", is_flag=True, help="Then create or update the application and version in Azure, and wait.")
@click.option("--subscription", envvar="AZURE_SUBSCRIPTION_ID", help="Subscription id for --create.")
@click.option("--arm-endpoint", hidden=True, help="Resource Manager endpoint (tests, sovereign clouds).")
@click.option("--poll-seconds", type=float, default=30.0, hidden=True)
def publish_cmd(
    path: Path,
    gallery_file: Path | None,
    connection_string: str | None,
    account_url: str | None,
    account_key: str | None,
    container: str | None,
    block_mib: int,
    concurrency: int,
    create: bool,
    subscription: str | None,
    arm_endpoint: str | None,
    poll_seconds: float,
) -> None:
    """Upload the package at PATH (a dist/... directory), sign a read SAS, fill in the definitions."""
    try:
        from builder.azure.publish import create_in_azure, load_settings, publish_build, storage_access
    except ImportError as exc:
        raise EnvironmentProblem(f"publish needs the Azure SDK: {exc}", hint=_AZURE_HINT) from exc
    settings = load_settings(path, load_gallery_file(gallery_file) if gallery_file else None)
    access = storage_access(connection_string, account_url or settings.storage.account_url, account_key)
    result = publish_build(
        path,
        access,
        settings,
        container=container,
        block_size=block_mib * 1024 * 1024,
        concurrency=concurrency,
        report=_report,
    )
    click.echo(f"mediaLink {result.definition.media_link.split('?', 1)[0]}?<read SAS>")
    if not create:
        return
    subscription = subscription or settings.subscription
    if not subscription:
        raise InputError("--create needs a subscription", hint="pass --subscription or set gallery.subscription")
    from azure.identity import DefaultAzureCredential

    create_in_azure(
        result.definition,
        DefaultAzureCredential(),
        subscription,
        base_url=arm_endpoint,
        poll_seconds=poll_seconds,
        report=_report,
    )
    click.echo(f"{result.definition.app} {result.definition.version}: replicated")


@click.command("definitions")
@click.argument("path", type=click.Path(path_type=Path, exists=True))
@click.option(
    "--gallery",
    "gallery_file",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Gallery settings (YAML).",
)
def definitions_cmd(path: Path, gallery_file: Path) -> None:
    """Check the build at PATH against gallery settings and write its ARM, az and PowerShell definitions."""
    from builder.azure.emit import GALLERY_DIR, replace_directory, stage_definitions
    from builder.manifest import load_manifest

    build_dir, document = load_manifest(path)
    staged = build_dir / f".{GALLERY_DIR}.new"
    results = stage_definitions(staged, document, load_gallery_file(gallery_file), build_dir)
    replace_directory(staged, build_dir / GALLERY_DIR)
    for r in results:
        if r.level == "warning":
            click.echo(f"warning: {r.message}", err=True)
    click.echo(f"definitions in {build_dir / GALLERY_DIR}")


@click.command("check-plan")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def check_plan_cmd(file: Path) -> None:
    """Check a VM plan (YAML `applications:` list of packageReferenceId) against Azure's per-VM rules."""
    from builder.azure.checks import check_vm_plan, load_vm_plan

    planned = load_vm_plan(file)
    for warning in enforce_gallery(check_vm_plan(planned), str(file)):
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"{file}: {len(planned)} applications, within Azure's limits")


GALLERY_COMMANDS = [publish_cmd, definitions_cmd, check_plan_cmd]
