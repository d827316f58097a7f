"""The next version of a rebuilt package, by policy. Azure versions are Major.Minor.Patch, each an int32,
and immutable: the next version is always above the previous one and never one already built.

- patch: the recipe's version for the first build, or when the recipe's version is above the last
  build's; else the last build's with Patch + 1 (1.0.0 -> 1.0.1).
- date: Major.Minor of the recipe, Patch = YYYYMMDDnn (nn: 00-99, the builds of that UTC day), which
  stays within int32 until the year 2147.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from builder.errors import InputError
from builder.lifecycle.sequence import version_key

POLICIES = ("patch", "date")
INT32_MAX = 2**31 - 1
_BUILDS_A_DAY = 100

Key = tuple[int, int, int]


def next_version(
    policy: str, base: str, previous: str | None, taken: Callable[[str], bool], today: dt.date | None = None
) -> str:
    """The version to build after `previous` (None: the first build), from the recipe's `base`; `taken`
    says whether a version already has a build (or a failed one) to skip past."""
    base_key = _key(base, "the recipe's version")
    previous_key = _key(previous, "the last build's version") if previous else None
    if policy == "patch":
        candidate = base_key if previous_key is None or base_key > previous_key else _bump(previous_key)
        while taken(_text(candidate)):
            candidate = _bump(candidate)
        return _text(candidate)
    if policy == "date":
        return _dated(base_key, previous_key, taken, today or dt.datetime.now(dt.UTC).date())
    raise InputError(f"unknown version policy {policy!r}", hint=f"use one of: {', '.join(POLICIES)}")


def _dated(base: Key, previous: Key | None, taken: Callable[[str], bool], today: dt.date) -> str:
    day = int(today.strftime("%Y%m%d")) * _BUILDS_A_DAY
    for n in range(_BUILDS_A_DAY):
        candidate = (base[0], base[1], day + n)
        if (previous is None or candidate > previous) and not taken(_text(candidate)):
            return _text(_checked(candidate))
    raise InputError(
        f"no date version left for {today.isoformat()}: {base[0]}.{base[1]}.{day}nn is used up or below "
        f"the last build {_text(previous) if previous else ''}",
        hint="use --version-policy patch, or raise the recipe's Major.Minor",
    )


def _bump(key: Key) -> Key:
    return _checked((key[0], key[1], key[2] + 1))


def _checked(key: Key) -> Key:
    if key[2] > INT32_MAX:
        raise InputError(
            f"version {_text(key)} is above Azure's limit ({INT32_MAX} for each part)",
            hint="raise the recipe's Major.Minor version",
        )
    return key


def _key(version: str | None, what: str) -> Key:
    key = version_key(version or "")
    if key is None:
        raise InputError(f"{what} {version!r} is not Major.Minor.Patch", hint="Azure versions are three integers")
    return key


def _text(key: Key) -> str:
    return ".".join(map(str, key))
