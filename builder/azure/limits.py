"""Azure's limits, checked before anything is written as final.

Messages follow the seed's error table where it has one; where sources disagree, the stricter
value wins and the message says why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from builder.errors import LimitError
from builder.names import app_name_problem, version_problem

GIB = 1024**3
MAX_PACKAGE_BYTES = 2 * GIB
WARN_PACKAGE_BYTES = 1 * GIB
MAX_FIELD_CHARS = 4096


@dataclass(frozen=True)
class LimitResult:
    check: str
    level: str  # "ok", "warning" or "error"
    message: str

    def as_manifest(self) -> dict[str, Any]:
        return asdict(self)


def check_package_size(size: int, where: str, limit: int = MAX_PACKAGE_BYTES) -> LimitResult:
    if size == 0:
        return LimitResult("package size", "error", f"The blob referenced by source uri {where} is empty.")
    if size > limit:
        reason = (
            "Azure's maximum for an application package is 2 GB (the error table's '1 GB' is out of date)"
            if limit == MAX_PACKAGE_BYTES
            else f"this build was limited to {limit} bytes (--max-package-size)"
        )
        return LimitResult(
            "package size",
            "error",
            f"The blob referenced by source uri {where} is too large: size = {size}. {reason}.",
        )
    if size > WARN_PACKAGE_BYTES:
        return LimitResult(
            "package size",
            "warning",
            f"{where} is {size} bytes, above 1 GB: the documented limit is 2 GB, but Azure's error "
            "table still names 1 GB; replication of a package this large is slow",
        )
    return LimitResult("package size", "ok", f"{size} bytes (at most {limit})")


def check_field(field: str, value: str | None) -> LimitResult:
    if value is None:
        return LimitResult(field, "ok", "not set")
    if len(value) > MAX_FIELD_CHARS:
        return LimitResult(
            field,
            "error",
            f"{field} is {len(value)} characters long; Azure allows at most {MAX_FIELD_CHARS}",
        )
    return LimitResult(field, "ok", f"{len(value)} characters (at most {MAX_FIELD_CHARS})")


def check_name(name: str) -> LimitResult:
    problem = app_name_problem(name)
    return LimitResult("application name", "error" if problem else "ok", problem or name)


def check_version(version: str) -> LimitResult:
    problem = version_problem(version)
    return LimitResult("version name", "error" if problem else "ok", problem or version)


def check_limits(
    name: str,
    version: str,
    package_size: int,
    package_where: str,
    fields: dict[str, str | None],
    max_package_bytes: int = MAX_PACKAGE_BYTES,
) -> list[LimitResult]:
    """Every limit that applies to one application version, in a stable order."""
    results = [check_name(name), check_version(version)]
    results.append(check_package_size(package_size, package_where, max_package_bytes))
    results += [check_field(field, value) for field, value in fields.items()]
    return results


def enforce(results: list[LimitResult], context: str) -> None:
    """Raise LimitError listing every failed check."""
    errors = [r for r in results if r.level == "error"]
    if errors:
        body = "\n".join(f"  - {r.check}: {r.message}" for r in errors)
        raise LimitError(
            f"{context} breaks Azure's limits:\n{body}",
            hint="fix the recipe (fewer packages, a shorter command) or build a smaller package",
        )
