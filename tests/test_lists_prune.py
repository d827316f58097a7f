"""The lists layers do not grow without bound (builder.lists_prune): `cache prune` removes the layers
past --lists-ttl (0: all) and the replaced copies, keeps a layer a container uses and says so; `cache
info` counts them; only images with the labels, of the layers' repository, are ever touched; each new
layer removes those past a week (or the TTL, if longer). The layers here are tiny commits of debian:12
with the labels set, each test in a repository of its own (the session's builds use another)."""

from __future__ import annotations

import io
import os
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

import docker
import pytest
from docker.errors import ImageNotFound, NotFound

from builder.container import Container
from builder.errors import InputError
from builder.lists import KEEP_AGE, ListsLayers
from builder.lists_prune import LABEL_AT, LABEL_KEY, LABEL_REPOSITORY, REPOSITORY, REPOSITORY_ENV, prune, repository
from tests.conftest import run_cli

HOUR = 3600.0
Commit = Callable[..., str]


@pytest.fixture
def repo(monkeypatch: pytest.MonkeyPatch) -> str:
    """A repository of the test's own: the CLI and ListsLayers take it from the environment."""
    name = f"{repository()}-prune-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(REPOSITORY_ENV, name)
    return name


@pytest.fixture
def commit(docker_client: docker.DockerClient) -> Iterator[Commit]:
    """commit(reference, labels, size): a tiny image of debian:12 (`size` bytes of its own); all removed after."""
    made: list[str] = []

    def make(reference: str, labels: dict[str, str], size: int = 0) -> str:
        container = docker_client.containers.create("debian:12", ["true"])
        try:
            if size:
                container.put_archive("/", _tar("payload", os.urandom(size)))
            name, _, tag = reference.rpartition(":")
            image = container.commit(repository=name, tag=tag, conf={"Labels": labels})
        finally:
            container.remove(force=True)
        made.append(str(image.id))
        return str(image.id)

    yield make
    for image_id in made:
        with suppress(NotFound):  # removed by the test
            docker_client.images.remove(image_id, force=True)


def _tar(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def lists_labels(repo: str, age: float, *, with_repository: bool = True) -> dict[str, str]:
    labels = {LABEL_KEY: uuid.uuid4().hex * 2, LABEL_AT: f"{time.time() - age:.0f}"}
    return labels | ({LABEL_REPOSITORY: repo} if with_repository else {})


def exists(client: docker.DockerClient, image_id: str) -> bool:
    try:
        client.images.get(image_id)
    except ImageNotFound:
        return False
    return True


def test_cache_prune_removes_old_layers_and_replaced_copies_and_keeps_young_and_used_ones(
    docker_client: docker.DockerClient, repo: str, commit: Commit, tmp_path: Path
) -> None:
    old = commit(f"{repo}:old", lists_labels(repo, 2 * HOUR), size=50_000)
    young = commit(f"{repo}:young", lists_labels(repo, 0))
    replaced = commit(f"{repo}:twice", lists_labels(repo, 0), size=20_000)
    again = commit(f"{repo}:twice", lists_labels(repo, 0))  # the tag moves: the first is a replaced copy
    used = commit(f"{repo}:used", lists_labels(repo, 3 * HOUR))
    running = docker_client.containers.run(used, ["sleep", "600"], detach=True)
    try:
        info = run_cli("cache", "info", "--cache-dir", f"{tmp_path}/cache")
        assert info.returncode == 0, info.stderr
        assert f"lists layers       5 in {repo} (1 replaced copies)" in info.stdout
        assert "lists size         7" in info.stdout  # 70,000 bytes of payload and tar headers, no base image
        oldest = time.strftime("%Y-%m-%d %H:%M", time.gmtime(time.time() - 3 * HOUR))
        assert f"lists oldest       {oldest}" in info.stdout
        assert "entries            0" in info.stdout  # the package cache's rows are still there

        pruned = run_cli("cache", "prune", "--cache-dir", f"{tmp_path}/cache", "--lists-ttl", "1h")
        assert pruned.returncode == 0, pruned.stderr
        assert "removed 0 packages" in pruned.stdout
        assert "removed 2 lists layers (7" in pruned.stdout and "1 in use kept; 3 left" in pruned.stdout
        assert f"kept {repo}:used" in pruned.stderr  # docker refused: a running container uses it
        assert [exists(docker_client, i) for i in (old, replaced, young, again, used)] == [False, False] + [True] * 3

        everything = run_cli("cache", "prune", "--cache-dir", f"{tmp_path}/cache", "--lists-ttl", "0")
        assert everything.returncode == 0, everything.stderr
        assert "removed 2 lists layers" in everything.stdout and "1 in use kept; 1 left" in everything.stdout
        assert [exists(docker_client, i) for i in (young, again, used)] == [False, False, True]
    finally:
        running.remove(force=True)


def test_only_lists_layers_of_the_repository_are_touched(
    docker_client: docker.DockerClient, repo: str, commit: Commit
) -> None:
    ours = commit(f"{repo}:ours", lists_labels(repo, 2 * HOUR))
    others = [
        commit(f"{repo}:plain", {}),  # tagged into the repository, without the labels
        commit(f"{repo}-other:x", lists_labels(f"{repo}-other", 2 * HOUR)),  # a similar name
        commit(f"{repo}-other:y", lists_labels(f"{repo}-other", 2 * HOUR)),  # replaced below: another's copy
        commit(f"{repo}-other:y", lists_labels(f"{repo}-other", 2 * HOUR)),
        commit(f"{repo}-legacy:z", lists_labels(repo, 2 * HOUR, with_repository=False)),
        commit(f"{repo}-legacy:z", {}),  # a copy with no repository label: the default repository's
        commit(f"{repo}:shared", lists_labels(repo, 2 * HOUR)),  # tagged elsewhere too, below
    ]
    docker_client.images.get(others[-1]).tag(f"{repo}-mine", "kept")
    pruned = prune(docker_client, 0, repo)
    assert [layer.id for layer in pruned.removed] == [ours] and pruned.kept == []
    assert all(exists(docker_client, image_id) for image_id in others)


def test_a_new_layer_removes_those_past_a_week_or_the_ttl(
    docker_client: docker.DockerClient, repo: str, commit: Commit
) -> None:
    """ListsLayers.keep bounds the layers of a builder that never prunes; a used one stays, and the
    build goes on."""
    day = 86400.0
    stale = commit(f"{repo}:stale", lists_labels(repo, KEEP_AGE + day))
    recent = commit(f"{repo}:recent", lists_labels(repo, 2 * day))
    replaced = commit(f"{repo}:twice", lists_labels(repo, 0))
    commit(f"{repo}:twice", lists_labels(repo, 0))
    used = commit(f"{repo}:used", lists_labels(repo, KEEP_AGE + day))
    user = docker_client.containers.create(used, ["true"])  # created, not started: docker still refuses
    try:
        with Container(docker_client, "debian:12", "test") as c:
            first = ListsLayers(ttl=KEEP_AGE + 2 * day).keep(docker_client, c, uuid.uuid4().hex * 2, "base", [])
            assert first is not None and exists(docker_client, stale)  # a TTL longer than the week spares it
            assert not exists(docker_client, replaced)
            second = ListsLayers().keep(docker_client, c, uuid.uuid4().hex * 2, "base", [])
        assert second is not None
        assert [exists(docker_client, i) for i in (stale, recent, used, first, second)] == [False] + [True] * 4
    finally:
        user.remove(force=True)
        prune(docker_client, 0, repo)  # the two layers keep made


@pytest.mark.parametrize("name", ["Upper", "a b", "-lead", "trail-", "a//b", "x:1", "a;rm -rf /"])
def test_a_bad_repository_is_refused(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REPOSITORY_ENV, name)
    with pytest.raises(InputError, match=REPOSITORY_ENV):
        ListsLayers()


def test_the_repository_defaults_to_vmapp_build_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REPOSITORY_ENV, raising=False)
    assert repository() == REPOSITORY
    monkeypatch.setenv(REPOSITORY_ENV, "ci.example/lists_layers-1")
    assert repository() == "ci.example/lists_layers-1"
