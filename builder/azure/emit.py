"""Definitions emitted next to a package: an ARM template, az commands and a PowerShell call.

All three come from one `VersionDefinition` (builder.azure.gallery), so they cannot drift apart. They are
written into `<build>/gallery/` together with the settings they were made from (`settings.json`),
which `vmapp-build publish` reads back.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from builder.azure.checks import check_definition, enforce_gallery
from builder.azure.gallery import (
    API_VERSION,
    UNPUBLISHED_LINK,
    GallerySettings,
    TargetRegion,
    VersionDefinition,
    application_body,
    definition_from_manifest,
    version_body,
)
from builder.azure.limits import LimitResult

GALLERY_DIR = "gallery"
TEMPLATE_NAME = "template.json"
AZ_NAME = "az.sh"
POWERSHELL_NAME = "New-AzGalleryApplicationVersion.ps1"
SETTINGS_NAME = "settings.json"
DEFINITION_NAME = "definition.json"

_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
_APP_TYPE = "Microsoft.Compute/galleries/applications"
_VERSION_TYPE = "Microsoft.Compute/galleries/applications/versions"
# PowerShell treats these as single quotes too: each must be doubled inside a '...' string.
_PS_QUOTES = "'\u2018\u2019\u201a\u201b"


# --- ARM ---------------------------------------------------------------------------------------------


def arm_escape(value: Any) -> Any:
    """ARM evaluates a string in [brackets] as an expression; '[[' keeps it literal."""
    if isinstance(value, str):
        return "[" + value if value.startswith("[") and value.endswith("]") else value
    if isinstance(value, dict):
        return {k: arm_escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [arm_escape(v) for v in value]
    return value


def arm_template(d: VersionDefinition) -> dict[str, Any]:
    """A deployment template creating (or updating) the gallery application and this version."""
    s = d.settings
    application = {
        "type": _APP_TYPE,
        "apiVersion": API_VERSION,
        "name": f"{s.gallery}/{d.app}",
        **arm_escape(application_body(d)),
    }
    version = {
        "type": _VERSION_TYPE,
        "apiVersion": API_VERSION,
        "name": f"{s.gallery}/{d.app}/{d.version}",
        "dependsOn": [f"[resourceId('{_APP_TYPE}', '{s.gallery}', '{d.app}')]"],
        **arm_escape(version_body(d)),
    }
    return {"$schema": _SCHEMA, "contentVersion": "1.0.0.0", "resources": [application, version]}


# --- az ----------------------------------------------------------------------------------------------


def az_commands(d: VersionDefinition) -> list[list[str]]:
    """The argv of `az sig gallery-application create` and `... version create`."""
    s = d.settings
    where = ["--resource-group", s.resource_group, "--gallery-name", s.gallery]
    subscription = ["--subscription", s.subscription] if s.subscription else []
    description = s.description if s.description is not None else d.description
    create_app = [
        *["az", "sig", "gallery-application", "create", *where, "--name", d.app],
        *["--os-type", d.os_type, "--location", s.location],
        *(["--description", description] if description else []),
        *subscription,
    ]
    regions = [
        {
            "name": r.name,
            **({"regional-replica-count": r.replicas} if r.replicas is not None else {}),
            **({"storage-account-type": r.storage_account_type} if r.storage_account_type else {}),
        }
        for r in s.regions
    ]
    create_version = [
        *["az", "sig", "gallery-application", "version", "create", *where],
        *["--application-name", d.app, "--version-name", d.version, "--location", s.location],
        *["--package-file-link", d.media_link, "--install-command", d.install, "--remove-command", d.remove],
        *(["--update-command", d.update] if d.update is not None else []),
        *["--package-file-name", d.package_file_name],
        *(["--config-file-name", d.config_file_name] if d.config_file_name is not None else []),
        *(["--default-file-link", d.default_configuration_link] if d.default_configuration_link else []),
        *["--target-regions", json.dumps(regions, separators=(",", ":"))],
        *(["--end-of-life-date", s.end_of_life_date] if s.end_of_life_date else []),
        *["--exclude-from", "true" if s.exclude_from_latest else "false"],
        *(["--tags", *(f"{name}={value}" for name, value in d.tags.items())] if d.tags else []),
        *subscription,
    ]
    return [create_app, create_version]


def az_unsupported(settings: GallerySettings) -> list[str]:
    """Settings the az command has no option for: the ARM template carries them."""
    notes = []
    if settings.script_behavior_after_reboot is not None:
        notes.append("settings.scriptBehaviorAfterReboot")
    if settings.replica_count != 1 and any(r.replicas is None for r in settings.regions):
        notes.append("publishingProfile.replicaCount")
    if settings.storage_account_type != "Standard_LRS":
        notes.append("publishingProfile.storageAccountType")
    if any(r.exclude_from_latest is not None for r in settings.regions):
        notes.append("targetRegions[].excludeFromLatest")
    return notes


def az_script(d: VersionDefinition) -> str:
    """A POSIX sh script running the az commands, every argument quoted."""
    lines = ["#!/bin/sh", f"# {d.app} {d.version}: generated by vmapp-build from one model", "set -eu"]
    if d.media_link == UNPUBLISHED_LINK:
        lines.append("# the package link is a placeholder until `vmapp-build publish` fills it in")
    lines += [f"# az has no option for {note}: deploy {TEMPLATE_NAME} instead" for note in az_unsupported(d.settings)]
    lines += [shlex.join(argv) for argv in az_commands(d)]
    return "\n".join(lines) + "\n"


# --- PowerShell --------------------------------------------------------------------------------------


def ps_quote(value: str) -> str:
    """A PowerShell single-quoted string: verbatim, no expansion; quote characters doubled."""
    return "'" + "".join(c + c if c in _PS_QUOTES else c for c in value) + "'"


def powershell_script(d: VersionDefinition) -> str:
    """The New-AzGalleryApplication and New-AzGalleryApplicationVersion calls, splatted."""
    s = d.settings
    lines = [f"# {d.app} {d.version}: generated by vmapp-build from one model", "$ErrorActionPreference = 'Stop'"]
    if s.script_behavior_after_reboot is not None or s.storage_account_type != "Standard_LRS":
        lines.append(f"# scriptBehaviorAfterReboot and storageAccountType have no parameter here: see {TEMPLATE_NAME}")
    lines += [*_splat("application", _ps_application(d)), "New-AzGalleryApplication @application", ""]
    lines += [*_splat("version", _ps_version(d)), "New-AzGalleryApplicationVersion @version"]
    return "\n".join(lines) + "\n"


def _ps_application(d: VersionDefinition) -> list[tuple[str, str | None]]:
    s = d.settings
    description = s.description if s.description is not None else d.description
    return [
        ("ResourceGroupName", ps_quote(s.resource_group)),
        ("GalleryName", ps_quote(s.gallery)),
        ("Name", ps_quote(d.app)),
        ("Location", ps_quote(s.location)),
        ("SupportedOSType", ps_quote(d.os_type)),
        ("Description", ps_quote(description) if description else None),
        ("SubscriptionId", ps_quote(s.subscription) if s.subscription else None),
    ]


def _ps_version(d: VersionDefinition) -> list[tuple[str, str | None]]:
    s = d.settings
    return [
        ("ResourceGroupName", ps_quote(s.resource_group)),
        ("GalleryName", ps_quote(s.gallery)),
        ("GalleryApplicationName", ps_quote(d.app)),
        ("Name", ps_quote(d.version)),
        ("Location", ps_quote(s.location)),
        ("PackageFileLink", ps_quote(d.media_link)),
        ("Install", ps_quote(d.install)),
        ("Remove", ps_quote(d.remove)),
        ("Update", ps_quote(d.update) if d.update is not None else None),
        ("PackageFileName", ps_quote(d.package_file_name)),
        ("ConfigFileName", ps_quote(d.config_file_name) if d.config_file_name is not None else None),
        ("DefaultConfigFileLink", ps_quote(d.default_configuration_link) if d.default_configuration_link else None),
        ("TargetRegion", "@(" + ", ".join(map(_ps_region, s.regions)) + ")"),
        ("ReplicaCount", str(s.replica_count)),
        ("PublishingProfileEndOfLifeDate", f"[datetime]{ps_quote(s.end_of_life_date)}" if s.end_of_life_date else None),
        ("PublishingProfileExcludeFromLatest", "$true" if s.exclude_from_latest else None),
        ("Tag", _ps_hashtable([(ps_quote(k), ps_quote(v)) for k, v in d.tags.items()]) if d.tags else None),
        ("SubscriptionId", ps_quote(s.subscription) if s.subscription else None),
    ]


def _ps_region(r: TargetRegion) -> str:
    entries = [
        ("Name", ps_quote(r.name)),
        ("RegionalReplicaCount", str(r.replicas) if r.replicas is not None else None),
        ("StorageAccountType", ps_quote(r.storage_account_type) if r.storage_account_type else None),
        ("ExcludeFromLatest", f"${str(r.exclude_from_latest).lower()}" if r.exclude_from_latest is not None else None),
    ]
    return _ps_hashtable(entries)


def _ps_hashtable(entries: Sequence[tuple[str, str | None]]) -> str:
    """An inline hashtable of the entries that have a value (keys already PowerShell text)."""
    return "@{" + "; ".join(f"{key} = {value}" for key, value in entries if value is not None) + "}"


def _splat(name: str, params: list[tuple[str, str | None]]) -> list[str]:
    """A hashtable of the parameters that have a value (None: left out)."""
    return [f"${name} = @{{", *(f"    {key} = {value}" for key, value in params if value is not None), "}"]


# --- files -------------------------------------------------------------------------------------------


def definition_files(d: VersionDefinition) -> dict[str, str]:
    """Every emitted file's name and text."""
    return {
        TEMPLATE_NAME: json.dumps(arm_template(d), indent=2) + "\n",
        DEFINITION_NAME: json.dumps(
            {"application": application_body(d), "version": version_body(d), "apiVersion": API_VERSION}, indent=2
        )
        + "\n",
        AZ_NAME: az_script(d),
        POWERSHELL_NAME: powershell_script(d),
        SETTINGS_NAME: json.dumps(d.settings.as_json(), indent=2, sort_keys=True) + "\n",
    }


def write_definitions(directory: Path, d: VersionDefinition) -> None:
    """Write the files into `directory`; with a SAS in them they are readable by the owner only."""
    directory.mkdir(parents=True, exist_ok=True)
    secret = d.media_link != UNPUBLISHED_LINK
    for name, text in definition_files(d).items():
        _write_atomically(directory / name, text, 0o600 if secret else (0o755 if name == AZ_NAME else 0o644))


def replace_directory(staged: Path, final: Path) -> None:
    """Put a staged directory in place of `final` (two renames on one filesystem)."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(staged, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_atomically(path: Path, text: str, mode: int) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def stage_definitions(
    directory: Path, document: dict[str, Any], settings: GallerySettings, build_dir: Path
) -> list[LimitResult]:
    """Check a fresh build against its gallery settings and write its definitions into `directory`.

    Raises LimitError on any failed check; returns every result (warnings included) for the manifest.
    """
    d = definition_from_manifest(build_dir, document, settings)
    config = settings.configuration
    results = check_definition(d, int(document["package"]["size"]), config.path.stat().st_size if config else None)
    enforce_gallery(results, f"{d.app} {d.version}")
    write_definitions(directory, d)
    return results
