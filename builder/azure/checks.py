"""Every client-side check of a gallery application version, before anything reaches Azure.

Messages are Azure's own (the seed's error table) where it has one. Where sources disagree, the
stricter value wins and the message says why. Name, version, size and field-length rules are
builder.azure.limits' and builder.names'; this module adds what only the gallery settings can tell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.azure.gallery import GallerySettings, VersionDefinition
from builder.azure.limits import GIB, LimitResult, check_field, check_name, check_package_size, check_version
from builder.errors import LimitError, RecipeError
from builder.fields import boolean, integer
from builder.names import version_problem
from builder.yamlfile import read_yaml

MAX_REPLICAS = 3  # the property table and the error text; one limits list says 10
MAX_CONFIG_BYTES = 1 * GIB
MAX_APPS_PER_VM = 25  # the limits list; the error table still says 5

REPLICA_MESSAGE = (
    "The value {value} of parameter 'galleryApplicationVersion.properties.publishingProfile.replicaCount' "
    "is out of range. The value must be between one and three, inclusive."
)
DUPLICATE_REGIONS = "Duplicate regions aren't allowed in target publishing regions."
LOCATION_MISSING = (
    "Gallery image version publishing profile regions {regions} must contain the location of image version {location}."
)
ENCRYPTION = "Gallery application version resources currently don't support encryption."
TOO_MANY_APPS = (
    "The maximum number of VM applications (max={max}, current={count}) has been exceeded. "
    "Use fewer applications and retry the request."
)
DUPLICATE_REFERENCE = "More than one VM Application was specified with the same packageReferenceId."
CHANGED_VERSION = "Changing property 'galleryApplicationVersion.properties.publishingProfile.{field}' isn't allowed."


def region_key(name: str) -> str:
    """Azure compares regions by canonical name: "East US" is "eastus"."""
    return name.replace(" ", "").lower()


def check_settings(settings: GallerySettings) -> list[LimitResult]:
    """Replica counts, regions and encryption: what the settings alone decide."""
    results = [_replicas("replicaCount", settings.replica_count)]
    for i, region in enumerate(settings.regions):
        if region.replicas is not None:
            results.append(_replicas(f"targetRegions[{i}].regionalReplicaCount", region.replicas))
    keys = [region_key(r.name) for r in settings.regions]
    if len(set(keys)) != len(keys):
        results.append(LimitResult("target regions", "error", DUPLICATE_REGIONS))
    elif region_key(settings.location) not in keys:
        names = ", ".join(r.name for r in settings.regions)
        message = LOCATION_MISSING.format(regions=names, location=settings.location)
        results.append(LimitResult("target regions", "error", message))
    else:
        results.append(LimitResult("target regions", "ok", ", ".join(r.name for r in settings.regions)))
    if any(r.encryption for r in settings.regions):
        results.append(LimitResult("encryption", "error", ENCRYPTION))
    return results


def _replicas(field: str, value: int) -> LimitResult:
    if 1 <= value <= MAX_REPLICAS:
        return LimitResult(field, "ok", f"{value} (1 to {MAX_REPLICAS})")
    message = REPLICA_MESSAGE.format(value=value)
    if field != "replicaCount":
        message = message.replace("publishingProfile.replicaCount", f"publishingProfile.{field}")
    if MAX_REPLICAS < value <= 10:
        message += " (one Azure limits page says 10; the API's error text says three: the stricter value wins)"
    return LimitResult(field, "error", message)


def check_definition(d: VersionDefinition, package_size: int, config_size: int | None) -> list[LimitResult]:
    """Every check of one version: names, sizes, field lengths, OS type and the settings."""
    results = [check_name(d.app), check_version(d.version)]
    results.append(check_package_size(package_size, str(d.package_path)))
    fields: dict[str, str | None] = {
        "manageActions.install": d.install,
        "manageActions.remove": d.remove,
        "manageActions.update": d.update,
        "settings.packageFileName": d.package_file_name,
        "settings.configFileName": d.config_file_name,
    }
    results += [check_field(name, value) for name, value in fields.items()]
    if d.package_os != d.os_type:
        results.append(
            LimitResult(
                "OS type",
                "error",
                f"the package of {d.app} {d.version} is for {d.package_os}, but the gallery application's "
                f"supportedOSType is {d.os_type}; on a VM Azure would answer: Current VM Application "
                f"Version {d.version} supports OS {d.os_type}, while current OSDisk's OS is {d.package_os}.",
            )
        )
    if (problem := d.arch_problem()) is not None:
        results.append(LimitResult("architecture", "error", problem))
    if config_size is not None and d.settings.configuration is not None:
        results.append(check_config_size(config_size, str(d.settings.configuration.path)))
    results += check_settings(d.settings)
    if d.settings.reboot:
        results.append(
            LimitResult(
                "reboot",
                "warning",
                f"{d.app} reboots the VM: give it the highest `order` in the VM's application list, so it "
                "runs last (Azure gives no guarantees on reboots in a script)",
            )
        )
    return results


def check_config_size(size: int, where: str) -> LimitResult:
    if size == 0:
        return LimitResult("configuration size", "error", f"The blob referenced by source uri {where} is empty.")
    if size > MAX_CONFIG_BYTES:
        return LimitResult(
            "configuration size",
            "error",
            f"The blob referenced by source uri {where} is too large: size = {size}. "
            "The maximum blob size allowed is '1 GB'.",
        )
    return LimitResult("configuration size", "ok", f"{size} bytes (at most 1 GB)")


def enforce_gallery(results: list[LimitResult], context: str) -> list[str]:
    """Raise LimitError listing every failed check; return the warnings."""
    errors = [r for r in results if r.level == "error"]
    if errors:
        body = "\n".join(f"  - {r.check}: {r.message}" for r in errors)
        raise LimitError(f"{context} breaks Azure's rules:\n{body}", hint="fix the gallery settings or the recipe")
    return [r.message for r in results if r.level == "warning"]


# --- immutability ------------------------------------------------------------------------------------

_IMMUTABLE = (
    ("manageActions.install", ("commands", "install")),
    ("manageActions.remove", ("commands", "remove")),
    ("manageActions.update", ("commands", "update")),
    ("settings.packageFileName", ("packageFileName",)),
)


def changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The immutable fields whose values differ between two manifests of one version."""
    changed = []
    for field, path in _IMMUTABLE:
        if _dig(old, path) != _dig(new, path):
            changed.append(field)
    return changed


def refuse_changed_version(existing_manifest: Path, new: dict[str, Any]) -> None:
    """Azure versions are immutable: a rebuild of an existing version must keep its strings and names."""
    import json

    try:
        old = json.loads(existing_manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except (OSError, ValueError):
        return  # not ours to judge: the build replaces an unreadable manifest
    if not isinstance(old, dict):
        return
    changed = changed_fields(old, new)
    if changed:
        app = new.get("application", {})
        lines = "\n".join("  - " + CHANGED_VERSION.format(field=f) for f in changed)
        raise LimitError(
            f"{existing_manifest}: {app.get('name')} {app.get('version')} was already built with other values, "
            f"and a version's commands and file names cannot change in Azure:\n{lines}",
            hint="create a new version (bump `version` in the recipe); delete the old build only if it was "
            "never published",
        )


def _dig(document: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = document
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value or None


# --- VM plans ----------------------------------------------------------------------------------------

_REFERENCE_RE = re.compile(
    r"/subscriptions/[^/\s]+/resourceGroups/[^/\s]+/providers/Microsoft\.Compute/galleries/(?P<gallery>[^/\s]+)"
    r"/applications/(?P<app>[^/\s]+)/versions/(?P<version>[^/\s]+)",
    re.IGNORECASE,
)
_PLAN_ENTRY_KEYS = {
    "packageReferenceId",
    "order",
    "reboot",
    "treatFailureAsDeploymentFailure",
    "configurationReference",
}


@dataclass(frozen=True)
class PlannedApplication:
    reference: str
    app: str
    version: str
    order: int | None = None
    reboot: bool = False


def load_vm_plan(path: Path) -> list[PlannedApplication]:
    """A VM plan: `applications:` listing packageReferenceId (with optional order and reboot)."""
    data = read_yaml(path, "the VM plan")
    if not isinstance(data, dict) or not isinstance(data.get("applications"), list):
        raise RecipeError(path, "applications", "expected a list of applications (packageReferenceId, order)")
    planned = []
    for i, entry in enumerate(data["applications"]):
        key = f"applications[{i}]"
        if not isinstance(entry, dict):
            raise RecipeError(path, key, "expected a mapping with packageReferenceId")
        for name in entry:
            if name not in _PLAN_ENTRY_KEYS:
                raise RecipeError(path, f"{key}.{name}", "unknown key", hint=f"allowed: {', '.join(_PLAN_ENTRY_KEYS)}")
        reference = entry.get("packageReferenceId")
        match = _REFERENCE_RE.fullmatch(reference) if isinstance(reference, str) else None
        if not match or not isinstance(reference, str):
            raise RecipeError(
                path,
                f"{key}.packageReferenceId",
                f"{reference!r} is not an application version id",
                hint="/subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/galleries/G/applications/A/versions/V",
            )
        version = match["version"]
        if version.lower() != "latest" and (problem := version_problem(version)):
            raise RecipeError(path, f"{key}.packageReferenceId", problem)
        order = None if entry.get("order") is None else integer(path, f"{key}.order", entry["order"])
        reboot = boolean(path, f"{key}.reboot", entry.get("reboot", False))
        planned.append(PlannedApplication(reference, f"{match['gallery']}/{match['app']}", version, order, reboot))
    return planned


def check_vm_plan(planned: list[PlannedApplication]) -> list[LimitResult]:
    """Azure's rules for the applications of one VM: how many, one version each, no repeats."""
    results = []
    if len(planned) > MAX_APPS_PER_VM:
        message = TOO_MANY_APPS.format(max=MAX_APPS_PER_VM, count=len(planned))
        message += " (Azure's error table still says max=5; the documented limit is 25)"
        results.append(LimitResult("applications per VM", "error", message))
    else:
        results.append(LimitResult("applications per VM", "ok", f"{len(planned)} (at most {MAX_APPS_PER_VM})"))
    references = [p.reference.lower() for p in planned]
    if len(set(references)) != len(references):
        results.append(LimitResult("package references", "error", DUPLICATE_REFERENCE))
    versions: dict[str, set[str]] = {}
    for p in planned:
        versions.setdefault(p.app.lower(), set()).add(p.version.lower())
    for app, found in sorted(versions.items()):
        if len(found) > 1:
            results.append(
                LimitResult(
                    "versions per application",
                    "error",
                    f"{app}: versions {', '.join(sorted(found))}: you can't have multiple versions of the same "
                    "application on a VM",
                )
            )
    last = max((p.order for p in planned if p.order is not None), default=None)
    for p in planned:
        if p.reboot and (p.order is None or p.order != last or [q.order for q in planned].count(last) > 1):
            results.append(
                LimitResult(
                    "reboot order",
                    "warning",
                    f"{p.app} reboots the VM: give it the single highest `order` so it runs last",
                )
            )
    return results
