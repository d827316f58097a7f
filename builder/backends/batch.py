"""Several commands of a build in one container exec (each exec is a round trip to the engine), and dnf's
importing dnf once.

dnf is Python, and importing it is most of a small command's cost (about 0.4 s of 0.6 s here): a build
that ran makecache, deplist, repoquery and the download as four processes paid it four times, where the
manual path pays it twice; and each exec is a round trip to the engine. The driver below imports
`dnf.cli.main` once, then forks a child per dnf command that calls `user_main`, exactly what /usr/bin/dnf
calls, in a fresh copy of the process: the same options, configuration, plugins, output and exit code as
the command run alone. (Calling it twice in one process does not work: dnf loads plugins and logging
handlers once per process.) Any other command is forked and exec'd as it is. The interpreter is the one
/usr/bin/dnf names (RHEL 8's is platform-python). Without a dnf command, or where dnf is not a Python
script (dnf5), a POSIX sh driver runs the commands instead: no Python is needed in the image (SLES).
"""

from __future__ import annotations

import json
import shlex
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from builder.container import Container, Result
from builder.errors import BuildError

_NOT_PYTHON = 125  # the driver's "dnf is not a Python program here": the sh driver runs the commands
_MARK = "--- vmapp-build dnf batch ---"

# Modules dnf's plugins import (dnf-plugins-core: copr's urllib and dbus, and so on), loaded once in the
# driver: each child finds them in sys.modules instead of importing them again (about 0.06 s of each
# command). Only the standard library and libraries that do nothing when imported (no threads, no
# files, no settings): what a plugin sees is the same. The plugins themselves are not preloaded: the
# child loads them as dnf does, by its configuration. A module missing here is skipped.
_PRELOAD = (
    "argparse base64 dataclasses decimal email.parser glob gzip hashlib http.client inspect json platform shutil "
    "sqlite3 ssl subprocess typing urllib.request xml.parsers.expat dateutil.parser dateutil.tz dbus six"
)

# Python 3.6 and up (RHEL 8's platform-python). argv[1]: the commands as JSON, each [gate, dnf, argv]
# (dnf: run as dnf with these arguments; else exec argv), one after the other: dnf's locks poll once a
# second, so two at once wait. A gate that fails stops the batch (a refresh whose repository is gone
# would make every later command wait on the same timeouts). gc.freeze (3.7 and up) spares each child's
# gc.collect (dnf's Base.reset calls it twice, ~0.05 s) the driver's objects: they are never garbage.
_DRIVER = r"""
import gc, importlib, json, os, subprocess, sys, tempfile, traceback
try:
    from dnf.cli import main
except ImportError:
    sys.exit(125)

for name in PRELOAD.split():
    try:
        importlib.import_module(name)
    except Exception:
        pass
if hasattr(gc, "freeze"):
    gc.freeze()


def run(dnf, argv):
    files = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    sys.stdout.flush()
    sys.stderr.flush()
    if dnf:
        code = run_dnf(argv, files)
    else:  # subprocess: vfork where it can (~1 ms, where forking this process is ~10)
        try:
            code = subprocess.call(argv, stdout=files[0], stderr=files[1])
        except OSError as exc:
            files[1].write(("%s: %s\n" % (argv[0], exc)).encode())
            code = 127
        code = code if code >= 0 else 128 - code
    texts = []
    for f in files:
        f.seek(0)
        texts.append(f.read().decode("utf-8", "replace"))
        f.close()
    return [code] + texts


def run_dnf(argv, files):
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.dup2(files[0].fileno(), 1)
            os.dup2(files[1].fileno(), 2)
            code = main.user_main(argv, exit_code=False)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # what dnf itself does not catch: said, as the command alone would
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code if isinstance(code, int) else 0)
    status = os.waitpid(pid, 0)[1]
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


results = []
for gate, dnf, argv in json.loads(sys.argv[1]):
    results.append(run(dnf, argv))
    if gate and results[-1][0] != 0:
        break
sys.stdout.write("\n" + sys.argv[2] + "\n" + json.dumps(results))
""".replace("PRELOAD", repr(_PRELOAD), 1)

# The interpreter (and its options) from dnf's #! line, when that names a Python.
_LAUNCH = r"""
dnf=$(command -v dnf) || exit 125
IFS= read -r line < "$dnf" || exit 125
case $line in '#!'*python*) ;; *) exit 125 ;; esac
exec ${line#??} -c "$1" "$2" "$3"
"""


@dataclass(frozen=True)
class Command:
    """One command: its argv (a dnf command starts with "dnf"), what it does (for errors), and whether
    the rest of the batch needs it to succeed."""

    argv: list[str]
    context: str
    gate: bool = False

    @property
    def dnf(self) -> bool:
        return self.argv[:1] == ["dnf"]


# POSIX sh. Arguments: a mark, then each command as GATE N ARG1..ARGN. Each one's output is framed by
# the mark, which no command prints (it is random), in its own stream: stdout `\nMARK\n` out `\nMARK CODE\n`,
# stderr `\nMARK\n` err `\nMARK\n`; the end is `\nMARK end` on stdout. The commands write to the exec's
# streams directly (no temporary files, no cat). The subshell keeps the command's N words: it appends
# them and shifts the whole list off.
_SH_DRIVER = r"""
mark=$1; shift
while [ $# -gt 0 ]; do
  gate=$1; n=$2; shift 2
  printf '\n%s\n' "$mark"; printf '\n%s\n' "$mark" >&2
  (
    total=$#; k=0
    while [ "$k" -lt "$total" ]; do
      if [ "$k" -lt "$n" ]; then set -- "$@" "$1"; fi
      shift; k=$((k + 1))
    done
    exec "$@"
  ) </dev/null
  code=$?
  printf '\n%s %s\n' "$mark" "$code"; printf '\n%s\n' "$mark" >&2
  shift "$n"
  if [ "$gate" = 1 ] && [ "$code" -ne 0 ]; then break; fi
done
printf '\n%s end\n' "$mark"
"""


def run_batch(container: Container, commands: Sequence[Command]) -> list[Result]:
    """Each command's Result, in order; after a gate that failed, the rest are not run (fewer results)."""
    if not commands:
        return []
    if len(commands) == 1 and not commands[0].dnf:  # nothing to share: the exec it would be anyway
        return [container.run(commands[0].argv, commands[0].context, check=False)]
    if container.verbose:  # each command, as it would have been echoed alone (not the drivers' source)
        for command in commands:
            print(f"+ {shlex.join(command.argv)}", file=sys.stderr)
    if any(c.dnf for c in commands):
        steps = json.dumps([[c.gate, c.dnf, c.argv[1:] if c.dnf else c.argv] for c in commands])
        launch = ["sh", "-c", _LAUNCH, "sh", _DRIVER, steps, _MARK]
        batch = container.run(launch, _what(commands), check=False, echo=False)
        if batch.exit_code != _NOT_PYTHON:
            _, mark, tail = batch.stdout.rpartition("\n" + _MARK + "\n")
            if batch.exit_code != 0 or not mark:
                _fail(container, commands, batch)
            rows = json.loads(tail)
            return [Result(c.argv, code, out, err) for c, (code, out, err) in zip(commands, rows, strict=False)]
    return _sh_batch(container, commands)


def _sh_batch(container: Container, commands: Sequence[Command]) -> list[Result]:
    mark = f"@@vmapp-build-batch-{uuid.uuid4().hex}@@"
    args = [a for c in commands for a in ("1" if c.gate else "0", str(len(c.argv)), *c.argv)]
    batch = container.run(["sh", "-c", _SH_DRIVER, "sh", mark, *args], _what(commands), check=False, echo=False)
    outs, errs = batch.stdout.split("\n" + mark), batch.stderr.split("\n" + mark)
    if batch.exit_code != 0 or not outs[-1].startswith(" end"):
        _fail(container, commands, batch)
    results = []
    for i, command in enumerate(commands[: (len(outs) - 2) // 2]):
        out, code, err = outs[1 + 2 * i][1:], outs[2 + 2 * i].strip(), errs[1 + 2 * i][1:]
        results.append(Result(command.argv, int(code), out, err))
    return results


def _what(commands: Sequence[Command]) -> str:
    return ", ".join(c.context for c in commands)


def _fail(container: Container, commands: Sequence[Command], batch: Result) -> NoReturn:
    raise BuildError(
        f"{_what(commands)}: the batch failed in {container.name} (exit {batch.exit_code}):\n{batch.output[-2000:]}"
    )
