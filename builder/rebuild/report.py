"""The rebuild's report: one row per (recipe, target), as a table and as report.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from builder.manifest import write_json_atomically

REPORT_NAME = "report.json"
REPORT_SCHEMA = 1


@dataclass(frozen=True)
class Row:
    recipe: str
    app: str
    distro: str
    status: str  # unchanged, built or failed
    old_version: str | None = None
    new_version: str | None = None
    path: str | None = None  # the build directory of new_version (or of the unchanged build)
    reason: str = ""  # why it was built: what the check found changed
    changes: dict[str, Any] = field(default_factory=dict)  # builder.diff's counts and lines, when built
    size: int | None = None  # the package's bytes
    error: str | None = None
    verified: str = ""  # how the new version was verified: the lifecycle's versions, or a fresh install
    exit_code: int = 0  # of the failure (builder.errors): the run exits with the highest

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def changed_packages(self) -> str:
        if self.status == "failed":
            return (self.error or "").splitlines()[0] if self.error else ""
        lines = self.changes.get("lines", [])
        return "; ".join(lines) if lines else self.reason


def table(rows: list[Row]) -> str:
    """The report as a table: app, distro, status, old -> new version, changed packages, size."""
    head = ("app", "distro", "status", "version", "size", "changes")
    body = [
        (
            r.app,
            r.distro,
            r.status,
            _versions(r),
            "" if r.size is None else str(r.size),
            r.changed_packages,
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line[:-1], widths, strict=True)) + "  " + line[-1]
        for line in [head, *body]
    )


def _versions(row: Row) -> str:
    if row.status == "built":
        return f"{row.old_version or '-'} -> {row.new_version}"
    return row.old_version or row.new_version or "-"


def write_report(path: Path, policy: str, rows: list[Row]) -> None:
    """report.json, written to a temp file and renamed: a reader never sees half of it."""
    document = {"schema": REPORT_SCHEMA, "policy": policy, "entries": [r.as_json() for r in rows]}
    write_json_atomically(path, document)
