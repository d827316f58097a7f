"""Extra apt repositories end to end: a real signed repository served over HTTP by a test container.

Signature checking stays on: the repository's own key (signed-by), never trusted=yes.
"""

from __future__ import annotations

import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from builder.backends.apt import KEYRING_DIR, AptInstaller
from builder.backends.apt_output import REPO_FAILURE, repo_problem
from builder.closure import request_for
from builder.container import Container
from builder.pipeline import build
from builder.plan import make_plan
from builder.recipe import load_recipe
from builder.verify import verify
from tests.conftest import DISTRO, files_under, run_cli, write_recipe
from tests.narrow import linux_plan, package_report
from tests.signed_repo import PACKAGES, SignedRepo, serve_signed_repo

BUILD_FAILED = 3
DATA = Path(__file__).parent / "data" / "apt"


@pytest.fixture(scope="session")
def signed_repo(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignedRepo]:
    with serve_signed_repo(docker_client, tmp_path_factory.mktemp("repo-keys")) as repo:
        yield repo


def recipe_dir(tmp_path: Path, repo: SignedRepo, **kwargs: str) -> Path:
    """A recipe next to both keys, as a user keeps a repository's key beside the recipe."""
    shutil.copy(repo.key, tmp_path / "repo.asc")
    shutil.copy(repo.wrong_key, tmp_path / "wrong.asc")
    return write_recipe(tmp_path, repo.recipe(**kwargs))


def test_repository_with_its_key_builds_and_verifies_offline(
    docker_client: docker.DockerClient, signed_repo: SignedRepo, tmp_path: Path
) -> None:
    recipe = load_recipe(recipe_dir(tmp_path, signed_repo))
    result = build(make_plan(recipe, DISTRO, tmp_path / "dist"), docker_client)

    bundled = {p["name"]: p["version"] for p in result.document["packages"]}
    # the repository's packages and, from Debian's archive, what they need that the image lacks
    assert bundled["vmapp-hello"] == PACKAGES["vmapp-hello"][0]
    assert bundled["vmapp-hello-data"] == PACKAGES["vmapp-hello-data"][0]
    assert "libonig5" in bundled
    assert set(bundled) == {"vmapp-hello", "vmapp-hello-data", "libonig5"}
    with tarfile.open(result.package) as tar:
        names = set(tar.getnames())
    assert {"Packages", "vmapp-hello_1.0.0_all.deb", "vmapp-hello-data_1.0.0_all.deb"} <= names
    assert any(n.startswith("libonig5_") for n in names)
    assert result.document["recipe"]["repositories"][0]["url"] == signed_repo.url

    report = package_report(verify(result.manifest.parent, client=docker_client))
    assert dict(report.steps)["check"].stdout.strip() == "greetings from vmapp-hello-data 1.0.0"
    assert {"vmapp-hello", "vmapp-hello-data", "libonig5"} <= {n.split(":")[0] for n in report.added}
    assert set(report.after_remove) == set(report.before)


def test_repository_is_configured_with_its_key_and_signature_checking_on(
    docker_client: docker.DockerClient, signed_repo: SignedRepo, tmp_path: Path
) -> None:
    plan = linux_plan(make_plan(load_recipe(recipe_dir(tmp_path, signed_repo)), DISTRO, tmp_path / "dist"))
    with Container(docker_client, "debian:12", "test") as container:
        AptInstaller(request_for(plan)).prepare(container)
        sources = container.run(["cat", "/etc/apt/sources.list.d/vmapp-vmapp-test.list"], "read sources").stdout
        keyring = container.run(["cat", f"{KEYRING_DIR}/vmapp-vmapp-test.asc"], "read keyring").stdout
    assert sources == f"deb [signed-by={KEYRING_DIR}/vmapp-vmapp-test.asc] {signed_repo.url} vmapp main\n"
    assert "trusted" not in sources and "allow-insecure" not in sources
    assert keyring == signed_repo.key.read_text()


def test_wrong_key_is_a_clear_build_failure(
    signed_repo: SignedRepo, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    out = tmp_path / "dist"
    proc = run_cli("recipe", recipe_dir(tmp_path, signed_repo, key="wrong.asc"), "--distro", DISTRO, "--out", out)
    assert proc.returncode == BUILD_FAILED, proc.stderr
    assert "repository vmapp-test" in proc.stderr
    assert "its signature does not verify with the recipe's key" in proc.stderr
    assert "NO_PUBKEY" in proc.stderr  # apt's own words, which name the key it wanted
    assert files_under(out) == []


def test_repository_without_release_file_is_a_clear_build_failure(
    signed_repo: SignedRepo, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    out = tmp_path / "dist"
    recipe = recipe_dir(tmp_path, signed_repo, suite=signed_repo.no_release_suite)
    proc = run_cli("recipe", recipe, "--distro", DISTRO, "--out", out)
    assert proc.returncode == BUILD_FAILED, proc.stderr
    assert "repository vmapp-test" in proc.stderr
    assert "it has no Release file for this suite" in proc.stderr
    assert "does not have a Release file" in proc.stderr
    assert files_under(out) == []


def test_unreachable_repository_is_a_clear_build_failure(
    signed_repo: SignedRepo, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    out = tmp_path / "dist"
    recipe = recipe_dir(tmp_path, signed_repo, url=signed_repo.unreachable_url)
    proc = run_cli("recipe", recipe, "--distro", DISTRO, "--out", out)
    assert proc.returncode == BUILD_FAILED, proc.stderr
    assert "repository vmapp-test" in proc.stderr
    assert "it cannot be reached from the build container" in proc.stderr
    assert signed_repo.unreachable_url in proc.stderr
    assert files_under(out) == []


@pytest.mark.parametrize(
    ("recorded", "reason"),
    [
        ("apt-get-update-wrong-key", "its signature does not verify"),  # lists from an earlier update exist
        ("apt-get-update-wrong-key-fresh", "its signature does not verify"),
        ("apt-get-update-no-release", "it has no Release file"),
        ("apt-get-update-unreachable", "it cannot be reached"),
    ],
)
def test_update_failures_are_put_in_words(recorded: str, reason: str) -> None:
    """apt-get update's output for each failure (recorded on bookworm): caught, and named in words."""
    output = (DATA / f"{recorded}.bookworm.txt").read_text()
    lines = "\n".join(REPO_FAILURE.findall(output))
    assert "http://172.17.0." in lines, "the failure lines name the repository's URL"
    assert repo_problem(lines)[0].startswith(reason)
