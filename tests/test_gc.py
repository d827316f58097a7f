"""`vmapp-build gc`: only the leftovers of this user's dead runs go; a live run's, another user's and
unlabelled ones stay, and `--dry-run` removes nothing.

The containers are created and never started (gc removes those too): nothing here can outlive pytest
running, and each is removed afterwards anyway.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import docker
import pytest

from builder import owner
from builder.container import LABEL, SESSION_ENV
from builder.owner import OWNER_FILE, OWNER_LABEL, TEMP_PREFIX, Owner
from tests.conftest import SESSION, run_cli

pytestmark = pytest.mark.docker


def dead_owner() -> Owner:
    """A process of this user on this host that has ended (its pid and start time, no longer running)."""
    proc = subprocess.run(
        [sys.executable, "-c", "from builder.owner import current; print(current().to_json())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = Owner.from_json(proc.stdout)
    assert dead is not None and not dead.alive()
    return dead


@pytest.fixture
def session() -> str:
    return f"{SESSION}-gc-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def make_container(docker_client: docker.DockerClient, session: str) -> Iterator[Callable[..., str]]:
    names: list[str] = []

    def create(who: Owner | None, **extra: str) -> str:
        name = f"vmapp-build-gctest-{uuid.uuid4().hex[:10]}"
        labels = {LABEL: "1", f"{LABEL}.session": session, **extra}
        if who is not None:
            labels[OWNER_LABEL] = who.to_json()
        docker_client.api.create_container("debian:12", ["cat"], name=name, labels=labels)
        names.append(name)
        return name

    yield create
    for name in names:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.api.remove_container(name, force=True)


def temp_dir(parent: Path, who: Owner | None) -> Path:
    path = parent / f"{TEMP_PREFIX}{uuid.uuid4().hex[:8]}"
    (path / "files").mkdir(parents=True)
    (path / "files" / "a.deb").write_bytes(b"x" * 100)
    if who is not None:
        (path / OWNER_FILE).write_text(who.to_json())
    return path


def existing(client: docker.DockerClient, session: str) -> set[str]:
    found = client.containers.list(all=True, filters={"label": f"{LABEL}.session={session}"}, ignore_removed=True)
    return {str(c.name) for c in found}


def test_gc_removes_only_dead_runs_of_this_user(
    docker_client: docker.DockerClient, make_container: Callable[..., str], session: str, tmp_path: Path
) -> None:
    dead, live = dead_owner(), owner.current()
    other_user = replace(dead, uid=dead.uid + 4242, user="someone-else")
    stale = make_container(dead)
    kept = {
        make_container(live): "is still running",
        make_container(other_user): "another user's",
        make_container(None): "no owner label",
        make_container(dead, **{f"{LABEL}.keep": "1"}): "kept on purpose",
    }
    out = tmp_path / "dist"
    deep = out / "jq" / "1.0.0"
    deep.mkdir(parents=True)
    stale_dirs = [temp_dir(deep, dead), temp_dir(tmp_path, dead)]  # tmp_path: a build whose --out did not exist
    kept_dirs = [temp_dir(deep, live), temp_dir(out, other_user), temp_dir(out, None)]

    dry = run_cli("gc", "--out", out, "--session", session, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would remove container {stale}: pid {dead.pid} of {dead.user}" in dry.stdout
    for path in stale_dirs:
        assert f"would remove temp dir {path}: " in dry.stdout
    assert existing(docker_client, session) == {stale, *kept}
    assert all(p.exists() for p in stale_dirs + kept_dirs)

    proc = run_cli("gc", "--out", out, "--session", session)
    assert proc.returncode == 0, proc.stderr
    assert f"removed container {stale}: pid {dead.pid} of {dead.user} on {dead.host} is gone" in proc.stdout
    for name, reason in kept.items():
        assert f"kept container {name}: " in proc.stdout and reason in proc.stdout
    assert existing(docker_client, session) == set(kept)
    assert not any(p.exists() for p in stale_dirs)
    assert all(p.exists() for p in kept_dirs)
    assert (out / "jq" / "1.0.0").is_dir()  # only the temp dirs went


def test_gc_of_a_session_leaves_other_sessions_alone(
    docker_client: docker.DockerClient, make_container: Callable[..., str], session: str
) -> None:
    stale = make_container(dead_owner())
    proc = run_cli("gc", "--out", "/nonexistent-vmapp-out", "--session", f"{session}-other")
    assert proc.returncode == 0, proc.stderr
    assert stale not in proc.stdout
    assert existing(docker_client, session) == {stale}


def test_owner_of_this_process_is_alive_and_survives_a_round_trip() -> None:
    me = owner.current()
    assert me.pid == os.getpid() and me.alive() and me.is_mine()
    assert Owner.from_json(me.to_json()) == me
    assert Owner.from_json("not json") is None
    assert Owner.from_json('{"pid": 1}') is None
    assert os.environ.get(SESSION_ENV)  # conftest sets it: every container of the suite carries one
