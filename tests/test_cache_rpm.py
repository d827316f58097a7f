"""The package cache feeding the RPM families (dnf, zypper) for real: the test repository over http, a
build into an empty cache, a second build that fetches no package from the repository (every file
from the cache, the same bytes), and a tampered cached package that is fetched again."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker.models.containers import Container as DockerContainer

from builder.backends.rpm_cache import closure_files, decompress, parse_primary
from builder.cache import PackageCache
from builder.pipeline import BuildResult, build
from builder.plan import make_plan
from builder.recipe import load_recipe
from tests.conftest import SESSION
from tests.rpm_images import served_repository, vt_recipe

DISTROS = {"dnf": "rhel-9", "zypper": "sles-15"}
# Recorded from createrepo_c 0.17.3 (the test repository's primary.xml: its vt-lib 1.2, abridged).
PRIMARY = b"""<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="12">
<package type="rpm">
  <name>vt-lib</name>
  <arch>noarch</arch>
  <version epoch="0" ver="1.2" rel="1"/>
  <checksum type="sha256" pkgid="YES">e5a529fecdf8831c2f65a50b6f428626bdda9bacb5b18902e2788054566b32f0</checksum>
  <summary>vmapp-build test package vt-lib</summary>
  <time file="1796145711" build="1796145711"/>
  <size package="6121" installed="11" archive="276"/>
  <location href="vt-lib-1.2-1.noarch.rpm"/>
</package>
</metadata>
"""


def test_primary_gives_each_file_its_sha256_and_never_an_odd_location() -> None:
    [entry] = parse_primary("t", decompress(PRIMARY) or b"")
    assert (entry.name, entry.version, entry.arch, entry.location, entry.size) == (
        "vt-lib",
        "1.2-1",
        "noarch",
        "vt-lib-1.2-1.noarch.rpm",
        6121,
    )
    assert entry.sha256 == "e5a529fecdf8831c2f65a50b6f428626bdda9bacb5b18902e2788054566b32f0"
    assert closure_files([("vt-lib", "1.2-1", "noarch")], [entry]) == {("vt-lib", "1.2-1", "noarch"): entry}
    for href in ("../../etc/passwd.rpm", "/abs.rpm", "http://x/y.rpm"):
        [odd] = parse_primary("t", PRIMARY.replace(b"vt-lib-1.2-1.noarch.rpm", href.encode()))
        assert odd.sha256 is None, href
    [other] = parse_primary("u", PRIMARY)
    assert closure_files([("vt-lib", "1.2-1", "noarch")], [entry, other]) == {}  # two repositories: not fed


@pytest.fixture(scope="module")
def http_repository(docker_client: docker.DockerClient) -> Iterator[DockerContainer]:
    """The test RPM repository over http; its log lists every request."""
    with served_repository(docker_client, f"vmapp-test-cacherpm-{SESSION}") as server:
        yield server


def _fetched(server: DockerContainer) -> list[str]:
    return [line for line in server.logs().decode().splitlines() if ".rpm HTTP" in line]


def _same(one: BuildResult, other: BuildResult) -> None:
    for name in (one.package.name, "lock.json", "sbom.cdx.json"):
        assert (one.manifest.parent / name).read_bytes() == (other.manifest.parent / name).read_bytes(), name


@pytest.mark.parametrize("family", sorted(DISTROS))
def test_rpm_builds_take_their_packages_from_the_cache(
    family: str,
    http_repository: DockerContainer,
    docker_client: docker.DockerClient,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    address = http_repository.attrs["NetworkSettings"]["IPAddress"]
    image, path = vt_recipe(docker_client, family, tmp_path, url=f"http://{address}/repo")
    recipe = load_recipe(path)
    cache = PackageCache(tmp_path / "cache")

    def run(out: str) -> tuple[BuildResult, str, list[str]]:
        seen = len(_fetched(http_repository))
        result = build(make_plan(recipe, DISTROS[family], tmp_path / out, image), docker_client, cache=cache)
        return result, capfd.readouterr().err, _fetched(http_repository)[seen:]

    first, err, fetched = run("first")
    files = len(json.loads((first.manifest.parent / "lock.json").read_text())["packages"])
    assert f"package cache: 0 of {files} files from the cache" in err and len(fetched) == files

    second, err, fetched = run("second")
    assert f"package cache: {files} of {files} files from the cache" in err, err
    assert fetched == [], "the second build downloads no package"
    _same(first, second)

    victim = max(cache.entries(), key=lambda e: e.size)
    blob = cache.blob(victim.sha256)
    content = bytearray(blob.read_bytes())
    content[200:204] = b"EVIL"  # the same size
    blob.write_bytes(bytes(content))
    tampered, err, fetched = run("tampered")
    assert "1 cached file did not match the index hash: dropped" in err, err
    assert len(fetched) == 1 and victim.name in fetched[0]
    _same(first, tampered)
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == victim.sha256  # the good file, stored again
