"""`vmapp-build gc`: remove what runs that could not clean up (SIGKILL, the OOM killer, a power cut)
left behind: containers carrying the project's label whose owner process is gone, and the build
temp dirs (`.vmapp-build-*`) such runs left in an output tree.

Only this user's leftovers on this host are touched: a container or temp dir of a live run, of
another user, of another host sharing the engine, or kept on purpose (VMAPP_BUILD_KEEP_CONTAINERS)
is listed as kept. A temp dir with no owner record (an older version's) counts as stale after a day.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import APIError, NotFound

from builder.owner import LABEL, OWNER_FILE, OWNER_LABEL, TEMP_PREFIX, Owner, temp_dir_owner

UNMARKED_TEMP_AGE = 24 * 3600  # seconds: an unmarked temp dir this old belongs to no live run


@dataclass(frozen=True)
class Leftover:
    kind: str  # "container" or "temp dir"
    name: str  # the container's name, or the directory's path
    reason: str  # why it is removed, or why it is kept
    stale: bool  # True: removed (or would be, with --dry-run)


def container_leftovers(client: docker.DockerClient, session: str | None = None) -> list[Leftover]:
    """Every container with the project's label (of one session only, if given), judged stale or kept."""
    found = []
    label = LABEL if session is None else f"{LABEL}.session={session}"
    for container in client.containers.list(all=True, filters={"label": label}, ignore_removed=True):
        labels = container.labels or {}
        owner = Owner.from_json(labels.get(OWNER_LABEL, ""))
        stale, reason = _judge(owner)
        if labels.get(f"{LABEL}.keep"):
            stale, reason = False, "kept on purpose (VMAPP_BUILD_KEEP_CONTAINERS): remove it with docker rm -f"
        found.append(Leftover("container", str(container.name), reason, stale))
    return sorted(found, key=lambda leftover: leftover.name)


def temp_dir_leftovers(root: Path) -> list[Leftover]:
    """The build temp dirs under `root`, and directly in the directories above it (a build puts its
    temp dir in the nearest existing parent while the output directory does not exist yet)."""
    found = []
    for path in sorted(_temp_dirs(root.absolute())):
        owner = temp_dir_owner(path)
        if owner is not None:
            stale, reason = _judge(owner)
        elif _mine_and_old(path):
            stale, reason = True, "no owner record, untouched for over a day"
        else:
            stale, reason = False, "no owner record (another user's, or recent)"
        found.append(Leftover("temp dir", str(path), reason, stale))
    return found


def remove(client: docker.DockerClient | None, leftover: Leftover) -> str | None:
    """Remove one stale leftover; an error message when that failed."""
    try:
        if leftover.kind == "container":
            assert client is not None
            client.api.remove_container(leftover.name, force=True, v=True)
        else:
            _remove_temp_dir(Path(leftover.name))
    except NotFound:
        return None  # gone meanwhile (auto_remove)
    except (APIError, OSError) as exc:
        return str(exc)
    return None


def _remove_temp_dir(path: Path) -> None:
    """Its owner record goes last: a removal cut short (a signal, a full stop) leaves a dir that the
    next gc still knows to be stale, not an unmarked one it would keep for a day."""
    for child in path.iterdir():
        if child.name == OWNER_FILE:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    shutil.rmtree(path)


def _judge(owner: Owner | None) -> tuple[bool, str]:
    if owner is None:
        return False, "no owner label (made by an older vmapp-build, or by hand)"
    if not owner.is_mine():
        return False, f"{owner.describe()}: another user's or another host's"
    if owner.alive():
        return False, f"{owner.describe()} is still running"
    return True, f"{owner.describe()} is gone"


def _temp_dirs(root: Path) -> Iterator[Path]:
    if root.is_dir():
        for directory, subdirs, _ in os.walk(root):
            for name in list(subdirs):
                if name.startswith(TEMP_PREFIX):
                    subdirs.remove(name)  # never descend into one
                    yield Path(directory, name)
    for parent in root.parents:
        try:
            yield from (p for p in parent.iterdir() if p.name.startswith(TEMP_PREFIX) and p.is_dir())
        except OSError:
            continue


def _mine_and_old(path: Path) -> bool:
    try:
        stat = path.stat()
    except OSError:
        return False
    return stat.st_uid == os.getuid() and time.time() - stat.st_mtime > UNMARKED_TEMP_AGE
