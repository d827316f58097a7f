"""One simulated VM: what the extension does to it for each step (download, run, delete), recorded.

The rules (which step, which version, which directory) are builder.simulate.extension's; a VM only
carries them out, in a container (run_linux) or a Wine prefix (run_windows).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from builder.container import Container
from builder.simulate.extension import Step, Version
from builder.simulate.plan import Served


@dataclass(frozen=True)
class CommandRun:
    """One command the extension started, where, and what it left in `stdout` and `stderr`."""

    app: str
    version: str
    operation: str
    workdir: str
    exit_code: int
    sigterm: bool  # the manager was stopped during it (a reboot); the command ran on to its end
    stdout: str
    stderr: str


@dataclass
class VM(ABC):
    c: Container
    served: dict[str, Served] = field(default_factory=dict)  # what the host serves in this goal state
    commands: list[CommandRun] = field(default_factory=list)

    @abstractmethod
    def workdir(self, version: Version) -> str:
        """The download directory, as the VM names it."""

    @abstractmethod
    def local(self, path: str) -> str:
        """The same path in the container."""

    @abstractmethod
    def execute(self, command: str, workdir: str) -> tuple[int, str, str]:
        """Run a command string as the extension does; (exit code, stdout, stderr)."""

    def download(self, step: Step) -> None:
        """The package (and configuration) the goal state serves for the app, under the names of the
        step's version: for RemoveForUpdate the NEW bytes land under the OLD version's names."""
        served = self.served[step.version.app]
        directory = self.local(self.workdir(step.version))
        # the extension's MkdirAll makes every missing level 0700; an existing directory keeps its mode
        self.c.run(["sh", "-c", 'umask 077 && mkdir -p "$1"', "sh", directory], "create the download directory")
        self._put(served.package, directory, step.version.package_name)
        if step.version.config_file and served.config is not None:
            self._put(served.config, directory, step.version.config_file)

    def run(self, step: Step, command: str, sigterm: bool) -> int:
        workdir = self.workdir(step.version)
        code, stdout, stderr = self.execute(command, workdir)
        v = step.version
        self.commands.append(CommandRun(v.app, v.version, step.operation, workdir, code, sigterm, stdout, stderr))
        return code

    def delete(self, version: Version) -> None:
        self.c.run(["rm", "-rf", self.local(self.workdir(version))], "delete the download directory")

    def _put(self, source: Path, directory: str, name: str) -> None:
        self.c.put_file(source, directory, name)
        self.c.run(["chmod", "0700", f"{directory}/{name}"], "set the download mode")
