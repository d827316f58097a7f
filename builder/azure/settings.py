"""Gallery settings from YAML: a recipe's `gallery:` key or a separate file (`--gallery FILE`).

Errors name the file and the key; the checks every YAML loader shares are builder.fields, the ones
here are the gallery's own (names Azure takes, dates, the configuration file).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from builder import fields
from builder.azure.gallery import (
    ARCHITECTURES,
    DEFAULT_SAS_HOURS,
    OS_TYPES,
    SCRIPT_BEHAVIORS,
    STORAGE_ACCOUNT_TYPES,
    ConfigurationFile,
    GallerySettings,
    StorageTarget,
    TargetRegion,
)
from builder.errors import RecipeError
from builder.yamlfile import read_yaml

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
    "architecture",
}
_REGION_KEYS = {"name", "replicas", "storage_account_type", "exclude_from_latest", "encryption"}
_CONFIG_KEYS = {"file", "name"}
_STORAGE_KEYS = {"account_url", "container", "sas_hours"}


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

    data = fields.mapping(path, key, data, _SETTINGS_KEYS, "a mapping with name, resource_group and location")
    raw_regions = fields.as_list(path, k("target_regions"), data.get("target_regions") or [])
    regions = tuple(_region(path, f"{k('target_regions')}[{i}]", r) for i, r in enumerate(raw_regions))
    config = None
    if data.get("configuration") is not None:
        config = _configuration(path, k("configuration"), data["configuration"])
    behavior = data.get("script_behavior_after_reboot")
    return GallerySettings(
        gallery=_word(path, k("name"), data.get("name")),
        resource_group=_word(path, k("resource_group"), data.get("resource_group")),
        location=_word(path, k("location"), data.get("location"), spaces=True),
        source=f"{path}: {key}" if key else str(path),
        subscription=_word(path, k("subscription"), data["subscription"]) if data.get("subscription") else None,
        os_type=fields.choice(path, k("os_type"), data["os_type"], OS_TYPES) if "os_type" in data else "",
        description=(
            fields.text(path, k("description"), data["description"], multiline=True) if "description" in data else None
        ),
        replica_count=fields.integer(path, k("replica_count"), data.get("replica_count", 1)),
        storage_account_type=fields.choice(
            path, k("storage_account_type"), data.get("storage_account_type", "Standard_LRS"), STORAGE_ACCOUNT_TYPES
        ),
        target_regions=regions,
        end_of_life_date=_date(path, k("end_of_life_date"), data.get("end_of_life_date")),
        exclude_from_latest=fields.boolean(path, k("exclude_from_latest"), data.get("exclude_from_latest", False)),
        configuration=config,
        script_behavior_after_reboot=(
            fields.choice(path, k("script_behavior_after_reboot"), behavior, SCRIPT_BEHAVIORS)
            if behavior is not None
            else None
        ),
        reboot=fields.boolean(path, k("reboot"), data.get("reboot", False)),
        storage=_storage(path, k("storage"), data.get("storage") or {}),
        architecture=(
            ARCHITECTURES[fields.choice(path, k("architecture"), data["architecture"], tuple(ARCHITECTURES))]
            if data.get("architecture") is not None
            else None
        ),
    )


def _region(path: Path, key: str, data: Any) -> TargetRegion:
    if isinstance(data, str):
        data = {"name": data}
    data = fields.mapping(path, key, data, _REGION_KEYS, "a region name or a mapping with name and replicas")
    storage = data.get("storage_account_type")
    return TargetRegion(
        name=_word(path, f"{key}.name", data.get("name"), spaces=True),
        replicas=fields.integer(path, f"{key}.replicas", data["replicas"])
        if data.get("replicas") is not None
        else None,
        storage_account_type=(
            fields.choice(path, f"{key}.storage_account_type", storage, STORAGE_ACCOUNT_TYPES) if storage else None
        ),
        exclude_from_latest=(
            fields.boolean(path, f"{key}.exclude_from_latest", data["exclude_from_latest"])
            if data.get("exclude_from_latest") is not None
            else None
        ),
        encryption=data.get("encryption") not in (None, False, {}),
    )


def _configuration(path: Path, key: str, data: Any) -> ConfigurationFile:
    if isinstance(data, str):
        data = {"file": data}
    data = fields.mapping(path, key, data, _CONFIG_KEYS, "a file path or a mapping with file and name")
    file = (path.parent / fields.text(path, f"{key}.file", data.get("file"))).resolve()
    if not file.is_file():
        raise RecipeError(path, f"{key}.file", f"{file}: no such file")
    name = fields.text(path, f"{key}.name", data.get("name", file.name))
    if any(c in name for c in "/\\:") or name.strip(" .") == "":
        raise RecipeError(
            path,
            f"{key}.name",
            f"{name!r} is not a file name",
            hint="the VM saves the file under this name in the application's directory: no '/', '\\' or ':'",
        )
    return ConfigurationFile(file, name)


def _storage(path: Path, key: str, data: Any) -> StorageTarget:
    data = fields.mapping(path, key, data, _STORAGE_KEYS, "a mapping with account_url and container")
    url = fields.text(path, f"{key}.account_url", data["account_url"]) if data.get("account_url") else None
    if url is not None and not url.startswith(("https://", "http://")):
        raise RecipeError(path, f"{key}.account_url", f"{url!r} is not an http(s):// URL")
    hours = fields.integer(path, f"{key}.sas_hours", data.get("sas_hours", DEFAULT_SAS_HOURS))
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


def _word(path: Path, key: str, raw: Any, spaces: bool = False) -> str:
    """A name: no quotes or shell characters; spaces only in region names ("East US")."""
    text = fields.text(path, key, raw).strip()
    if any((c.isspace() and not (spaces and c == " ")) or c in "\"'`$\\;&|<>" for c in text):
        raise RecipeError(path, key, f"{text!r}: a name has no quotes, shell characters or (here) spaces")
    return text


def gallery_settings_for(
    recipe_path: Path, recipe_raw: dict[str, Any], gallery_file: Path | None
) -> GallerySettings | None:
    """The settings for a build: `--gallery FILE` wins over the recipe's `gallery:` key; None without either."""
    if gallery_file is not None:
        return load_gallery_file(gallery_file)
    if "gallery" in recipe_raw:
        return parse_gallery_settings(recipe_path, "gallery", recipe_raw["gallery"])
    return None
