"""Publishing against real Blob Storage: Azurite, Azure's Blob Storage emulator, on loopback.

Every test here runs against Azurite, which tests/azurite.py installs with npm (`azurite@3`, into
.cache/azurite) and starts: they ask for the `azurite` fixture (tests/conftest.py), so they carry the
`azurite` marker and `make test-fast` leaves them out. The ARM calls are in test_publish_arm.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobSasPermissions, BlobServiceClient, ContainerClient, generate_blob_sas

from builder.azure.publish import publish_build, storage_access
from builder.azure.storage import PublishError, check_source_uri, read_sas_url, upload_file
from builder.files import sha256_file
from builder.manifest import manifest_document
from tests.azurite import ACCOUNT, KEY, Azurite
from tests.conftest import run_cli

MIB = 1024 * 1024


@pytest.fixture
def container(azurite: Azurite, request: pytest.FixtureRequest) -> ContainerClient:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    name = "t" + hashlib.sha1(request.node.name.encode()).hexdigest()[:20]
    client = service.get_container_client(name)
    client.create_container()
    return client


def marked_file(path: Path, size: int) -> str:
    """A sparse file with its MiB index written at each MiB: blocks out of order would show. Returns sha256."""
    with open(path, "wb") as f:
        f.truncate(size)
        for mib in range(0, size, MIB):
            f.seek(mib)
            f.write(f"block {mib // MIB:08d}".encode())
    return sha256_file(path)


def download_sha256(url: str) -> tuple[int, str]:
    """Anonymous download (no credential, only what is in the URL), streamed."""
    digest, size = hashlib.sha256(), 0
    with urllib.request.urlopen(url, timeout=120) as response:
        while chunk := response.read(MIB):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


# --- upload, SAS, link checks ------------------------------------------------------------------------


def test_upload_sas_and_anonymous_download_match_byte_for_byte(tmp_path: Path, container: ContainerClient) -> None:
    data = os.urandom(3 * MIB + 12345)
    path = tmp_path / "pkg.tar.gz"
    path.write_bytes(data)
    blob = container.get_blob_client("jq/1.0.0/debian-12/jq.tar.gz")
    result = upload_file(blob, path, hashlib.sha256(data).hexdigest(), block_size=MIB, concurrency=4)
    assert (result.size, result.blocks, result.reused_blocks, result.skipped) == (len(data), 4, 0, False)
    assert result.md5 == hashlib.md5(data).hexdigest()
    url = read_sas_url(blob, 1, account_key=KEY)
    assert "sp=r&" in url and "se=" in url
    assert check_source_uri(url) == len(data)
    with urllib.request.urlopen(url, timeout=60) as response:
        assert response.read() == data
    with pytest.raises(urllib.error.HTTPError) as refused:  # without the SAS: private
        urllib.request.urlopen(blob.url, timeout=60)
    refused.value.close()
    assert refused.value.code in (403, 404)
    again = upload_file(blob, path, hashlib.sha256(data).hexdigest(), block_size=MIB)
    assert again.skipped  # the same content is not uploaded twice


def test_multi_block_upload_of_300_mb(tmp_path: Path, container: ContainerClient) -> None:
    path = tmp_path / "big.bin"
    sha256 = marked_file(path, 300 * MIB + 7)
    blob = container.get_blob_client("big/1.0.0/debian-12/big.bin")
    seen: list[int] = []
    result = upload_file(blob, path, sha256, block_size=8 * MIB, concurrency=8, progress=seen.append)
    assert result.blocks == 38 and sum(seen) == path.stat().st_size
    committed, _ = blob.get_block_list("committed")
    assert len(committed) == 38 and sum(b.size for b in committed) == path.stat().st_size
    assert download_sha256(read_sas_url(blob, 1, account_key=KEY)) == (path.stat().st_size, sha256)


def test_sas_without_read_rights_is_rejected_with_azures_message(container: ContainerClient, tmp_path: Path) -> None:
    blob = container.get_blob_client("app/1.0.0/x/app.bin")
    blob.upload_blob(b"payload")
    token = generate_blob_sas(
        ACCOUNT,
        container.container_name,
        blob.blob_name,
        account_key=KEY,
        permission=BlobSasPermissions(write=True),
        expiry=__import__("datetime").datetime.now(__import__("datetime").UTC)
        + __import__("datetime").timedelta(hours=1),
    )
    with pytest.raises(PublishError) as info:
        check_source_uri(f"{blob.url}?{token}")
    assert info.value.message == f"The SAS isn't valid for source uri {blob.url}."
    assert token not in str(info.value)  # the signature stays out of messages
    with pytest.raises(PublishError) as anonymous:
        check_source_uri(blob.url)
    assert anonymous.value.message == f"The SAS isn't valid for source uri {blob.url}."
    missing = container.get_blob_client("app/1.0.0/x/absent.bin")
    with pytest.raises(PublishError) as absent:
        check_source_uri(read_sas_url(missing, 1, account_key=KEY))
    assert absent.value.message == f"The blob referenced by source uri {missing.url} doesn't exist."
    with pytest.raises(Exception, match="must be an absolute uri"):
        check_source_uri(f'"{blob.url}?{token}"')


def test_an_interrupted_upload_commits_nothing_and_resumes(tmp_path: Path, container: ContainerClient) -> None:
    path = tmp_path / "pkg.bin"
    sha256 = marked_file(path, 20 * MIB)
    blob = container.get_blob_client("pkg/1.0.0/debian-12/pkg.bin")
    staged = 0

    def interrupt_half_way(count: int) -> None:
        nonlocal staged
        staged += 1
        if staged >= 5:
            raise KeyboardInterrupt("interrupted half-way")

    with pytest.raises(PublishError, match="nothing was committed"):
        upload_file(blob, path, sha256, block_size=2 * MIB, concurrency=1, progress=interrupt_half_way)
    assert not blob.exists()  # no truncated blob: only uncommitted blocks
    _, uncommitted = blob.get_block_list("uncommitted")
    assert 5 <= len(uncommitted) < 10
    result = upload_file(blob, path, sha256, block_size=2 * MIB, concurrency=4)
    assert result.reused_blocks == len(uncommitted) and result.blocks == 10
    assert download_sha256(read_sas_url(blob, 1, account_key=KEY)) == (20 * MIB, sha256)


def test_a_file_that_changed_since_the_build_is_not_committed(tmp_path: Path, container: ContainerClient) -> None:
    path = tmp_path / "pkg.bin"
    path.write_bytes(b"built")
    blob = container.get_blob_client("changed/pkg.bin")
    with pytest.raises(PublishError, match="the manifest says"):
        upload_file(blob, path, hashlib.sha256(b"something else").hexdigest())
    assert not blob.exists()


# --- publish, end to end -----------------------------------------------------------------------------


def fake_build(root: Path, install: str = "tar xzf jq.tar.gz && sh ./install 'with quotes'") -> Path:
    build = root / "dist" / "jq" / "1.0.0" / "debian-12"
    build.mkdir(parents=True)
    package = build / "jq.tar.gz"
    package.write_bytes(os.urandom(MIB + 3))
    document = manifest_document(
        application={"name": "jq", "version": "1.0.0", "description": "jq"},
        distro={"name": "debian-12", "family": "apt"},
        commands={"install": install, "remove": "sh remove", "update": "sh update"},
        packageFileName="jq.tar.gz",
        package={"file": "jq.tar.gz", "size": package.stat().st_size, "sha256": sha256_file(package)},
    )
    (build / "manifest.json").write_text(json.dumps(document))
    (root / "license.lic").write_text("licensed to: tests\n")
    (root / "gallery.yaml").write_text(
        "gallery:\n  name: g\n  resource_group: rg\n  location: westeurope\n"
        "  configuration: {file: license.lic, name: app.lic}\n  storage: {container: published}\n"
    )
    return build


def test_publish_command_uploads_signs_and_fills_in_the_definitions(tmp_path: Path, azurite: Azurite) -> None:
    build = fake_build(tmp_path)
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    result = run_cli("publish", build, "--gallery", tmp_path / "gallery.yaml", "--block-mib", "1", env=env)
    assert result.returncode == 0, result.stderr
    template = json.loads((build / "gallery" / "template.json").read_text())
    source = template["resources"][1]["properties"]["publishingProfile"]["source"]
    assert source["mediaLink"].startswith(f"{azurite.account_url}/published/jq/1.0.0/debian-12/jq.tar.gz?")
    assert download_sha256(source["mediaLink"]) == (
        (build / "jq.tar.gz").stat().st_size,
        sha256_file(build / "jq.tar.gz"),
    )
    with urllib.request.urlopen(source["defaultConfigurationLink"], timeout=60) as response:
        assert response.read() == b"licensed to: tests\n"
    assert (build / "gallery" / "template.json").stat().st_mode & 0o077 == 0  # it holds a SAS
    assert source["mediaLink"] in (build / "gallery" / "az.sh").read_text().replace("'", "")
    assert "sig=" not in result.stdout + result.stderr  # the signature is never printed
    again = run_cli("publish", build, "--block-mib", "1", env=env)  # settings saved beside the build
    assert again.returncode == 0, again.stderr
    assert "unchanged" in again.stdout


def test_publish_refuses_what_azure_would_refuse_before_uploading(tmp_path: Path, azurite: Azurite) -> None:
    build = fake_build(tmp_path, install="x" * 4097)
    gallery = tmp_path / "gallery.yaml"
    gallery.write_text(gallery.read_text().replace("container: published", "container: refused"))
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    result = run_cli("publish", build, "--gallery", tmp_path / "gallery.yaml", env=env)
    assert result.returncode == 2
    assert "manageActions.install is 4097 characters long" in result.stderr
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    assert not service.get_container_client("refused").exists()


def test_publish_build_library_call(tmp_path: Path, azurite: Azurite) -> None:
    build = fake_build(tmp_path)
    access = storage_access(azurite.connection_string, None, None)
    assert access.account_key == KEY
    from builder.azure.settings import load_gallery_file

    result = publish_build(build, access, load_gallery_file(tmp_path / "gallery.yaml"), block_size=MIB // 2)
    assert result.package.blocks == 3 and result.configuration is not None
    assert check_source_uri(result.definition.media_link) == result.package.size


def test_a_package_built_by_recipe_is_published_and_its_definitions_carry_it(
    tmp_path: Path, azurite: Azurite, docker_client: Any
) -> None:
    """The whole path: `vmapp-build recipe` on a shipped recipe, then `publish` to Azurite. The SAS URL
    downloads the same bytes; the ARM template and the az commands carry that URL and the build's
    command strings unchanged."""
    (tmp_path / "gallery.yaml").write_text(
        "gallery:\n  name: g\n  resource_group: rg\n  location: westeurope\n  storage: {container: built}\n"
    )
    out = tmp_path / "dist"
    built = run_cli("recipe", "jq", "--distro", "debian-12", "--out", out, "--gallery", tmp_path / "gallery.yaml")
    assert built.returncode == 0, built.stderr
    build = out / "jq/1.0.0/debian-12"
    manifest = json.loads((build / "manifest.json").read_text())

    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    result = run_cli("publish", build, "--gallery", tmp_path / "gallery.yaml", env=env)
    assert result.returncode == 0, result.stderr

    profile = json.loads((build / "gallery" / "template.json").read_text())["resources"][1]["properties"][
        "publishingProfile"
    ]
    media_link = profile["source"]["mediaLink"]
    assert download_sha256(media_link) == (manifest["package"]["size"], manifest["package"]["sha256"])
    assert profile["manageActions"]["install"] == manifest["commands"]["install"]
    assert profile["manageActions"]["remove"] == manifest["commands"]["remove"]
    assert profile["settings"]["packageFileName"] == "jq.tar.gz"

    # az.sh, parsed as sh would: the version create call has the same URL and strings, byte for byte.
    az = (build / "gallery" / "az.sh").read_text()
    create = next(
        shlex.split(line, comments=True) for line in az.split("\naz ") if "gallery-application version create" in line
    )
    assert create[create.index("--package-file-link") + 1] == media_link
    assert create[create.index("--install-command") + 1] == manifest["commands"]["install"]
    assert create[create.index("--remove-command") + 1] == manifest["commands"]["remove"]
