"""The command line. Library errors become messages and exit codes here, and only here.

Exit codes: 0 success, 2 bad input, 3 build failure, 4 verification failure, 5 environment
(no Docker engine, missing image or tool), 128 + the signal's number when interrupted (130 SIGINT,
143 SIGTERM, 129 SIGHUP, 131 SIGQUIT), after the run's containers and temp dir are removed.
"""

from __future__ import annotations

import os
import sys
from contextlib import suppress
from typing import NoReturn

import click

from builder import __version__
from builder.cli import build, diff, gallery, gc, image, matrix, rebuild, simulate, verify
from builder.errors import VmappError
from builder.interrupts import Interrupted, install_handlers, received, settle_cleanups


@click.group(context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "VMAPP_BUILD"})
@click.version_option(__version__, prog_name="vmapp-build")
def cli() -> None:
    """Build Azure VM Application packages that install offline, with the distro's own tools."""


# One module per command group; a new command is a module and a line here.
for _command in (
    build.recipe_cmd,
    verify.verify_cmd,
    image.distros_cmd,
    image.image_group,
    *gallery.GALLERY_COMMANDS,
    gc.gc_cmd,
    simulate.simulate_cmd,
    diff.diff_cmd,
    rebuild.rebuild_cmd,
    matrix.matrix_cmd,
):
    cli.add_command(_command)


def main() -> None:
    install_handlers()  # SIGINT, SIGTERM, SIGHUP, SIGQUIT: builder.interrupts
    try:
        code = _run()
    except Interrupted as exc:
        code = exc.exit_code
    except BaseException:
        if received() is None:
            raise
        code = 0  # a failure while cleaning up after a signal: the signal decides the code
    signum = received()
    if signum is not None:
        settle_cleanups()
        _interrupted(128 + signum)
    sys.exit(code)


def _run() -> int:
    try:
        code = cli.main(standalone_mode=False)  # a command's click Exit(N) comes back as N
    except VmappError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return code if isinstance(code, int) else 0


def _interrupted(code: int) -> NoReturn:
    """Exit after a signal. The terminal may be gone (SIGHUP): output errors are ignored, and
    os._exit skips the interpreter's final flush, whose failure would turn the code into 120."""
    for stream in (sys.stderr, sys.stdout):
        with suppress(OSError, ValueError):
            if stream is sys.stderr:
                print("interrupted", file=stream)
            stream.flush()
    os._exit(code)
