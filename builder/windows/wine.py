"""Running Windows command strings for real, under Wine in a container, as `cmd /C` does.

The image (tests/images/wine) carries vmapp-cmd.exe, a launcher that passes the string verbatim to
`cmd.exe /C` through CreateProcessW, from a working directory, with stdout and stderr written there
(as the extension does) and the full 32-bit exit code written to a file: `wine cmd /c STRING` from
Linux would re-quote the string, and Linux keeps only 8 bits of an exit status.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from builder.container import Container
from builder.errors import BuildError

DRIVE_C = "/root/.wine/drive_c"
LAUNCHER = r"C:\windows\system32\vmapp-cmd.exe"
RUN_DIR = r"C:\vmapp-run"
# Wine maps Windows file names to the container's through the locale of the first wine process (it
# starts wineserver): in the image's default C locale a name such as `Äpp.msi` cannot exist at all.
WINE_ENV = ["env", "LC_ALL=C.UTF-8"]


def unix_path(windows_path: str) -> str:
    """Where a C:\\ path lives in the Wine prefix."""
    path = PureWindowsPath(windows_path)
    if path.drive.upper() != "C:" or not path.root:
        raise ValueError(f"{windows_path!r} is not an absolute C:\\ path")
    return str(PurePosixPath(DRIVE_C, *path.parts[1:]))


@dataclass(frozen=True)
class CmdResult:
    command: str
    workdir: str
    errorlevel: int  # the full 32-bit exit code of `cmd /C`, signed as %ERRORLEVEL% shows it
    stdout: str
    stderr: str

    @property
    def exit_code(self) -> int:
        return self.errorlevel


class Wine:
    """`cmd /C` in a running container of the Wine image: how the Windows extension runs a command string."""

    runs = "cmd /C in"

    def __init__(self, container: Container) -> None:
        self.container = container

    def put_package(self, package: Path, workdir: str) -> None:
        self.container.put_file(package, unix_path(workdir), package.name)

    def exited_with(self, exit_code: int) -> str:
        return f"errorlevel {exit_code}"

    def run(self, command: str, workdir: str, context: str = "cmd /C") -> CmdResult:
        c = self.container
        c.run(["mkdir", "-p", unix_path(workdir)], "create the working directory")
        c.put_bytes(command.encode("utf-8"), unix_path(RUN_DIR), "command.txt")
        rc_file = f"{RUN_DIR}\\rc.txt"
        c.run(["rm", "-f", unix_path(rc_file)], "clear the exit code")
        launch = c.run([*WINE_ENV, "wine", LAUNCHER, f"{RUN_DIR}\\command.txt", workdir, rc_file], context, check=False)
        rc = self.read_bytes(unix_path(rc_file))
        if rc is None:
            raise BuildError(
                f"{context}: the launcher did not run (wine exited with {launch.exit_code})\n{launch.output[-2000:]}",
                hint="is this the Wine image from tests/images/wine?",
            )
        return CmdResult(
            command,
            workdir,
            int(rc.decode().strip()),
            _decode(self.read_bytes(unix_path(workdir) + "/stdout")),
            _decode(self.read_bytes(unix_path(workdir) + "/stderr")),
        )

    def read_bytes(self, path: str) -> bytes | None:
        """A file's content from the container, or None when it does not exist."""
        return self.container.read_file(path)

    def exists(self, windows_path: str) -> bool:
        return self.container.run(["test", "-e", unix_path(windows_path)], "test", check=False).exit_code == 0

    def logs(self, workdir: str) -> dict[str, str]:
        """The installers' logs (`*.log`) in the working directory, by name."""
        listing = self.container.run(
            ["find", unix_path(workdir), "-maxdepth", "1", "-iname", "*.log", "-type", "f"], "list logs", check=False
        )
        found = {}
        for line in sorted(listing.stdout.splitlines()):
            found[PurePosixPath(line).name] = _decode(self.read_bytes(line))
        return found


def _decode(data: bytes | None) -> str:
    """cmd writes the OEM code page; msiexec logs are UTF-16 with a BOM."""
    if not data:
        return ""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    text = data.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n")
