"""A Linux VM: commands run as root with `/bin/sh -c` in the download directory, output to its
`stdout` and `stderr` files (truncated on every run), as the extension's command handler does."""

from __future__ import annotations

from dataclasses import dataclass

from builder.lifecycle import EXTENSION_DIR
from builder.simulate.extension import Version
from builder.simulate.machine import VM

# the extension's own redirection, in the directory: the command string itself runs under /bin/sh -c
_REDIRECT = 'exec /bin/sh -c "$1" >stdout 2>stderr'


@dataclass
class LinuxVM(VM):
    def workdir(self, version: Version) -> str:
        return f"{EXTENSION_DIR}/{version.app}/{version.version}"

    def local(self, path: str) -> str:
        return path

    def execute(self, command: str, workdir: str) -> tuple[int, str, str]:
        result = self.c.run(["/bin/sh", "-c", _REDIRECT, "sh", command], "run a command", check=False, workdir=workdir)
        return result.exit_code, self._text(f"{workdir}/stdout"), self._text(f"{workdir}/stderr")

    def _text(self, path: str) -> str:
        return (self.c.read_file(path) or b"").decode("utf-8", errors="replace")
