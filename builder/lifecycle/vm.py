"""The Linux VM in a container, as verify sees it: its shell and its files."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from builder.container import Container, Result


class Sh:
    """`/bin/sh -c` in a container, from a working directory: how the Linux extension runs a command string."""

    runs = "in"

    def __init__(self, c: Container) -> None:
        self.c = c

    def run(self, command: str, workdir: str, name: str) -> Result:
        return self.c.run(["/bin/sh", "-c", command], name, check=False, workdir=workdir)

    def put_package(self, package: Path, workdir: str) -> None:
        self.c.put_file(package, workdir, package.name)

    def exited_with(self, exit_code: int) -> str:
        return str(exit_code)

    def logs(self, workdir: str) -> dict[str, str]:
        return {}  # package managers write to stdout and stderr


def files_under(c: Container, directory: str) -> set[str]:
    """Every path under `directory`, a symlink with its target: one a tarball's install replaced by a
    directory of the same name (GNU tar does, unless told not to) must not compare equal."""
    script = 'if [ -d "$1" ]; then find "$1" -xdev \\( -type l -printf "%p -> %l\\n" \\) -o -print; fi'
    return set(c.run(["sh", "-c", script, "sh", directory], "list files").stdout.splitlines())


def watched(c: Container, directory: str) -> str:
    """The nearest existing ancestor of a tarball's directory (its top-level one when that is /)."""
    script = 'd=$1; while [ -n "$d" ] && [ ! -d "$d" ]; do d=${d%/*}; done; printf %s "$d"'
    found = c.run(["sh", "-c", script, "sh", directory], "find the target's existing ancestor").stdout
    return found or "/" + PurePosixPath(directory).parts[1]
