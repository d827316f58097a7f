"""One error hierarchy. The library raises these; only the CLI turns them into exit codes."""

from __future__ import annotations

import shlex


class VmappError(Exception):
    """Base error: what went wrong, plus an optional hint saying what to do next."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"


class InputError(VmappError):
    """The user's input is wrong: recipe, distro name, package name, options, limits."""

    exit_code = 2


class RecipeError(InputError):
    """A recipe file is malformed; the message names the file and the key."""

    def __init__(self, path: object, key: str, problem: str, hint: str | None = None) -> None:
        where = f"{path}: {key}" if key else str(path)
        super().__init__(f"{where}: {problem}", hint)
        self.path = path
        self.key = key


class PackageNotFound(InputError):
    """A package named in the recipe does not exist for the target distro."""


class LimitError(InputError):
    """The package or its commands break an Azure limit."""


class BuildError(VmappError):
    """The build itself failed (a package manager, the container, the bundle)."""

    exit_code = 3


class CommandFailed(BuildError):
    """A command in a container exited non-zero; carries its argv and output tail."""

    def __init__(self, argv: list[str], exit_code: int, output: str, context: str, hint: str | None = None):
        tail = "\n".join(output.rstrip().splitlines()[-25:])
        pasteable = shlex.join(argv)
        super().__init__(f"{context}: command exited with {exit_code}\n  $ {pasteable}\n{_indent(tail)}", hint)
        self.argv = argv
        self.returncode = exit_code
        self.output = output


class VerifyError(VmappError):
    """The package did not install, work and remove cleanly in the emulated VM."""

    exit_code = 4


class EnvironmentProblem(VmappError):
    """The machine lacks something the tool needs: a Docker engine, a base image, debootstrap."""

    exit_code = 5


def _indent(text: str) -> str:
    return "\n".join("  | " + line for line in text.splitlines())
