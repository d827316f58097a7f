"""The gallery model: where a version goes in Azure (settings) and what it is (its definition).

Settings come from a recipe's `gallery:` key or a separate YAML file (`--gallery FILE`), read by
builder.azure.settings. One `VersionDefinition` feeds every output: the REST bodies below, the
ARM template, the az and PowerShell commands (builder.azure.emit) and the ARM calls (builder.azure.publish).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from builder.errors import InputError

API_VERSION = "2024-03-03"
STORAGE_ACCOUNT_TYPES = ("Standard_LRS", "Standard_ZRS", "Premium_LRS", "PremiumV2_LRS")
SCRIPT_BEHAVIORS = ("None", "Rerun")
OS_TYPES = ("Linux", "Windows")
# Written into definitions emitted before `publish` has a blob URL: obviously not a link.
UNPUBLISHED_LINK = "<run vmapp-build publish to fill in the package's SAS URL>"
DEFAULT_SAS_HOURS = 24 * 7
# Tag names on the application version (Azure: no < > % & \ ? / in a name, values up to 256 characters).
PACKAGE_SHA256_TAG = "vmapp-build.package-sha256"
SBOM_SHA256_TAG = "vmapp-build.sbom-sha256"
ARCH_TAG = "vmapp-build.architecture"  # amd64 or arm64: what the package's binaries run on
# A gallery application has no architecture field (gallery images have one: x64, Arm64), so one
# application can be given packages of either. The settings' `architecture` says which VMs an
# application serves, in Azure's spelling or Debian's; a package of the other one is refused.
ARCHITECTURES = {"x64": "amd64", "amd64": "amd64", "Arm64": "arm64", "arm64": "arm64"}


@dataclass(frozen=True)
class TargetRegion:
    name: str
    replicas: int | None = None  # regionalReplicaCount; None: the version's replicaCount applies
    storage_account_type: str | None = None
    exclude_from_latest: bool | None = None
    encryption: bool = False  # requested in the settings; rejected by the checks (unsupported)


@dataclass(frozen=True)
class ConfigurationFile:
    """A license or settings file, shipped as defaultConfigurationLink and saved as `name` on the VM."""

    path: Path
    name: str


@dataclass(frozen=True)
class StorageTarget:
    account_url: str | None = None  # https://ACCOUNT.blob.core.windows.net
    container: str = "vmapps"
    sas_hours: int = DEFAULT_SAS_HOURS


@dataclass(frozen=True)
class GallerySettings:
    gallery: str
    resource_group: str
    location: str
    source: str = ""  # "FILE: gallery" (for messages)
    subscription: str | None = None
    os_type: str = ""  # the application's supportedOSType; "" takes the package's own OS
    description: str | None = None
    replica_count: int = 1
    storage_account_type: str = "Standard_LRS"
    target_regions: tuple[TargetRegion, ...] = ()
    end_of_life_date: str | None = None  # ISO 8601, UTC, as the API returns it
    exclude_from_latest: bool = False
    configuration: ConfigurationFile | None = None
    script_behavior_after_reboot: str | None = None
    reboot: bool = False  # the install reboots the VM: order this application last
    storage: StorageTarget = field(default_factory=StorageTarget)
    architecture: str | None = None  # amd64 or arm64: the VMs the application serves (None: not declared)

    @property
    def regions(self) -> tuple[TargetRegion, ...]:
        """The target regions; the version's own location alone when none are listed."""
        return self.target_regions or (TargetRegion(self.location),)

    def as_json(self) -> dict[str, Any]:
        return asdict(self, dict_factory=lambda items: {k: str(v) if isinstance(v, Path) else v for k, v in items})


@dataclass(frozen=True)
class VersionDefinition:
    """One application version as Azure will hold it, built from a manifest and settings."""

    app: str
    version: str
    package_os: str  # the OS the package was built for
    description: str
    install: str
    remove: str
    update: str | None
    package_file_name: str
    package_path: Path
    settings: GallerySettings
    media_link: str = UNPUBLISHED_LINK
    default_configuration_link: str | None = None
    # The version resource's tags: the package's and the SBOM's sha256 (64 hex characters; Azure allows 256).
    tags: dict[str, str] = field(default_factory=dict)
    package_arch: str = "amd64"  # the architecture the package was built for (builds before arm64: amd64)

    @property
    def os_type(self) -> str:
        """The application's supportedOSType: the settings', else the OS this package was built for."""
        return self.settings.os_type or self.package_os

    def arch_problem(self) -> str | None:
        """Why this package must not go to the application: built for another architecture than the
        settings declare; None when they agree or the settings declare none."""
        declared = self.settings.architecture
        if declared is None or declared == self.package_arch:
            return None
        return (
            f"the package of {self.app} {self.version} is built for {self.package_arch}, but the gallery "
            f"settings ({self.settings.source or 'architecture'}) declare the application {declared}: "
            f"its VMs could not run it"
        )

    @property
    def config_file_name(self) -> str | None:
        return self.settings.configuration.name if self.settings.configuration else None

    def published(self, media_link: str, config_link: str | None) -> VersionDefinition:
        return replace(self, media_link=media_link, default_configuration_link=config_link)


def application_body(d: VersionDefinition) -> dict[str, Any]:
    """The REST body of the gallery application (Microsoft.Compute/galleries/applications)."""
    properties: dict[str, Any] = {"supportedOSType": d.os_type}
    description = d.settings.description if d.settings.description is not None else d.description
    if description:
        properties["description"] = description
    return {"location": d.settings.location, "properties": properties}


def version_body(d: VersionDefinition) -> dict[str, Any]:
    """The REST body of the application version (API 2024-03-03), `publishingProfile` and all."""
    s = d.settings
    source: dict[str, Any] = {"mediaLink": d.media_link}
    if d.default_configuration_link is not None:
        source["defaultConfigurationLink"] = d.default_configuration_link
    manage: dict[str, Any] = {"install": d.install, "remove": d.remove}
    if d.update is not None:
        manage["update"] = d.update
    settings: dict[str, Any] = {"packageFileName": d.package_file_name}
    if d.config_file_name is not None:
        settings["configFileName"] = d.config_file_name
    if s.script_behavior_after_reboot is not None:
        settings["scriptBehaviorAfterReboot"] = s.script_behavior_after_reboot
    profile: dict[str, Any] = {
        "source": source,
        "manageActions": manage,
        "settings": settings,
        "targetRegions": [_region_body(r) for r in s.regions],
        "replicaCount": s.replica_count,
        "excludeFromLatest": s.exclude_from_latest,
        "storageAccountType": s.storage_account_type,
    }
    if s.end_of_life_date is not None:
        profile["endOfLifeDate"] = s.end_of_life_date
    tags = {"tags": dict(d.tags)} if d.tags else {}
    return {"location": s.location, **tags, "properties": {"publishingProfile": profile}}


def _region_body(r: TargetRegion) -> dict[str, Any]:
    body: dict[str, Any] = {"name": r.name}
    if r.replicas is not None:
        body["regionalReplicaCount"] = r.replicas
    if r.storage_account_type is not None:
        body["storageAccountType"] = r.storage_account_type
    if r.exclude_from_latest is not None:
        body["excludeFromLatest"] = r.exclude_from_latest
    if r.encryption:
        body["encryption"] = {}
    return body


def definition_from_manifest(build_dir: Path, document: dict[str, Any], settings: GallerySettings) -> VersionDefinition:
    """The version definition of the build in `build_dir` (its manifest already loaded)."""
    commands = document.get("commands", {})
    family = str(document.get("distro", {}).get("family", ""))
    arch = str(document.get("distro", {}).get("arch") or "amd64")
    package_os = str(document.get("os") or ("Windows" if family == "windows" else "Linux"))
    return VersionDefinition(
        app=document["application"]["name"],
        version=document["application"]["version"],
        package_os=package_os,
        description=document["application"].get("description") or "",
        install=commands["install"],
        remove=commands["remove"],
        update=commands.get("update") or None,
        package_file_name=document["packageFileName"],
        package_path=build_dir / document["package"]["file"],
        settings=settings,
        tags=version_tags(document),
        package_arch=arch,
    )


def version_tags(document: dict[str, Any]) -> dict[str, str]:
    """The tags naming what a version ships: its package's sha256 and its SBOM's (builds before the SBOM
    have none), and its architecture (builds before arm64 recorded none)."""
    sbom = document.get("sbom") or {}
    tags = {
        PACKAGE_SHA256_TAG: document["package"].get("sha256"),
        SBOM_SHA256_TAG: sbom.get("sha256"),
        ARCH_TAG: document.get("distro", {}).get("arch"),
    }
    return {name: str(value) for name, value in tags.items() if value}


def settings_from_json(document: dict[str, Any]) -> GallerySettings:
    """Settings saved by `GallerySettings.as_json` next to a build (already validated once)."""
    regions = tuple(TargetRegion(**r) for r in document.get("target_regions", ()))
    config = document.get("configuration")
    return GallerySettings(
        **{
            **document,
            "target_regions": regions,
            "configuration": ConfigurationFile(Path(config["path"]), config["name"]) if config else None,
            "storage": StorageTarget(**document.get("storage", {})),
        }
    )


def read_settings_json(path: Path) -> GallerySettings:
    try:
        return settings_from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise InputError(f"{path}: cannot read the saved gallery settings: {exc}") from exc
