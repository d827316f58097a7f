"""The gallery model: where a version goes in Azure (settings) and what it is (its definition).

Settings come from a recipe's `gallery:` key or a separate YAML file (`--gallery FILE`); errors
name the file and the key. One `VersionDefinition` feeds every output: the REST bodies below, the
ARM template, the az and PowerShell commands (builder.azure.emit) and the ARM calls (builder.azure.publish).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from builder.errors import InputError, RecipeError
from builder.yamlfile import as_list, character_problem, no_unknown_keys, read_yaml

API_VERSION = "2024-03-03"
STORAGE_ACCOUNT_TYPES = ("Standard_LRS", "Standard_ZRS", "Premium_LRS", "PremiumV2_LRS")
SCRIPT_BEHAVIORS = ("None", "Rerun")
OS_TYPES = ("Linux", "Windows")
# Written into definitions emitted before `publish` has a blob URL: obviously not a link.
UNPUBLISHED_LINK = "<run vmapp-build publish to fill in the package's SAS URL>"
DEFAULT_SAS_HOURS = 24 * 7

_SETTINGS_KEYS = {
    "name",
    "resource_group",
    "location",
    "subscription",
    "os_type",
    "description",
    "replica_count",
    "storage_account_type",
    "target_regions",
    "end_of_life_date",
    "exclude_from_latest",
    "configuration",
    "script_behavior_after_reboot",
    "reboot",
    "storage",
}
_REGION_KEYS = {"name", "replicas", "storage_account_type", "exclude_from_latest", "encryption"}
_CONFIG_KEYS = {"file", "name"}
_STORAGE_KEYS = {"account_url", "container", "sas_hours"}


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

    @property
    def os_type(self) -> str:
        """The application's supportedOSType: the settings', else the OS this package was built for."""
        return self.settings.os_type or self.package_os

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
    return {"location": s.location, "properties": {"publishingProfile": profile}}


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
    )


# --- loading --------------------------------------------------------------------------------------


def load_gallery_file(path: Path) -> GallerySettings:
    """Settings from a YAML file: the mapping itself, or a mapping with one `gallery:` key."""
    data = read_yaml(path, "the gallery settings")
    if isinstance(data, dict) and set(data) == {"gallery"}:
        return parse_gallery_settings(path, "gallery", data["gallery"])
    return parse_gallery_settings(path, "", data)


def parse_gallery_settings(path: Path, key: str, data: Any) -> GallerySettings:
    """Validate a settings mapping found at `key` of `path`; relative files resolve against `path`."""

    def k(name: str) -> str:
        return f"{key}.{name}" if key else name

    if not isinstance(data, dict):
        raise RecipeError(path, key, "expected a mapping with name, resource_group and location")
    no_unknown_keys(path, key, data, _SETTINGS_KEYS)
    regions = tuple(
        _region(path, f"{k('target_regions')}[{i}]", r)
        for i, r in enumerate(as_list(path, k("target_regions"), data.get("target_regions") or []))
    )
    config = None
    if data.get("configuration") is not None:
        config = _configuration(path, k("configuration"), data["configuration"])
    return GallerySettings(
        gallery=_word(path, k("name"), data.get("name")),
        resource_group=_word(path, k("resource_group"), data.get("resource_group")),
        location=_word(path, k("location"), data.get("location"), spaces=True),
        source=f"{path}: {key}" if key else str(path),
        subscription=_word(path, k("subscription"), data["subscription"]) if data.get("subscription") else None,
        os_type=_choice(path, k("os_type"), data["os_type"], OS_TYPES) if "os_type" in data else "",
        description=_text(path, k("description"), data["description"], True) if "description" in data else None,
        replica_count=_int(path, k("replica_count"), data.get("replica_count", 1)),
        storage_account_type=_choice(
            path, k("storage_account_type"), data.get("storage_account_type", "Standard_LRS"), STORAGE_ACCOUNT_TYPES
        ),
        target_regions=regions,
        end_of_life_date=_date(path, k("end_of_life_date"), data.get("end_of_life_date")),
        exclude_from_latest=_bool(path, k("exclude_from_latest"), data.get("exclude_from_latest", False)),
        configuration=config,
        script_behavior_after_reboot=(
            _choice(path, k("script_behavior_after_reboot"), data["script_behavior_after_reboot"], SCRIPT_BEHAVIORS)
            if data.get("script_behavior_after_reboot") is not None
            else None
        ),
        reboot=_bool(path, k("reboot"), data.get("reboot", False)),
        storage=_storage(path, k("storage"), data.get("storage") or {}),
    )


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


def _region(path: Path, key: str, data: Any) -> TargetRegion:
    if isinstance(data, str):
        data = {"name": data}
    if not isinstance(data, dict):
        raise RecipeError(path, key, "expected a region name or a mapping with name and replicas")
    no_unknown_keys(path, key, data, _REGION_KEYS)
    storage = data.get("storage_account_type")
    return TargetRegion(
        name=_word(path, f"{key}.name", data.get("name"), spaces=True),
        replicas=_int(path, f"{key}.replicas", data["replicas"]) if data.get("replicas") is not None else None,
        storage_account_type=(
            _choice(path, f"{key}.storage_account_type", storage, STORAGE_ACCOUNT_TYPES) if storage else None
        ),
        exclude_from_latest=(
            _bool(path, f"{key}.exclude_from_latest", data["exclude_from_latest"])
            if data.get("exclude_from_latest") is not None
            else None
        ),
        encryption=data.get("encryption") not in (None, False, {}),
    )


def _configuration(path: Path, key: str, data: Any) -> ConfigurationFile:
    if isinstance(data, str):
        data = {"file": data}
    if not isinstance(data, dict):
        raise RecipeError(path, key, "expected a file path or a mapping with file and name")
    no_unknown_keys(path, key, data, _CONFIG_KEYS)
    file = (path.parent / _text(path, f"{key}.file", data.get("file"))).resolve()
    if not file.is_file():
        raise RecipeError(path, f"{key}.file", f"{file}: no such file")
    name = _text(path, f"{key}.name", data.get("name", file.name))
    if any(c in name for c in "/\\:") or name.strip(" .") == "":
        raise RecipeError(
            path,
            f"{key}.name",
            f"{name!r} is not a file name",
            hint="the VM saves the file under this name in the application's directory: no '/', '\\' or ':'",
        )
    return ConfigurationFile(file, name)


def _storage(path: Path, key: str, data: Any) -> StorageTarget:
    if not isinstance(data, dict):
        raise RecipeError(path, key, "expected a mapping with account_url and container")
    no_unknown_keys(path, key, data, _STORAGE_KEYS)
    url = _text(path, f"{key}.account_url", data["account_url"]) if data.get("account_url") else None
    if url is not None and not url.startswith(("https://", "http://")):
        raise RecipeError(path, f"{key}.account_url", f"{url!r} is not an http(s):// URL")
    hours = _int(path, f"{key}.sas_hours", data.get("sas_hours", DEFAULT_SAS_HOURS))
    if hours < 1:
        raise RecipeError(path, f"{key}.sas_hours", "must be at least 1")
    return StorageTarget(url, _word(path, f"{key}.container", data.get("container", "vmapps")), hours)


def _date(path: Path, key: str, raw: Any) -> str | None:
    """YAML reads `2026-12-31` as a date: accept dates, datetimes and ISO strings; emit UTC ISO."""
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            raw = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError as exc:
            raise RecipeError(path, key, f"{raw!r} is not a date", hint="use YYYY-MM-DD") from exc
    if isinstance(raw, dt.datetime):
        moment = raw if raw.tzinfo else raw.replace(tzinfo=dt.UTC)
    elif isinstance(raw, dt.date):
        moment = dt.datetime(raw.year, raw.month, raw.day, tzinfo=dt.UTC)
    else:
        raise RecipeError(path, key, f"expected a date, got {type(raw).__name__}", hint="use YYYY-MM-DD")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(path: Path, key: str, raw: Any, multiline: bool = False) -> str:
    if raw is None:
        raise RecipeError(path, key, "missing")
    if not isinstance(raw, str) or not raw.strip():
        raise RecipeError(path, key, "expected a non-empty string")
    if problem := character_problem(raw, multiline):
        raise RecipeError(path, key, f"{raw!r} {problem}")
    return raw


def _word(path: Path, key: str, raw: Any, spaces: bool = False) -> str:
    """A name: no quotes or shell characters; spaces only in region names ("East US")."""
    text = _text(path, key, raw).strip()
    if any((c.isspace() and not (spaces and c == " ")) or c in "\"'`$\\;&|<>" for c in text):
        raise RecipeError(path, key, f"{text!r}: a name has no quotes, shell characters or (here) spaces")
    return text


def _int(path: Path, key: str, raw: Any) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise RecipeError(path, key, f"expected a whole number, got {raw!r}")
    return raw


def _bool(path: Path, key: str, raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise RecipeError(path, key, "expected true or false")
    return raw


def _choice(path: Path, key: str, raw: Any, allowed: tuple[str, ...]) -> str:
    if raw not in allowed:
        raise RecipeError(path, key, f"{raw!r} is not one of: {', '.join(allowed)}")
    return str(raw)


def gallery_settings_for(
    recipe_path: Path, recipe_raw: dict[str, Any], gallery_file: Path | None
) -> GallerySettings | None:
    """The settings for a build: `--gallery FILE` wins over the recipe's `gallery:` key; None without either."""
    if gallery_file is not None:
        return load_gallery_file(gallery_file)
    if "gallery" in recipe_raw:
        return parse_gallery_settings(recipe_path, "gallery", recipe_raw["gallery"])
    return None
