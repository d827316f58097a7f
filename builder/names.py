"""Azure's naming rules for gallery applications and versions (see shared AZURE.md)."""

from __future__ import annotations

import re

INT32_MAX = 2_147_483_647
APP_NAME_MAX = 80  # the API's limit; one doc page says 117: we follow the stricter value

VERSION_MESSAGE = (
    "The gallery application version name is invalid. The application version name should follow "
    "Major(int32). Minor(int32). Patch(int32) format, where `int` is between 0 and 2,147,483,647 "
    "(inclusive). for example, 1.0.0, 2018.12.1 etc."
)

# ASCII only: `\d` would also match Arabic-Indic or full-width digits, which Azure refuses.
_NAME_RE = re.compile(r"[A-Za-z0-9._-]+", re.ASCII)
_VERSION_RE = re.compile(r"([0-9]+)\.([0-9]+)\.([0-9]+)", re.ASCII)


def version_problem(version: str) -> str | None:
    """Why `version` is not a valid application version name, or None when it is."""
    match = _VERSION_RE.fullmatch(version)
    if not match or any(int(part) > INT32_MAX for part in match.groups()):
        return f"{version!r}: {VERSION_MESSAGE}"
    return None


def app_name_problem(name: str) -> str | None:
    """Why `name` is not a valid gallery application name, or None when it is."""
    if not name:
        return "the application name is empty"
    if len(name) > APP_NAME_MAX:
        return (
            f"{name!r} is {len(name)} characters long; at most {APP_NAME_MAX} are allowed "
            "(one Azure page says 117, the API enforces 80)"
        )
    if not _NAME_RE.fullmatch(name):
        return f"{name!r} may contain only letters, digits, '-', '.' and '_'"
    if name.endswith("."):
        return f"{name!r} must not end with '.'"
    return None
