"""The verify skeleton every target shares: the built package, the step runner, the output tail and the report.

A target supplies only a `Shell` (how it runs a command string as the extension does: `/bin/sh -c` in
a container, `cmd /C` under Wine) and what it checks around the steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self

import docker

from builder.container import Container
from builder.engine import ensure_image
from builder.errors import InputError, VerifyError
from builder.files import sha256_file
from builder.manifest import load_manifest


class StepResult(Protocol):
    """What a step's command left: its exit code (a Windows errorlevel too) and its output."""

    @property
    def exit_code(self) -> int: ...
    @property
    def stdout(self) -> str: ...
    @property
    def stderr(self) -> str: ...


class Shell(Protocol):
    """How a target runs a command string as the extension does, from a working directory."""

    @property
    def runs(self) -> str: ...  # how a failure names where it ran: "in", "cmd /C in"

    def run(self, command: str, workdir: str, name: str, /) -> StepResult: ...
    def put_package(self, package: Path, workdir: str, /) -> None: ...
    def exited_with(self, exit_code: int, /) -> str: ...  # "3", "errorlevel 3"
    def logs(self, workdir: str, /) -> dict[str, str]: ...  # what installers logged there, by name


@dataclass(frozen=True)
class Built:
    """One built application version: its directory, its manifest and the package beside it."""

    directory: Path
    manifest: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> Self:
        directory, manifest = load_manifest(path)
        built = cls(directory, manifest)
        if not built.package.is_file():
            raise InputError(f"{built.package}: the package named by the manifest is missing")
        return built

    @property
    def app(self) -> str:
        return str(self.manifest["application"]["name"])

    @property
    def version(self) -> str:
        return str(self.manifest["application"]["version"])

    @property
    def package(self) -> Path:
        return self.directory / str(self.manifest["packageFileName"])

    @property
    def arch(self) -> str:
        """The architecture it was built for (builds before arm64 recorded none: amd64)."""
        return str(self.manifest["distro"].get("arch") or "amd64")

    @property
    def image(self) -> str:
        """The image the package was built in (or for): where verify runs by default."""
        image = self.manifest["image"]
        return str(image.get("id") or image["name"])

    def command(self, name: str) -> str:
        return str(self.manifest["commands"].get(name) or "")

    def digest_problems(self) -> list[str]:
        if sha256_file(self.package) != self.manifest.get("package", {}).get("sha256"):
            return [f"{self.package} differs from the package this manifest was built with"]
        return []


@dataclass
class VerifyReport:
    """What verify ran and found; `setting` says how and where, for the summary."""

    app: str
    version: str
    image: str
    workdir: str
    setting: str  # e.g. "offline in debian:12"
    steps: list[tuple[str, StepResult]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the user should know although nothing failed

    def summary(self) -> str:
        """The CLI's one line."""
        steps = ", ".join(name for name, _ in self.steps)
        return "; ".join([f"verified {self.app} {self.version} {self.setting}: {steps}", *self.outcomes()])

    def outcomes(self) -> list[str]:
        """What the summary adds after the steps (a target's own counts)."""
        return []


class Record(Protocol):
    """Where steps and problems are kept (a report, a lifecycle replay)."""

    steps: list[tuple[str, StepResult]]
    problems: list[str]


@dataclass
class Steps:
    """Runs a verification's steps in one shell and records them; `what` and `where` name it in errors."""

    shell: Shell
    record: Record
    what: str  # "verification of jq 1.0.0"
    where: str  # "image debian:12, no network"

    def run(self, name: str, command: str, workdir: str) -> StepResult:
        """Run a step that must succeed: a non-zero exit is a VerifyError with the output's tail, the
        installers' logs and the problems seen so far."""
        result = self._record(name, command, workdir)
        if result.exit_code != 0:
            logs = "".join(f"\n--- {log} ---\n{tail(text)}" for log, text in self.shell.logs(workdir).items())
            raise VerifyError(
                f"{self.what} failed: {name} exited with {self.shell.exited_with(result.exit_code)} "
                f"({self.shell.runs} {workdir}, {self.where})\n"
                f"--- stdout ---\n{tail(result.stdout)}\n--- stderr ---\n{tail(result.stderr)}"
                + logs
                + "".join(f"\nalso: {p}" for p in self.record.problems)
            )
        return result

    def must_fail(self, name: str, command: str, workdir: str) -> None:
        """Run a check that must now fail (after remove); its success is a problem."""
        if self._record(name, command, workdir).exit_code == 0:
            self.record.problems.append(f"the check still succeeds after remove: {command}")

    def _record(self, name: str, command: str, workdir: str) -> StepResult:
        result = self.shell.run(command, workdir, name)
        self.record.steps.append((name, result))
        return result


def install_check_remove(
    steps: Steps, built: Built, workdir: str, checks: list[str], after_install: Callable[[], None]
) -> None:
    """The extension's install and remove with the recipe's checks around them: the package under its
    name in `workdir`, install, `after_install` (the target's own checks), each check, remove, and
    each check again (it must now fail)."""
    steps.shell.put_package(built.package, workdir)
    steps.run("install", built.command("install"), workdir)
    after_install()
    for check in checks:
        steps.run("check", check, workdir)
    steps.run("remove", built.command("remove"), workdir)
    for check in checks:
        steps.must_fail("check after remove", check, workdir)


@contextmanager
def verify_container(
    client: docker.DockerClient, image: str, hint: str = "", network: bool = False, arch: str | None = None
) -> Iterator[Container]:
    """A fresh container of `image` with no network, as the VM the package is verified on: one of `arch`
    (the build's), under qemu when the engine's is another. `network`: with the image's own network and
    mirrors (an online build's VM fetches its dependencies)."""
    with Container(client, ensure_image(client, image, hint, arch), "verify", network=network) as c:
        yield c


def raise_problems(failed: str, problems: list[str]) -> None:
    """`failed` ("verification of jq 1.0.0 failed") and every problem, as a VerifyError."""
    if problems:
        raise VerifyError(f"{failed}:\n" + "\n".join(f"  - {p}" for p in problems))


def tail(text: str, lines: int = 40) -> str:
    """The last lines of a command's output, for an error message."""
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty)"
