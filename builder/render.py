"""Command strings rendered from templates/, every interpolated value shell-quoted.

The extension runs each string with `/bin/sh -c` in the download directory (dash on Debian and
Ubuntu), so the templates are POSIX sh. StrictUndefined turns a missing value into an error
instead of an empty string in a command that runs as root.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass

import jinja2

from builder.plan import BuildPlan
from builder.resources import data_dir

# Where the command strings keep what each application did to a VM (templates/_ledger.sh.j2):
# outside the extension's download directories, which outlive the application.
LEDGER_ROOT = "/var/lib/vmapp-build"


@dataclass(frozen=True)
class Commands:
    install: str
    remove: str
    update: str

    def as_dict(self) -> dict[str, str]:
        return {"install": self.install, "remove": self.remove, "update": self.update}


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


def render(template: str, **context: object) -> str:
    """Render one template to a compact command string: blank lines and indentation dropped."""
    return compact(environment().get_template(template).render(**context))


def compact(text: str) -> str:
    """Blank lines and indentation dropped. Split at line feeds only: str.splitlines would also
    split at a carriage return or a form feed inside a quoted value."""
    return "\n".join(line.strip() for line in text.split("\n") if line.strip())


def render_commands(plan: BuildPlan, ledger_root: str = LEDGER_ROOT) -> Commands:
    """The install, remove and update strings for a plan (`ledger_root`: tests point it elsewhere)."""
    context = {
        "app": plan.app,
        "ledger": f"{ledger_root}/{plan.app}",
        "version": plan.version,
        "package_file": plan.package_file_name,
        "packages": list(plan.packages),
        "package_names": list(plan.package_names),
        "recommends": plan.recommends,
    }
    if plan.tarball:
        context |= {"directory": plan.tarball.directory, "tar_flag": plan.tarball.tar_flag}
    return Commands(
        install=render(f"{plan.kind}/install.sh.j2", **context),
        remove=render(f"{plan.kind}/remove.sh.j2", **context),
        update=render(f"{plan.kind}/update.sh.j2", **context),
    )
