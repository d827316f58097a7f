"""sbom.cdx.json: written beside the manifest by every build, valid CycloneDX (the library's own strict
validator), one component per bundled package or installer with its purl and hash, the same bytes on a
rebuild, and nothing when the build is refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import docker
import pytest
from cyclonedx.validation.json import JsonStrictValidator

from builder.azure.emit import AZ_NAME, POWERSHELL_NAME, TEMPLATE_NAME
from builder.azure.gallery import ARCH_TAG, PACKAGE_SHA256_TAG, SBOM_SHA256_TAG
from builder.distros import DISTROS
from builder.payload import Component
from builder.pipeline import BuildResult, build
from builder.plan import make_plan
from builder.recipe import load_recipe
from builder.sbom import SBOM_NAME, SCHEMA_VERSION, SOURCE_DATE_EPOCH, package_purl, sbom_json
from tests.conftest import DISTRO, files_under, run_cli, write_recipe
from tests.rpm_images import extract_key, fixture_image
from tests.test_e2e_rpm import RpmEnv
from tests.test_tarball import make_tarball, tool_recipe
from tests.test_windows_units import GALLERY, build_too_long_command, installer_file, windows_recipe


def read_sbom(result: BuildResult) -> dict[str, Any]:
    """The build's SBOM, checked against the schema and against the manifest that names it."""
    path = result.manifest.parent / SBOM_NAME
    text = path.read_text(encoding="utf-8")
    assert JsonStrictValidator(SCHEMA_VERSION).validate_str(text) is None
    assert result.document["sbom"] == {"file": SBOM_NAME, "sha256": hashlib.sha256(text.encode()).hexdigest()}
    document: dict[str, Any] = json.loads(text)
    app = result.document["application"]
    assert document["metadata"]["component"]["name"] == app["name"]
    assert document["metadata"]["component"]["version"] == app["version"]
    assert document["metadata"]["tools"]["components"][0]["name"] == "vmapp-build"
    return document


def by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in document["components"]}


def sha256_of(component: dict[str, Any]) -> str:
    (digest,) = (h["content"] for h in component["hashes"] if h["alg"] == "SHA-256")
    return str(digest)


def assert_packages_listed(result: BuildResult, document: dict[str, Any]) -> None:
    """One component per bundled package: its purl (the manifest's name, version, arch) and its hash."""
    distro = DISTROS[result.document["distro"]["name"]]
    packages = result.document["packages"]
    components = by_name(document)
    assert len(document["components"]) == len(packages) == len(components)
    for p in packages:
        component = components[p["name"]]
        assert component["purl"] == package_purl(distro, p["name"], p["version"], p["architecture"])
        assert component["version"] == p["version"] and component["type"] == "library"
        assert sha256_of(component) == p["sha256"]


# -- the document, without a build ----------------------------------------------------------------------


def test_purls_follow_the_purl_spec_for_deb_and_rpm() -> None:
    assert (
        package_purl(DISTROS["debian-12"], "jq", "1.6-2.1+deb12u1", "amd64")
        == "pkg:deb/debian/jq@1.6-2.1%2Bdeb12u1?arch=amd64&distro=debian-12"
    )
    # an RPM epoch is a qualifier, not part of the version
    assert (
        package_purl(DISTROS["rhel-9"], "bash", "1:5.1.8-6.el9", "x86_64")
        == "pkg:rpm/redhat/bash@5.1.8-6.el9?arch=x86_64&distro=rhel-9&epoch=1"
    )
    assert package_purl(DISTROS["sles-15"], "jq", "1.6-3.3", "x86_64").startswith("pkg:rpm/suse/jq@1.6-3.3?")


def test_the_document_depends_only_on_its_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Order of the components, the clock: neither changes a byte. SOURCE_DATE_EPOCH sets the timestamp;
    the serial number follows the package's sha256."""
    parts = [
        Component("jq", "a" * 64, "1.6", package_purl(DISTROS["rhel-9"], "jq", "1.6-1", "x86_64"), "MIT"),
        Component("setup.msi", "b" * 64),
    ]
    text = sbom_json("app", "1.0.0", "c" * 64, parts)
    assert JsonStrictValidator(SCHEMA_VERSION).validate_str(text) is None
    assert sbom_json("app", "1.0.0", "c" * 64, list(reversed(parts))) == text
    document = json.loads(text)
    assert document["metadata"]["timestamp"].startswith("1970-01-01T00:00:00")
    assert by_name(document)["jq"]["licenses"] == [{"license": {"id": "MIT"}}]
    assert "licenses" not in by_name(document)["setup.msi"]
    assert json.loads(sbom_json("app", "1.0.0", "d" * 64, parts))["serialNumber"] != document["serialNumber"]
    monkeypatch.setenv(SOURCE_DATE_EPOCH, "1700000000")
    assert json.loads(sbom_json("app", "1.0.0", "c" * 64, parts))["metadata"]["timestamp"].startswith("2023-11-14")


# -- tarball and Windows builds (no engine needed) -------------------------------------------------------


def test_tarball_build_lists_the_tarball_with_its_hash(tmp_path: Path) -> None:
    sha = make_tarball(tmp_path / "tool.tar.gz", {"bin/tool": "#!/bin/sh\necho tool\n"})
    recipe = write_recipe(tmp_path, tool_recipe("1.0.0", "tool.tar.gz", sha, "/opt/tool"), "tool.yaml")
    result = build(make_plan(load_recipe(recipe), DISTRO, tmp_path / "dist"))
    document = read_sbom(result)
    (component,) = document["components"]
    assert component["type"] == "file" and component["name"] == "tool.tar.gz"
    assert sha256_of(component) == result.document["package"]["sha256"] == result.document["tarball"]["sha256"]
    again = build(make_plan(load_recipe(recipe), DISTRO, tmp_path / "again"))
    assert (again.manifest.parent / SBOM_NAME).read_bytes() == (result.manifest.parent / SBOM_NAME).read_bytes()


def windows_build(root: Path, out: Path) -> BuildResult:
    _, first = installer_file(root, "runtime.exe", b"MZ runtime")
    _, second = installer_file(root, "app.msi", b"MSI app")
    installers = (
        f"    - source: runtime.exe\n      sha256: {first.upper()}\n"
        "      arguments: [/S]\n      remove: runtime.exe /uninstall\n"
        f"    - source: app.msi\n      sha256: {second}\n"
    )
    return build(make_plan(load_recipe(windows_recipe(root, installers)), "windows", out))


def test_windows_build_lists_each_installer_with_its_hash(tmp_path: Path) -> None:
    result = windows_build(tmp_path, tmp_path / "dist")
    components = by_name(read_sbom(result))
    assert sorted(components) == ["app.msi", "runtime.exe"]
    for installer in result.document["installers"]:
        component = components[installer["file"]]
        assert component["type"] == "file" and "purl" not in component
        assert sha256_of(component) == installer["sha256"].lower()
        assert sha256_of(component) == hashlib.sha256((tmp_path / installer["file"]).read_bytes()).hexdigest()
    again = windows_build(tmp_path, tmp_path / "again")
    assert (again.manifest.parent / SBOM_NAME).read_bytes() == (result.manifest.parent / SBOM_NAME).read_bytes()


def test_gallery_definitions_tag_the_version_with_the_package_and_sbom_hashes(tmp_path: Path) -> None:
    _, sha = installer_file(tmp_path, "app.msi", b"msi bytes")
    recipe = windows_recipe(tmp_path, f"    - source: app.msi\n      sha256: {sha}\n")
    recipe.write_text(recipe.read_text() + GALLERY)
    proc = run_cli("recipe", recipe, "--distro", "windows", "--out", tmp_path / "dist")
    assert proc.returncode == 0, proc.stderr
    build_dir = tmp_path / "dist" / "demo" / "1.0.0" / "windows"
    manifest = json.loads((build_dir / "manifest.json").read_text())
    package, sbom = manifest["package"]["sha256"], manifest["sbom"]["sha256"]
    assert sbom == hashlib.sha256((build_dir / SBOM_NAME).read_bytes()).hexdigest()
    tags = {PACKAGE_SHA256_TAG: package, SBOM_SHA256_TAG: sbom, ARCH_TAG: "amd64"}
    version = json.loads((build_dir / "gallery" / TEMPLATE_NAME).read_text())["resources"][1]
    assert version["tags"] == tags
    assert all(len(value) <= 256 for value in tags.values())  # Azure's limit on a tag value
    assert (
        f"--tags {PACKAGE_SHA256_TAG}={package} {SBOM_SHA256_TAG}={sbom}"
        in (build_dir / "gallery" / AZ_NAME).read_text()
    )
    powershell = (build_dir / "gallery" / POWERSHELL_NAME).read_text()
    assert (
        f"Tag = @{{'{PACKAGE_SHA256_TAG}' = '{package}'; '{SBOM_SHA256_TAG}' = '{sbom}'; '{ARCH_TAG}' = 'amd64'}}"
        in (powershell)
    )


def test_a_refused_build_writes_no_sbom(tmp_path: Path) -> None:
    """Refused by the limits (before the SBOM is made) or by the immutability check (after it is staged):
    nothing reaches the output directory, and an earlier build's SBOM stays as it was."""
    proc = build_too_long_command(tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert files_under(tmp_path / "dist") == []

    first = windows_build(tmp_path, tmp_path / "out")
    sbom = (first.manifest.parent / SBOM_NAME).read_bytes()
    _, other = installer_file(tmp_path, "app.msi", b"another MSI")  # another hash, and other commands:
    changed = windows_recipe(tmp_path, f"    - source: app.msi\n      sha256: {other}\n      properties: {{A: b}}\n")
    proc = run_cli("recipe", changed, "--distro", "windows", "--out", tmp_path / "out")
    assert proc.returncode == 2 and "already built" in proc.stderr, proc.stderr
    assert (first.manifest.parent / SBOM_NAME).read_bytes() == sbom
    assert sorted(p.name for p in first.manifest.parent.iterdir()) == sorted(
        ["lock.json", "manifest.json", SBOM_NAME, first.package.name]
    )


# -- closures: apt and dnf, in real containers -----------------------------------------------------------


@pytest.mark.docker
def test_apt_build_lists_each_package_with_its_purl_and_hash(
    build_shipped: Any, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    result: BuildResult = build_shipped("jq")
    document = read_sbom(result)
    assert_packages_listed(result, document)
    assert by_name(document)["jq"]["purl"].startswith("pkg:deb/debian/jq@")
    assert all("licenses" not in c for c in document["components"])  # a deb's control file states none
    again = build(make_plan(load_recipe("jq"), DISTRO, tmp_path / "dist"), docker_client)
    assert (again.manifest.parent / SBOM_NAME).read_bytes() == (result.manifest.parent / SBOM_NAME).read_bytes()


@pytest.fixture(scope="module")
def dnf_env(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> RpmEnv:
    image = fixture_image(docker_client, "dnf")
    key = extract_key(docker_client, image, tmp_path_factory.mktemp("key-dnf") / "key.asc")
    return RpmEnv("dnf", "rhel-9", image, fixture_image(docker_client, "dnf", newer=True), key)


def dnf_build(env: RpmEnv, docker_client: docker.DockerClient, work: Path) -> BuildResult:
    work.mkdir()
    plan = make_plan(load_recipe(env.recipe(work, ["vt-app"])), env.distro, work / "dist", env.image)
    return build(plan, docker_client)


@pytest.mark.docker
def test_rpm_build_lists_each_package_with_its_purl_hash_and_license(
    dnf_env: RpmEnv, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    result = dnf_build(dnf_env, docker_client, tmp_path / "one")
    document = read_sbom(result)
    assert_packages_listed(result, document)
    assert by_name(document)["vt-app"]["purl"].startswith("pkg:rpm/redhat/vt-app@")
    # every fixture package states a License header
    assert all(c.get("licenses") for c in document["components"]), document["components"]
    again = dnf_build(dnf_env, docker_client, tmp_path / "two")
    assert (again.manifest.parent / SBOM_NAME).read_bytes() == (result.manifest.parent / SBOM_NAME).read_bytes()
