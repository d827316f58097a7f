"""A Windows VM: a Wine prefix, commands run as `cmd /C` in the download directory (builder.windows.wine
writes their `stdout` and `stderr` files there, as the extension does)."""

from __future__ import annotations

from dataclasses import dataclass

from builder.simulate.extension import Version
from builder.simulate.machine import VM
from builder.windows.verify import download_dir
from builder.windows.wine import Wine, unix_path


@dataclass
class WindowsVM(VM):
    def workdir(self, version: Version) -> str:
        return download_dir(version.app, version.version)

    def local(self, path: str) -> str:
        return unix_path(path)

    def execute(self, command: str, workdir: str) -> tuple[int, str, str]:
        result = Wine(self.c).run(command, workdir)
        return result.errorlevel, result.stdout, result.stderr
