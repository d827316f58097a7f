"""The install and remove strings for `cmd /C`, rendered from templates/windows/.

Every value from the recipe is quoted with cmd_quote (StrictUndefined, like the Linux templates);
the templates' lines are joined into the one line cmd runs (a line break would end the command),
then `finalize` balances and checks every `%` for Windows' cmd and Wine's (builder.cmdquote).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from builder.cmdquote import SLOT_LOG, SLOT_STEP, CmdPercentError, cmd_args, cmd_quote, cmd_raw, finalize, mark
from builder.errors import InputError
from builder.render import environment
from builder.windows.plan import WindowsPlan

BUNDLE_DIR = "installers"  # where a zip of several installers is extracted, in the download directory
MSIEXEC = mark(r"%windir%\system32\msiexec.exe", expand=True)
# Windows 10 (1803) and later ship bsdtar, which reads zip; a `tar` earlier on PATH (Git's) may not.
TAR = mark(r"%windir%\system32\tar.exe", expand=True)
# msiexec's own switches that choose features: they belong to the install, never to the remove.
FEATURE_PROPERTIES = frozenset(
    [
        "ADDLOCAL",
        "ADDSOURCE",
        "ADDDEFAULT",
        "ADVERTISE",
        "COMPADDLOCAL",
        "COMPADDSOURCE",
        "COMPADDDEFAULT",
        "FILEADDLOCAL",
        "FILEADDSOURCE",
        "FILEADDDEFAULT",
        "REINSTALL",
        "REINSTALLMODE",
        "REMOVE",
        "PATCH",
        "TRANSFORMS",
    ]
)


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
    env.filters["cmd_raw"] = cmd_raw
    # msiexec keeps quote characters inside a word, and cmd reads a program name as one word.
    env.filters["msi_quote"] = lambda value, expand=False: cmd_quote(value, expand, split=False)
    env.filters["msi_args"] = lambda values, expand=False: cmd_args(values, expand, split=False)
    text = env.get_template(template).render(slot=SLOT_STEP, log_slot=SLOT_LOG, **context)
    return finalize(" ".join(line.strip() for line in text.splitlines() if line.strip()))


def render_windows_commands(plan: WindowsPlan) -> WindowsCommands:
    steps: list[dict[str, Any]] = []
    for i, inst in enumerate(plan.installers, 1):
        steps.append(
            {
                "type": inst.type,
                "path": f"{BUNDLE_DIR}\\{inst.file_name}" if plan.bundled else inst.file_name,
                "arguments": list(inst.arguments),
                "properties": list(inst.properties),
                "remove_properties": [(k, v) for k, v in inst.properties if k.upper() not in FEATURE_PROPERTIES],
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
    commands = {}
    for kind in ("install", "remove"):
        try:
            commands[kind] = render_cmd(f"windows/{kind}.cmd.j2", **context)
        except CmdPercentError as exc:
            raise InputError(
                f"{plan.recipe_path}: windows.installers: the {kind} string cannot be written: {exc}",
                hint="an installer's file name and each msiexec word may hold one literal %, and a literal % "
                "must not come before a %NAME% in a later argument of the same installer: rename the file, "
                "or reorder the arguments",
            ) from exc
    return WindowsCommands(**commands)
