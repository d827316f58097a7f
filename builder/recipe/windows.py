"""The recipe's `windows` section: installers in install order, each checked for what its type needs.

```yaml
windows:
  installers:
    - source: vc_redist.x64.exe       # a path relative to the recipe, or an http(s):// URL
      sha256: 0f1e...                 # required: downloads are checked before anything is written
      type: exe                       # exe | msi | zip (default: from the file's extension)
      arguments: [/install, /quiet, /norestart]
      remove: '"%ProgramFiles%\\App\\uninstall.exe" /S'    # exe: the uninstall command
      reboot: success                 # 3010 and 1641 count as success (default: failure)
    - source: myapp.msi
      sha256: 9a8b...
      remove: package                 # msi: `package` (default) or the ProductCode {GUID}
      properties: {INSTALLDIR: '%ProgramFiles%\\My App'}
      check: 'if exist "%ProgramFiles%\\My App\\app.txt" (exit 0) else (exit 1)'
    - source: tools.zip
      sha256: 7c6d...
      directory: '%ProgramFiles%\\Tools'     # zip: extracted here; remove deletes it
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from builder import fields
from builder.cmdquote import cmd_problem
from builder.errors import RecipeError

TYPES = ("exe", "msi", "zip")
REBOOT = ("failure", "success")
_INSTALLER_KEYS = {"source", "sha256", "type", "arguments", "properties", "remove", "directory", "check", "reboot"}
_ONLY_FOR = {"properties": ("msi",), "directory": ("zip",), "remove": ("exe", "msi"), "arguments": ("exe", "msi")}
_GUID = re.compile(r"^\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}$")
_PROPERTY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_BAD_FILE_CHARS = re.compile(r'[\\/:*?"<>|\x00-\x1f]')
_RESERVED = re.compile(r"^(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(\..*)?$", re.IGNORECASE)
# A zip's directory is deleted whole (rmdir /S /Q) by remove: never a drive, a bare %VARIABLE% or a
# directory of Windows itself.
_SYSTEM_DIRS = frozenset(
    ["windows", "program files", "program files (x86)", "programdata", "users", "perflogs", "recovery"]
)
_SYSTEM_VARIABLES = frozenset(["%windir%", "%systemroot%"])


@dataclass(frozen=True)
class WindowsInstaller:
    """One installer, in install order."""

    source: str  # a URL, or an absolute local path (resolved against the recipe's directory)
    file_name: str  # the installer's real name, with its extension
    sha256: str
    type: str  # exe, msi or zip
    arguments: tuple[str, ...] = ()
    properties: tuple[tuple[str, str], ...] = ()  # msi: NAME=value
    remove: str = ""  # exe: a command; msi: "package" or a ProductCode; zip: unused
    directory: str = ""  # zip: the extraction directory
    check: str | None = None
    reboot: str = "failure"

    @property
    def is_url(self) -> bool:
        return self.source.startswith(("http://", "https://"))

    @property
    def reboot_is_success(self) -> bool:
        return self.reboot == "success"

    def as_manifest(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "file": self.file_name,
            "sha256": self.sha256,
            "type": self.type,
            "arguments": list(self.arguments),
            "properties": dict(self.properties),
            "remove": self.remove,
            "directory": self.directory,
            "check": self.check,
            "reboot": self.reboot,
        }


@dataclass(frozen=True)
class WindowsTarget:
    installers: tuple[WindowsInstaller, ...] = field(default_factory=tuple)

    @property
    def checks(self) -> list[str]:
        return [i.check for i in self.installers if i.check]


def parse_windows(path: Path, data: Any) -> WindowsTarget:
    """Validate the `windows` section of the recipe at `path`; errors name the file and the key."""
    raw = fields.mapping(path, "windows", data, {"installers"}, "a mapping with a list of installers").get("installers")
    if raw is None:
        raise RecipeError(path, "windows.installers", "missing", hint="list the installers in install order")
    if not isinstance(raw, list) or not raw:
        raise RecipeError(path, "windows.installers", "expected a non-empty list of installers")
    installers = tuple(_installer(path, f"windows.installers[{i}]", item) for i, item in enumerate(raw))
    seen: dict[str, int] = {}
    for i, inst in enumerate(installers):
        lowered = inst.file_name.lower()  # Windows file names are case-insensitive
        if lowered in seen:
            raise RecipeError(
                path,
                f"windows.installers[{i}].source",
                f"{inst.file_name!r} has the same file name as installers[{seen[lowered]}]",
                hint="the installers ship side by side in one package: give them distinct names",
            )
        seen[lowered] = i
    return WindowsTarget(installers)


def _installer(path: Path, key: str, raw: Any) -> WindowsInstaller:
    data = fields.mapping(path, key, raw, _INSTALLER_KEYS, "a mapping with source, sha256 and type")
    source_text = fields.text(
        path, f"{key}.source", data.get("source"), hint="a file next to the recipe, or an https:// URL"
    )
    source, file_name = _source(path, f"{key}.source", source_text)
    sha = fields.sha256(
        path, f"{key}.sha256", data.get("sha256"), hint="the installer's SHA-256, e.g. from `sha256sum FILE`"
    )
    kind = _kind(path, key, data, file_name)
    arguments = tuple(
        _cmd_value(path, f"{key}.arguments[{i}]", a)
        for i, a in enumerate(fields.as_list(path, f"{key}.arguments", data.get("arguments", []), hint="e.g. [/S]"))
    )
    if kind == "exe" and not arguments:
        raise RecipeError(
            path,
            f"{key}.arguments",
            "an exe installer needs its silent switches",
            hint="e.g. [/S] (NSIS), [/VERYSILENT, /NORESTART] (Inno Setup), [/quiet, /norestart] (Burn)",
        )
    properties = _properties(path, f"{key}.properties", data.get("properties", {}))
    remove = _remove(path, key, kind, data.get("remove"))
    directory = ""
    if kind == "zip":
        directory = _cmd_value(path, f"{key}.directory", data.get("directory"))
        _check_directory(path, f"{key}.directory", directory)
    check = fields.text(path, f"{key}.check", data["check"]) if data.get("check") is not None else None
    reboot = fields.choice(
        path,
        f"{key}.reboot",
        fields.text(path, f"{key}.reboot", data.get("reboot", "failure")),
        REBOOT,
        what="a reboot behaviour",
        hint="success: 3010 and 1641 (a reboot is needed or started) count as success; failure (default)",
    )
    return WindowsInstaller(source, file_name, sha, kind, arguments, properties, remove, directory, check, reboot)


def _kind(path: Path, key: str, data: dict[str, Any], file_name: str) -> str:
    """The installer's type: given, or from the file's extension, which must agree with it."""
    suffix = PurePosixPath(file_name).suffix.lower().lstrip(".")
    if "type" not in data and suffix not in TYPES:
        raise RecipeError(path, f"{key}.type", f"missing, and {file_name!r} does not tell", hint="exe, msi or zip")
    kind = fields.text(path, f"{key}.type", data.get("type", suffix), hint="exe, msi or zip")
    fields.choice(path, f"{key}.type", kind, TYPES, what="an installer type", hint="use exe, msi or zip")
    if suffix != kind:
        raise RecipeError(
            path,
            f"{key}.source",
            f"{file_name!r} does not end in .{kind}",
            hint="Windows and msiexec go by the extension: name the file after its type",
        )
    for k, types in _ONLY_FOR.items():
        if k in data and kind not in types:
            raise RecipeError(path, f"{key}.{k}", f"does not apply to a {kind} installer")
    return kind


def _check_directory(path: Path, key: str, directory: str) -> None:
    """A zip's own directory: absolute, with no . or .. and not a drive or a directory of Windows."""
    if not re.match(r"^([A-Za-z]:\\|%[A-Za-z_][A-Za-z0-9_()]*%)", directory):
        raise RecipeError(
            path,
            key,
            f"{directory!r} is not an absolute path",
            hint=r"e.g. C:\Tools\App or %ProgramFiles%\App (the download directory is deleted on removal)",
        )
    parts = [p for p in re.split(r"[\\/]", directory) if p]
    # Windows drops a name's trailing dots and spaces (`C:\Windows.` is C:\Windows) and reads `~N` as a
    # short name (`C:\PROGRA~1` is C:\Program Files): compare what the VM will open.
    lowered = [p.rstrip(" .").lower() for p in parts]
    if any(not name for name in lowered):
        raise RecipeError(path, key, f"{directory!r} contains a . or .. component", hint=r"e.g. C:\Tools\App")
    if any(re.search(r"~[0-9]", p) for p in parts):
        raise RecipeError(
            path, key, f"{directory!r} contains a short (8.3) name", hint=r"write the long name: C:\Program Files\App"
        )
    under_windows = lowered[0] in _SYSTEM_VARIABLES or lowered[1:2] == ["windows"]
    system = len(parts) == 1 or under_windows or (len(parts) == 2 and lowered[1] in _SYSTEM_DIRS)
    if system:
        raise RecipeError(
            path,
            key,
            f"{directory!r} is a drive or a directory of Windows: remove deletes the zip's directory whole",
            hint=r"give the zip a directory of its own, e.g. %ProgramFiles%\Tools or C:\Tools\App",
        )


def _source(path: Path, key: str, source: str) -> tuple[str, str]:
    if fields.has_scheme(source):
        parts = urlsplit(source)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RecipeError(path, key, f"{source!r} is not an http(s) URL")
        name = unquote(PurePosixPath(parts.path).name)
    else:
        local = (path.parent / source).resolve()
        name = local.name
        source = str(local)
    if not name or _BAD_FILE_CHARS.search(name) or name.endswith((" ", ".")) or _RESERVED.match(name):
        raise RecipeError(
            path, key, f"{name!r} is not a Windows file name", hint="the file name ends up on the VM as is"
        )
    if cmd_problem(name):
        raise RecipeError(path, key, cmd_problem(name) or "")
    return source, name


def _remove(path: Path, key: str, kind: str, raw: Any) -> str:
    if kind == "zip":
        return ""
    if kind == "msi":
        value = fields.text(path, f"{key}.remove", raw if raw is not None else "package")
        if value != "package" and not _GUID.fullmatch(value):
            raise RecipeError(
                path,
                f"{key}.remove",
                f"{value!r} is neither `package` nor a ProductCode",
                hint="a ProductCode looks like {12345678-ABCD-1234-ABCD-1234567890AB} (msiexec /x takes either)",
            )
        return value.upper() if value != "package" else value
    if raw is None:
        raise RecipeError(
            path,
            f"{key}.remove",
            "missing: an exe installer needs its uninstall command",
            hint="e.g. the UninstallString from HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall, "
            "with its silent switch",
        )
    return fields.text(path, f"{key}.remove", raw)  # one line of cmd, used as is


def _properties(path: Path, key: str, raw: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, dict):
        raise RecipeError(path, key, "expected a mapping of NAME: value")
    items = []
    for name, value in raw.items():
        if not isinstance(name, str) or not _PROPERTY.fullmatch(name):
            raise RecipeError(path, f"{key}.{name}", f"{name!r} is not an MSI property name")
        items.append((name, _cmd_value(path, f"{key}.{name}", value, allow_empty=True)))
    return tuple(items)


def _cmd_value(path: Path, key: str, raw: Any, allow_empty: bool = False) -> str:
    text = fields.text(path, key, raw, allow_empty=allow_empty)
    if problem := cmd_problem(text):
        raise RecipeError(path, key, problem)
    return text
