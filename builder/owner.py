"""Who started a container or a temp dir, and whether that process still runs.

Containers carry their owner as labels and build temp dirs as a small JSON file, so that
`vmapp-build gc` can tell a crashed run's leftovers from a live run's, and its user's from
another user's: host name, pid, the process's start time (with the boot id, since pids are
reused and start times restart at boot) and the user id.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from builder.interrupts import cleanup_done, deferred, owe_cleanup

LABEL = "io.vmapp-build"
OWNER_LABEL = f"{LABEL}.owner"  # one label, JSON: filters need only LABEL
TEMP_PREFIX = ".vmapp-build-"
OWNER_FILE = ".vmapp-build-owner.json"


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    start: str  # "<boot id>:<start time in clock ticks>", "" where /proc is missing
    uid: int
    user: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Owner | None:
        try:
            data = json.loads(text)
            return cls(str(data["host"]), int(data["pid"]), str(data["start"]), int(data["uid"]), str(data["user"]))
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        return f"pid {self.pid} of {self.user} on {self.host}"

    def is_mine(self) -> bool:
        """Started by this user on this host: the only owners whose liveness can be checked here."""
        return self.uid == os.getuid() and self.host == socket.gethostname()

    def alive(self) -> bool:
        """The owner process still runs (the same process, not a later one with its pid)."""
        if self.host != socket.gethostname():
            return True  # cannot tell from here: treat as live
        if not self.start:
            return _pid_exists(self.pid)
        return _start_time(self.pid) == self.start


@cache
def current() -> Owner:
    """This process as an owner."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return Owner(socket.gethostname(), os.getpid(), _start_time(os.getpid()) or "", os.getuid(), user)


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    # field 22, counted after the command name, which may itself hold spaces and parentheses
    return f"{boot}:{stat.rsplit(')', 1)[1].split()[19]}"


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def owned_temp_dir(parent: Path) -> Iterator[Path]:
    """A temp dir under `parent`, marked with its owner, removed on success, failure and every handled
    signal (a signal during its creation or removal waits until that is done)."""
    with deferred():
        path = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=parent))
        owe_cleanup(path, lambda: shutil.rmtree(path, ignore_errors=True))
    try:
        (path / OWNER_FILE).write_text(current().to_json())
        yield path
    finally:
        with deferred():
            shutil.rmtree(path, ignore_errors=True)
            cleanup_done(path)


def temp_dir_owner(path: Path) -> Owner | None:
    with contextlib.suppress(OSError):
        return Owner.from_json((path / OWNER_FILE).read_text())
    return None
