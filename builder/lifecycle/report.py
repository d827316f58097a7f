"""What `verify --lifecycle` ran and found: one row per step, as a table and as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from builder.errors import VerifyError
from builder.lifecycle.build import EXTENSION_DIR
from builder.lifecycle.sequence import Planned


@dataclass
class Row:
    """One step: the version installed after it, the directory it ran in, the last command's exit code
    (the failing one's, when one failed), and the problems the checks after it found."""

    step: str
    version: str
    directory: str
    exit_code: int | None = None
    seconds: float = 0.0
    outcome: str = "not run"  # ok, problems, failed, skipped, not run
    problems: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)


@dataclass
class LifecycleReport:
    app: str
    distro: str
    image: str
    versions: list[str]  # oldest first, this build's last
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    workdirs: dict[str, str] = field(default_factory=dict)  # each version's download directory
    extension_dir: str = EXTENSION_DIR

    def directory(self, planned: Planned) -> str:
        """Where a step runs: the version's directory; both for a remove-for-update (old, then new)."""
        if planned.action == "owner-installs":
            return "/root"
        if planned.action == "remove-for-update":
            return f"{self.workdirs[planned.source]}, {self.workdirs[planned.version]}"
        return self.workdirs[planned.version]

    @property
    def ok(self) -> bool:
        return not self.problems

    def table(self) -> str:
        """The steps (the problems are the error's, printed after it)."""
        header = ("#", "step", "version", "directory", "exit", "seconds", "outcome")
        lines = [
            (
                str(i),
                r.step,
                r.version,
                r.directory.replace(self.extension_dir + "/", "").replace(self.extension_dir + "\\", ""),
                _code(r.exit_code),
                f"{r.seconds:.1f}",
                r.outcome,
            )
            for i, r in enumerate(self.rows, 1)
        ]
        widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
        text = [
            f"lifecycle of {self.app} {' -> '.join(self.versions)} on {self.distro}, offline in {self.image}"
            f" (directories under {self.extension_dir}):"
        ]
        text += [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *lines]
        ]
        return "\n".join(text)

    def to_json(self) -> dict[str, Any]:
        return {
            "application": self.app,
            "distro": self.distro,
            "image": self.image,
            "versions": self.versions,
            "ok": self.ok,
            "steps": [{**asdict(r), "seconds": round(r.seconds, 3)} for r in self.rows],
            "problems": self.problems,
            "notes": self.notes,
        }

    def error(self) -> VerifyError:
        failed = next((r for r in self.rows if r.outcome in ("failed", "problems")), None)
        where = f" at step {self.rows.index(failed) + 1} ({failed.step})" if failed else ""
        return LifecycleFailed(
            f"lifecycle verification of {self.app} {' -> '.join(self.versions)} failed{where}:\n"
            + "\n".join(f"  - {p}" for p in self.problems),
            self,
        )


class LifecycleFailed(VerifyError):
    """A lifecycle step failed or a check after one found a problem; carries the whole report."""

    def __init__(self, message: str, report: LifecycleReport) -> None:
        super().__init__(message)
        self.report = report


def _code(exit_code: int | None) -> str:
    return "" if exit_code is None else str(exit_code)
