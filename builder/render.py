"""The command strings, rendered once per build from templates/<kind>/, every interpolated value quoted.

One environment for both shells the extension uses. On Linux it runs each string with `/bin/sh -c` in
the download directory (dash on Debian and Ubuntu), so those templates are POSIX sh and values go
through the `sh` filters. On Windows it runs `cmd /C`, so values go through the cmd filters
(builder.cmdquote), the lines are joined into the one line cmd runs (a line break would end the
command), and `finalize` balances and checks every `%` for Windows' cmd and Wine's. StrictUndefined
turns a missing value into an error instead of an empty string in a command that runs as root.
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jinja2

from builder.cmdquote import (
    SLOT_LOG,
    SLOT_PS,
    SLOT_STEP,
    CmdPercentError,
    cmd_args,
    cmd_quote,
    cmd_raw,
    finalize,
    mark,
    ps_command,
    ps_literal,
)
from builder.errors import InputError
from builder.plan import BuildPlan, Plan, WindowsPlan
from builder.resources import data_dir

# Where the command strings keep what each application did to a VM (templates/_ledger.sh.j2):
# outside the extension's download directories, which outlive the application.
LEDGER_ROOT = "/var/lib/vmapp-build"
BUNDLE_DIR = "installers"  # where a zip of several installers is extracted, in the download directory
MSIEXEC = mark(r"%windir%\system32\msiexec.exe", expand=True)
# Windows 10 (1803) and later ship bsdtar, which reads zip; a `tar` earlier on PATH (Git's) may not.
TAR = mark(r"%windir%\system32\tar.exe", expand=True)
# Windows Server 2016 has no tar.exe: PowerShell 5.1's Expand-Archive extracts there instead.
POWERSHELL = mark(r"%windir%\System32\WindowsPowerShell\v1.0\powershell.exe", expand=True)
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
class Commands:
    """Azure's manageActions: install, remove, and update where the target has one (Linux)."""

    install: str
    remove: str
    update: str | None = None

    def as_dict(self) -> dict[str, str]:
        actions = {"install": self.install, "remove": self.remove, "update": self.update}
        return {name: text for name, text in actions.items() if text is not None}


@functools.cache  # one per process: its templates are compiled once (a rebuild renders many plans)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("templates"))),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["sh"] = lambda value: sh_quote(str(value))
    env.filters["sh_join"] = lambda values: " ".join(sh_quote(v) for v in _strings(values))
    env.filters["cmd_quote"] = cmd_quote
    env.filters["cmd_args"] = cmd_args
    env.filters["cmd_raw"] = cmd_raw
    env.filters["ps_literal"] = ps_literal
    env.filters["ps_command"] = ps_command
    # msiexec keeps quote characters inside a word, and cmd reads a program name as one word.
    env.filters["msi_quote"] = lambda value, expand=False: cmd_quote(value, expand, split=False)
    env.filters["msi_args"] = lambda values, expand=False: cmd_args(values, expand, split=False)
    return env


def sh_quote(value: str) -> str:
    """One shell word that dash reads back as exactly `value`. A line break is quoted apart
    ('a'"<LF>"'b'), so every line of the rendered string starts and ends with a quote and the
    compaction in `render` (which strips lines and drops blank ones) cannot change the value."""
    return shlex.quote(value).replace("\n", "'\"\n\"'")


def _strings(values: Iterable[object]) -> list[str]:
    if isinstance(values, str):
        raise TypeError("sh_join needs a list, not a string")
    return [str(v) for v in values]


def compact(text: str) -> str:
    """Blank lines and indentation dropped. Split at line feeds only: str.splitlines would also
    split at a carriage return or a form feed inside a quoted value."""
    return "\n".join(line.strip() for line in text.split("\n") if line.strip())


def one_line(text: str) -> str:
    """The template's lines as the one line `cmd /C` runs, every `%` checked (builder.cmdquote)."""
    return finalize(" ".join(line.strip() for line in text.splitlines() if line.strip()))


def render(template: str, **context: object) -> str:
    """Render one sh template to a compact command string: blank lines and indentation dropped."""
    return compact(environment().get_template(template).render(**context))


@dataclass(frozen=True)
class Syntax:
    """How one shell's strings are written: the templates' suffix, the actions the target has, and how
    the rendered lines become the one string."""

    suffix: str
    actions: tuple[str, ...]
    join: Callable[[str], str]


SH = Syntax("sh", ("install", "remove", "update"), compact)
CMD = Syntax("cmd", ("install", "remove"), one_line)


def render_commands(plan: Plan, ledger_root: str = LEDGER_ROOT, parts: Sequence[Mapping[str, str]] = ()) -> Commands:
    """The plan's command strings (`ledger_root`: tests point it elsewhere). `parts`: the earlier parts
    of a split closure (builder.split: app, store, sha256), whose packages the install joins to its own."""
    if isinstance(plan, WindowsPlan):
        syntax, context = CMD, _cmd_context(plan)
    else:
        syntax, context = SH, _sh_context(plan, ledger_root) | {"parts": [dict(p) for p in parts]}
    return Commands(**{action: _render_action(plan, syntax, action, context) for action in syntax.actions})


def _render_action(plan: Plan, syntax: Syntax, action: str, context: dict[str, Any]) -> str:
    template = environment().get_template(f"{plan.kind}/{action}.{syntax.suffix}.j2")
    try:
        return syntax.join(template.render(**context))
    except CmdPercentError as exc:  # cmd only: a `%` neither Windows' cmd nor Wine's would read back
        raise InputError(
            f"{plan.recipe_path}: windows.installers: the {action} string cannot be written: {exc}",
            hint="an installer's file name and each msiexec word may hold one literal %, and a literal % "
            "must not come before a %NAME% in a later argument of the same installer: rename the file, "
            "or reorder the arguments",
        ) from exc


def _sh_context(plan: BuildPlan, ledger_root: str) -> dict[str, Any]:
    context: dict[str, Any] = {
        "app": plan.app,
        "ledger": f"{ledger_root}/{plan.app}",
        "version": plan.version,
        "package_file": plan.package_file_name,
        "packages": list(plan.packages),
        "package_names": list(plan.package_names),
        "recommends": plan.recommends,
        "online": plan.online,
    }
    if plan.tarball:
        context |= {"directory": plan.tarball.directory, "tar_flag": plan.tarball.tar_flag}
    return context


def _cmd_context(plan: WindowsPlan) -> dict[str, Any]:
    steps = [
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
        for i, inst in enumerate(plan.installers, 1)
    ]
    return {
        "app": plan.app,
        "version": plan.version,
        "package_file": plan.package_file_name,
        "bundled": plan.bundled,
        "bundle_dir": BUNDLE_DIR,
        "needs_files": any(i.type == "msi" and i.remove == "package" for i in plan.installers),
        "steps": steps,
        "msiexec": MSIEXEC,
        "tar": TAR,
        "powershell": POWERSHELL,
        "slot": SLOT_STEP,
        "log_slot": SLOT_LOG,
        "ps_slot": SLOT_PS,
    }
