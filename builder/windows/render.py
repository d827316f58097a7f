"""The install and remove strings for `cmd /C`, rendered from templates/windows/.

Every value from the recipe is quoted with cmd_quote (StrictUndefined, like the Linux templates);
the templates' lines are joined into the one line cmd runs: a line break would end the command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from builder.render import environment
from builder.windows.plan import WindowsPlan
from builder.windows.quote import cmd_args, cmd_quote

BUNDLE_DIR = "installers"  # where a zip of several installers is extracted, in the download directory
MSIEXEC = r"%windir%\system32\msiexec.exe"
# Windows 10 (1803) and later ship bsdtar, which reads zip; a `tar` earlier on PATH (Git's) may not.
TAR = r"%windir%\system32\tar.exe"


@dataclass(frozen=True)
class WindowsCommands:
    install: str
    remove: str

    def as_dict(self) -> dict[str, str]:
        return {"install": self.install, "remove": self.remove}


def render_cmd(template: str, **context: object) -> str:
    env = environment()
    env.filters["cmd_quote"] = cmd_quote
    env.filters["cmd_args"] = cmd_args
    text = env.get_template(template).render(**context)
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def render_windows_commands(plan: WindowsPlan) -> WindowsCommands:
    steps: list[dict[str, Any]] = []
    for i, inst in enumerate(plan.installers, 1):
        steps.append(
            {
                "type": inst.type,
                "path": f"{BUNDLE_DIR}\\{inst.file_name}" if plan.bundled else inst.file_name,
                "arguments": list(inst.arguments),
                "properties": list(inst.properties),
                "remove": inst.remove,
                "directory": inst.directory,
                "reboot_is_success": inst.reboot_is_success,
                "install_log": f"vmapp-install-{i}.log",
                "remove_log": f"vmapp-remove-{i}.log",
            }
        )
    context = {
        "app": plan.app,
        "version": plan.version,
        "package_file": plan.package_file_name,
        "bundled": plan.bundled,
        "bundle_dir": BUNDLE_DIR,
        "needs_files": any(i.type == "msi" and i.remove == "package" for i in plan.installers),
        "steps": steps,
        "msiexec": MSIEXEC,
        "tar": TAR,
    }
    return WindowsCommands(
        install=render_cmd("windows/install.cmd.j2", **context),
        remove=render_cmd("windows/remove.cmd.j2", **context),
    )
