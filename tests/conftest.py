"""Shared fixtures, and the markers of the tests that need an outside service.

`docker`: a Docker engine and the local `debian:12` image; `make test` provides both
(scripts/ensure-engine.sh and `vmapp-build image bootstrap debian-12`).
`azurite`: Azure's Blob Storage emulator, installed with npm by tests/azurite.py.
A test asking for the `docker_client` or `azurite` fixture gets the marker; an unmarked test that reaches
for either fails, so `make test-fast` (`-m "not docker and not azurite"`) needs neither.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

import docker
import pytest
from hypothesis import settings

from builder.container import leftover_containers
from builder.engine import connect
from builder.lists_prune import REPOSITORY, REPOSITORY_ENV, prune
from builder.pipeline import BuildResult, build
from builder.plan import make_plan
from builder.recipe import load_recipe
from tests import azurite as azurite_server

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # Ryuk's image cannot be pulled here
# Our containers carry this session label, so other builds on the same engine don't disturb the checks.
SESSION = os.environ.setdefault("VMAPP_BUILD_SESSION", f"pytest-{uuid.uuid4().hex[:8]}")
REPO = Path(__file__).resolve().parent.parent
# Property tests run the same examples on every run, so CI is repeatable; HYPOTHESIS_PROFILE=explore
# draws new ones (what found the NEL case in test_hostile_input).
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
DISTRO = "debian-12"


# The fixture that reaches each outside service, and the marker its tests carry.
SERVICE_MARKERS = {"docker_client": pytest.mark.docker, "azurite": pytest.mark.azurite}
UNREACHABLE_ENGINE = "unix:///nonexistent/unmarked-test-uses-no-engine.sock"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, marker in SERVICE_MARKERS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)


@pytest.fixture(autouse=True)
def outside_services_only_when_marked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unmarked test sees no engine (its subprocesses neither) and cannot start Azurite."""
    if request.node.get_closest_marker("docker") is None:
        monkeypatch.setenv("DOCKER_HOST", UNREACHABLE_ENGINE)
    if request.node.get_closest_marker("azurite") is None:

        def refuse() -> Path:
            raise RuntimeError("this test starts Azurite: mark it `azurite` (ask for the `azurite` fixture)")

        monkeypatch.setattr(azurite_server, "ensure_installed", refuse)


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    client = connect()
    client.images.get("debian:12")  # fails loudly: run `make image` to bootstrap it
    return client


@pytest.fixture(autouse=True)
def no_leftover_containers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that uses Docker must leave no vmapp-build container behind."""
    if "docker_client" not in request.fixturenames:
        yield
        return
    client: docker.DockerClient = request.getfixturevalue("docker_client")
    before = set(leftover_containers(client, SESSION))
    yield
    assert set(leftover_containers(client, SESSION)) - before == set(), "a vmapp-build container was left behind"


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[azurite_server.Azurite]:
    """Azurite on loopback for the tests of one module (tests/azurite.py installs it with npm)."""
    with azurite_server.running_azurite(tmp_path_factory.mktemp("azurite")) as server:
        yield server


@pytest.fixture(scope="session", autouse=True)
def session_package_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The command line's package cache (builder.cache) is the session's own, never the user's: a run of
    the tests neither reads nor fills ~/.cache, and builds within the session still share it."""
    previous = os.environ.get("VMAPP_BUILD_CACHE_DIR")
    os.environ["VMAPP_BUILD_CACHE_DIR"] = str(tmp_path_factory.mktemp("package-cache"))
    yield
    if previous is None:
        os.environ.pop("VMAPP_BUILD_CACHE_DIR", None)
    else:
        os.environ["VMAPP_BUILD_CACHE_DIR"] = previous


@pytest.fixture(scope="session", autouse=True)
def session_lists_layers() -> Iterator[None]:
    """The lists layers (builder.lists) the session's builds make go into a repository of its own, removed
    at its end with their replaced copies: a run of the tests neither takes the user's layers nor leaves
    ~170 MB per repository set behind, and a session never removes another's (on a shared engine, one
    session's layer may be waiting for its next build). A layer a container still uses stays."""
    previous = os.environ.get(REPOSITORY_ENV)
    repository = os.environ[REPOSITORY_ENV] = f"{REPOSITORY}-{re.sub(r'[^a-z0-9]+', '-', SESSION.lower()).strip('-')}"
    yield
    with suppress(docker.errors.DockerException, OSError):  # no engine (`make test-fast`): nothing was made
        prune(docker.from_env(timeout=120), 0, repository)
    if previous is None:
        os.environ.pop(REPOSITORY_ENV, None)
    else:
        os.environ[REPOSITORY_ENV] = previous


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dist")


_builds: dict[str, BuildResult] = {}


@pytest.fixture(scope="session")
def build_shipped(docker_client: docker.DockerClient, dist: Path) -> Callable[[str], BuildResult]:
    """Build a shipped recipe for debian-12 once per session."""

    def _build(name: str) -> BuildResult:
        if name not in _builds:
            plan = make_plan(load_recipe(name), DISTRO, dist)
            _builds[name] = build(plan, docker_client)
        return _builds[name]

    return _build


def write_recipe(directory: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


def run_cli(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: int = 900
) -> subprocess.CompletedProcess[str]:
    """The real command line, as a user runs it."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "builder", *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []
