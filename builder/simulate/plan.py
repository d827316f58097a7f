"""The plan `vmapp-build simulate` reads: a VM's goal states, with packages given by build directory.

```yaml
image: debian:12              # optional: default the builds' own image (they must share one distro)
goalStates:                   # applied in this order to one VM
  - applications:             # check-plan's entries, with `build` for the package
      - build: dist/app/1.0.0/debian-12    # relative to this file
        order: 1                           # optional, as in check-plan (a split closure's build: its
                                           # parts, at orders order..order+N-1, 1..N without one)
        treatFailureAsDeploymentFailure: true
        configurationReference: app.conf   # optional: a local file, the VM's configuration
        configFileName: app.conf           # optional: the version's settings.configFileName
        scriptBehaviorAfterReboot: Rerun   # optional: None (default) or Rerun
        reboot: {during: install, times: 1}  # optional: SIGTERM during its next command(s)
        packageReferenceId: /subscriptions/.../applications/app/versions/1.0.0  # optional, checked
    reboots:                  # optional: the same for any app, e.g. one this goal state removes
      - {app: other, during: remove, times: 1}
```
`reboot: true` is `{times: 1}` (the app's first command in that goal state); `during` is one of
install, update, remove, remove-for-update; `times` is 1 to 3 (the extension stops after 3 reboots).
Errors name the file and the key (exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, cast, get_args

from builder.errors import InputError, RecipeError
from builder.fields import as_list, boolean, integer, no_unknown_keys, text
from builder.manifest import load_manifest
from builder.simulate.extension import MAX_REBOOTS, Desired, Operation, Reboot, Version
from builder.yamlfile import read_yaml

_TOP_KEYS = {"goalStates", "image"}
_STATE_KEYS = {"applications", "reboots"}
_ENTRY_KEYS = {
    "build",
    "packageReferenceId",
    "order",
    "reboot",
    "treatFailureAsDeploymentFailure",
    "configurationReference",
    "configFileName",
    "scriptBehaviorAfterReboot",
}
_REBOOT_KEYS = {"app", "during", "times"}
MAX_APPS = 25


@dataclass(frozen=True)
class Served:
    """What the host serves for one application in a goal state."""

    package: Path
    config: Path | None = None


@dataclass(frozen=True)
class GoalState:
    desired: list[Desired]
    served: dict[str, Served]
    reboots: list[Reboot]


@dataclass(frozen=True)
class SimulationPlan:
    path: Path
    goal_states: list[GoalState]
    family: str  # "windows" or the Linux package family
    distro: str
    image: str


def load_plan(path: Path) -> SimulationPlan:
    data = read_yaml(path, "the simulation plan")
    if not isinstance(data, dict):
        raise RecipeError(path, "", "expected a mapping with goalStates", hint="see `vmapp-build simulate --help`")
    no_unknown_keys(path, "", data, _TOP_KEYS)
    raw_states = as_list(path, "goalStates", data.get("goalStates"))
    if not raw_states:
        raise RecipeError(path, "goalStates", "must list at least one goal state")
    distros: dict[str, tuple[str, str, str]] = {}  # distro -> (family, image, first key)
    states = [_goal_state(path, f"goalStates[{i}]", raw, distros) for i, raw in enumerate(raw_states)]
    if not distros:
        raise RecipeError(path, "goalStates", "no goal state names an application", hint="add `applications:`")
    if len(distros) > 1:
        shown = ", ".join(f"{d} ({key})" for d, (_, _, key) in distros.items())
        raise RecipeError(path, "goalStates", f"the builds are for several distros: {shown}", hint="one VM, one OS")
    distro, (family, image, _) = next(iter(distros.items()))
    if "image" in data:
        image = text(path, "image", data["image"])
    return SimulationPlan(path, states, family, distro, image)


def _goal_state(path: Path, key: str, raw: Any, distros: dict[str, tuple[str, str, str]]) -> GoalState:
    if not isinstance(raw, dict):
        raise RecipeError(path, key, "expected a mapping with applications")
    no_unknown_keys(path, key, raw, _STATE_KEYS)
    entries = as_list(path, f"{key}.applications", raw.get("applications", []))
    if len(entries) > MAX_APPS:
        raise RecipeError(path, f"{key}.applications", f"{len(entries)} applications: a VM has at most {MAX_APPS}")
    desired, served, reboots = [], {}, []
    for i, entry in enumerate(entries):
        where = f"{key}.applications[{i}]"
        for d, s, reboot in _entries(path, where, entry, distros):
            if d.version.app in served:
                raise RecipeError(path, where, f"{d.version.app} is listed twice", hint="one version per application")
            desired.append(d)
            served[d.version.app] = s
            reboots += [reboot] if reboot else []
    if len(desired) > MAX_APPS:
        raise RecipeError(path, f"{key}.applications", f"{len(desired)} applications: a VM has at most {MAX_APPS}")
    for i, item in enumerate(as_list(path, f"{key}.reboots", raw.get("reboots", []))):
        if step := _reboot(path, f"{key}.reboots[{i}]", item, None):
            reboots.append(step)
    apps = [r.app for r in reboots]
    if len(set(apps)) != len(apps):
        raise RecipeError(path, key, "two reboot steps for one application", hint="use `times`")
    return GoalState(desired, served, reboots)


def _entries(
    path: Path, key: str, raw: Any, distros: dict[str, tuple[str, str, str]]
) -> list[tuple[Desired, Served, Reboot | None]]:
    """The entry's application; for a split closure's build (builder.split), each of its parts, in
    order: orders `order` .. `order`+N-1 (1..N when the entry has none), the entry's other keys (a
    reboot: the last part's) applying to each, except packageReferenceId (it names one version)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("build"), str):
        return [_entry(path, key, raw, distros)]
    try:
        directory, manifest = load_manifest(path.parent / raw["build"])
    except InputError:
        return [_entry(path, key, raw, distros)]  # _entry says what is wrong with it
    split = manifest.get("split")
    if not split:
        return [_entry(path, key, raw, distros)]
    first = 1 if raw.get("order") is None else integer(path, f"{key}.order", raw["order"])
    last = len(split["parts"])
    return [
        _entry(
            path,
            key,
            {k: v for k, v in raw.items() if k != "packageReferenceId" and (k != "reboot" or p["order"] == last)}
            | {"build": str((directory / p["directory"]).absolute()), "order": first + p["order"] - 1},
            distros,
        )
        for p in split["parts"]
    ]


def _entry(
    path: Path, key: str, raw: Any, distros: dict[str, tuple[str, str, str]]
) -> tuple[Desired, Served, Reboot | None]:
    if not isinstance(raw, dict):
        raise RecipeError(path, key, "expected a mapping with build")
    no_unknown_keys(path, key, raw, _ENTRY_KEYS)
    build_dir = path.parent / text(path, f"{key}.build", raw.get("build"), hint="a dist/<app>/<version>/<distro>")
    try:
        directory, manifest = load_manifest(build_dir)
    except InputError as exc:
        raise RecipeError(path, f"{key}.build", exc.message, exc.hint) from exc
    package = directory / str(manifest.get("packageFileName", ""))
    if not package.is_file():
        raise RecipeError(path, f"{key}.build", f"{package}: the package named by the manifest is missing")
    distro = manifest["distro"]
    distros.setdefault(str(distro["name"]), (str(distro["family"]), str(manifest["image"]["name"]), key))
    version = _version(path, key, raw, manifest)
    order = None if raw.get("order") is None else integer(path, f"{key}.order", raw["order"])
    fail = boolean(path, f"{key}.treatFailureAsDeploymentFailure", raw.get("treatFailureAsDeploymentFailure", False))
    config = None
    if "configurationReference" in raw:
        config = path.parent / text(path, f"{key}.configurationReference", raw["configurationReference"])
        if not config.is_file():
            raise RecipeError(path, f"{key}.configurationReference", f"{config}: no such file")
    if config is not None and version.config_file is None:
        version = replace(version, config_file=f"{version.app}_config")
    reboot = _reboot(path, f"{key}.reboot", raw["reboot"], version.app) if "reboot" in raw else None
    return Desired(version, order, fail), Served(package, config), reboot


def _version(path: Path, key: str, raw: dict[str, Any], manifest: dict[str, Any]) -> Version:
    app, number = str(manifest["application"]["name"]), str(manifest["application"]["version"])
    reference = raw.get("packageReferenceId")
    if reference is not None and not str(reference).lower().endswith(f"/applications/{app}/versions/{number}".lower()):
        raise RecipeError(path, f"{key}.packageReferenceId", f"{reference!r} does not name {app} {number}, the build")
    behavior = raw.get("scriptBehaviorAfterReboot", "None")
    if behavior not in ("None", "Rerun"):
        raise RecipeError(path, f"{key}.scriptBehaviorAfterReboot", f"{behavior!r}: expected None or Rerun")
    config_file = raw.get("configFileName")
    if config_file is not None:
        config_file = text(path, f"{key}.configFileName", config_file)
        if "/" in config_file or "\\" in config_file:
            raise RecipeError(path, f"{key}.configFileName", "a file name, not a path")
    return version_of(manifest, config_file, behavior)


def version_of(manifest: dict[str, Any], config_file: str | None = None, behavior: str = "None") -> Version:
    """The version the extension's registry records for the build whose manifest this is."""
    commands = manifest.get("commands", {})
    return Version(
        str(manifest["application"]["name"]),
        str(manifest["application"]["version"]),
        str(commands.get("install") or ""),
        str(commands.get("remove") or ""),
        str(commands.get("update") or ""),
        str(manifest.get("packageFileName") or ""),
        config_file,
        cast(Literal["None", "Rerun"], behavior),
    )


def _reboot(path: Path, key: str, raw: Any, app: str | None) -> Reboot | None:
    if raw is False:
        return None
    if raw is True and app is not None:
        return Reboot(app)
    if not isinstance(raw, dict):
        raise RecipeError(path, key, "expected a mapping with during and times", hint="e.g. {during: install}")
    no_unknown_keys(path, key, raw, _REBOOT_KEYS - ({"app"} if app else set()))
    if app is None:
        app = text(path, f"{key}.app", raw.get("app"), hint="the application the reboot interrupts")
    during = raw.get("during")
    operations = get_args(Operation)
    if during is not None and during not in operations:
        raise RecipeError(path, f"{key}.during", f"{during!r}: expected one of {', '.join(operations)}")
    times = raw.get("times", 1)
    if not isinstance(times, int) or isinstance(times, bool) or not 1 <= times <= MAX_REBOOTS:
        raise RecipeError(
            path, f"{key}.times", f"{times!r}: expected 1 to {MAX_REBOOTS}", hint="the extension fails after 3 reboots"
        )
    return Reboot(app, cast(Operation | None, during), times)
