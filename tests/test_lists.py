"""Refreshed package lists kept as an image layer (builder.lists): a second run starts from the layer,
skips the refresh and builds the same bytes; one run refreshes an image once even at TTL 0; a closure
built from the same layer is reused (builder.closure_memo), unless tampered with; a layer older than
the TTL, made for another key, or whose repositories published since, is not taken; lists from a
`file:` repository are never kept; a bad TTL is a usage error."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from builder.backends.apt import AptInstaller
from builder.cache import PackageCache
from builder.closure import request_for
from builder.closure_memo import DIRECTORY
from builder.container import VERBOSE_ENV, Container
from builder.errors import InputError
from builder.lists import LABEL_METADATA, ListsLayers, parse_ttl
from builder.lists_prune import LABEL_AT, LABEL_KEY, repository
from builder.pipeline import build
from builder.plan import BuildPlan, make_plan
from builder.recipe import load_recipe
from builder.repo_metadata import metadata_url
from tests.conftest import DISTRO, REPO, run_cli

REFRESH = "+ apt-get -q update"  # what the build prints for its refresh (VMAPP_BUILD_VERBOSE)
JQ = REPO / "recipes" / "jq.yaml"


def _built(out: Path) -> dict[str, bytes]:
    (directory,) = out.glob(f"jq/*/{DISTRO}")
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_a_second_run_starts_from_the_refreshed_lists_and_builds_the_same_bytes(
    docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    env = {VERBOSE_ENV: "1"}
    first = run_cli("recipe", JQ, "--distro", DISTRO, "--out", tmp_path / "a", "--lists-ttl", "0", env=env)
    assert first.returncode == 0, first.stderr
    assert REFRESH in first.stderr  # TTL 0: this run's own refresh, kept as the layer
    second = run_cli("recipe", JQ, "--distro", DISTRO, "--out", tmp_path / "b", env=env)
    assert second.returncode == 0, second.stderr
    assert REFRESH not in second.stderr  # the default TTL (an hour) takes the layer the first run made
    assert _built(tmp_path / "a") == _built(tmp_path / "b")  # package, manifest, lock, SBOM: the same bytes


def test_a_closure_built_from_the_same_lists_is_reused_and_a_tampered_one_rebuilt(
    docker_client: docker.DockerClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """builder.closure_memo: the second build of one request from one layer starts no container and
    writes the same bytes; a memo whose bundle was tampered with is dropped and the closure built again
    from the run's layer (no refresh: what `rebuild`, at TTL 0, relies on); a new run refreshes."""
    monkeypatch.setenv(VERBOSE_ENV, "1")
    cache, layers = PackageCache(tmp_path / "cache"), ListsLayers(ttl=0)

    def run(name: str, lists: ListsLayers = layers) -> str:
        build(make_plan(load_recipe(str(JQ)), DISTRO, tmp_path / name), docker_client, cache=cache, lists=lists)
        return capfd.readouterr().err

    assert REFRESH in run("a")
    second = run("b")
    assert "closure: the same as an earlier build" in second and "+ " not in second  # no exec: no container
    assert _built(tmp_path / "b") == _built(tmp_path / "a")
    (memo,) = (cache.directory / DIRECTORY).glob("*.json")
    blob = cache.blob(json.loads(memo.read_text())["package"])
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    third = run("c")
    assert "closure: the same" not in third and "+ apt-get" in third and REFRESH not in third
    assert _built(tmp_path / "c") == _built(tmp_path / "a")
    assert "closure: the same" in run("d")  # the rebuilt bundle went back into the cache
    assert REFRESH in run("e", ListsLayers(ttl=0))  # another run at TTL 0: its own refresh


BOOKWORM = {"url": "http://deb.debian.org/debian", "suite": "bookworm", "metadata": "InRelease"}


@pytest.fixture
def layer_of(docker_client: docker.DockerClient) -> Iterator[Callable[[list[dict[str, str]]], tuple[str, str]]]:
    """Layers of debian:12, each for a key of its own, refreshed two hours ago from `metadata` (labels)."""
    made: list[str] = []

    def make(metadata: list[dict[str, str]]) -> tuple[str, str]:
        key = uuid.uuid4().hex * 2
        container = docker_client.containers.create("debian:12", ["true"])
        try:
            labels = {LABEL_KEY: key, LABEL_AT: f"{time.time() - 7200:.0f}", LABEL_METADATA: json.dumps(metadata)}
            image = container.commit(repository=repository(), tag=key[:32], conf={"Labels": labels})
        finally:
            container.remove(force=True)
        made.append(str(image.id))
        return key, str(image.id)

    yield make
    for image_id in made:
        docker_client.images.remove(image_id, force=True)


def test_a_layer_is_taken_within_its_ttl_while_its_repositories_serve_the_same_metadata(
    docker_client: docker.DockerClient, layer_of: Callable[[list[dict[str, str]]], tuple[str, str]]
) -> None:
    """Age, key and the repositories' InRelease (fetched from the host, as `rebuild` does) decide."""
    url = metadata_url(BOOKWORM)
    assert url is not None
    with urllib.request.urlopen(url, timeout=60) as response:
        current = hashlib.sha256(response.read()).hexdigest()
    key, image_id = layer_of([BOOKWORM | {"sha256": current}])
    assert ListsLayers(ttl=3 * 3600).usable(docker_client, key) == image_id
    assert ListsLayers(ttl=3600).usable(docker_client, key) is None  # two hours old
    assert ListsLayers(ttl=0).usable(docker_client, key) is None  # not made by this run
    other = key[:32] + "0" * 32  # the same tag (its first 32 characters), another key
    assert ListsLayers(ttl=3 * 3600).usable(docker_client, other) is None
    assert ListsLayers(ttl=3600).usable(docker_client, uuid.uuid4().hex * 2) is None  # no layer at all
    moved, _ = layer_of([BOOKWORM | {"sha256": "0" * 64}])  # bookworm published since the refresh
    assert ListsLayers(ttl=3 * 3600).usable(docker_client, moved) is None
    unknown, _ = layer_of([])  # no metadata recorded: never taken from an earlier run
    assert ListsLayers(ttl=3 * 3600).usable(docker_client, unknown) is None


def test_lists_from_a_file_repository_are_never_shared(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    """A `file:` repository can change under the same URL: the refresh is cheap, and is never kept."""
    plan = make_plan(load_recipe(str(JQ)), DISTRO, tmp_path)
    assert isinstance(plan, BuildPlan)
    installer = AptInstaller(request_for(plan))
    with Container(docker_client, "debian:12", "test") as c:
        c.put_bytes(b"", "/srv/local-repo", "Packages")
        c.put_bytes(b"deb [trusted=yes] file:/srv/local-repo ./\n", "/etc/apt/sources.list.d", "local.list")
        installer.refresh(c)
        assert installer.lists_state(c) is None
        c.run(["rm", "/etc/apt/sources.list.d/local.list"], "drop the local repository")
        installer.refresh(c)
        state = installer.lists_state(c)  # deb.debian.org's, over http: each InRelease with its sha256
        assert state is not None and all(len(r["sha256"]) == 64 for r in state)
        assert {(r["url"].rstrip("/"), r["suite"], r["metadata"]) for r in state} >= {tuple(BOOKWORM.values())}


@pytest.mark.parametrize("value", ["0", "90", "30m", "2h", "1d", "1.5h", " 10s "])
def test_ttl_values(value: str) -> None:
    assert parse_ttl(value, "--lists-ttl") >= 0


@pytest.mark.parametrize("value", ["", "-1", "abc", "5x", "inf", "nan", "1e999", "2h;rm -rf /", "h"])
def test_bad_ttl_values_are_refused(value: str) -> None:
    with pytest.raises(InputError, match="not a time to live"):
        parse_ttl(value, "--lists-ttl")


def test_a_bad_ttl_on_the_command_line_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("recipe", JQ, "--distro", DISTRO, "--out", tmp_path, "--lists-ttl", "soon")
    assert result.returncode == 2
    assert "--lists-ttl" in result.stderr and "not a time to live" in result.stderr
