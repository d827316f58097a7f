"""`vmapp-build publish`: a built package -> Blob Storage -> (with --create) a gallery version in Azure.

Order matters: every local check first, then the uploads (builder.azure.storage), then a read SAS per
blob checked the way Azure will check it, then the emitted definitions rewritten with the final
links, and only then, when asked, the ARM calls. The ARM calls are thin: their request bodies are
builder.azure.gallery's, the same the emitted files hold.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.storage.blob import BlobServiceClient, ContainerClient

from builder.azure.checks import check_definition, enforce_gallery
from builder.azure.emit import GALLERY_DIR, SETTINGS_NAME, replace_directory, write_definitions
from builder.azure.gallery import (
    API_VERSION,
    GallerySettings,
    VersionDefinition,
    application_body,
    definition_from_manifest,
    read_settings_json,
    version_body,
)
from builder.azure.storage import (
    BLOCK_SIZE,
    CONCURRENCY,
    PublishError,
    UploadResult,
    blob_name,
    check_source_uri,
    read_sas_url,
    upload_file,
)
from builder.errors import EnvironmentProblem, InputError
from builder.files import sha256_file
from builder.manifest import load_manifest
from builder.progress import byte_bar


@dataclass(frozen=True)
class StorageAccess:
    service: BlobServiceClient
    account_key: str | None  # None: SAS signed with a user delegation key (Entra ID sign-in)


@dataclass(frozen=True)
class PublishResult:
    definition: VersionDefinition
    package: UploadResult
    configuration: UploadResult | None
    warnings: list[str]
    replication: dict[str, Any] | None


def storage_access(connection_string: str | None, account_url: str | None, account_key: str | None) -> StorageAccess:
    """Blob Storage from a connection string, an account URL and key, or an account URL and a sign-in."""
    if connection_string:
        service = BlobServiceClient.from_connection_string(connection_string)
        return StorageAccess(service, getattr(service.credential, "account_key", None))
    if not account_url:
        raise InputError(
            "no storage account to publish to",
            hint="set gallery.storage.account_url, or pass --account-url or --connection-string",
        )
    if account_key:
        name = (urllib.parse.urlsplit(account_url).hostname or "").split(".")[0]
        return StorageAccess(
            BlobServiceClient(account_url, {"account_name": name, "account_key": account_key}), account_key
        )
    from azure.identity import DefaultAzureCredential

    return StorageAccess(BlobServiceClient(account_url, DefaultAzureCredential()), None)


def load_settings(build_dir: Path, settings: GallerySettings | None) -> GallerySettings:
    if settings is not None:
        return settings
    saved = build_dir / GALLERY_DIR / SETTINGS_NAME
    if not saved.is_file():
        raise InputError(
            f"{build_dir}: no gallery settings",
            hint="pass --gallery FILE, or add a `gallery:` section to the recipe and rebuild",
        )
    return read_settings_json(saved)


def publish_build(
    build_dir: Path,
    access: StorageAccess,
    settings: GallerySettings | None = None,
    *,
    container: str | None = None,
    block_size: int = BLOCK_SIZE,
    concurrency: int = CONCURRENCY,
    report: Callable[[str], object] = lambda _: None,
) -> PublishResult:
    """Check, upload, sign and check the links, then rewrite the build's definitions with them."""
    build_dir, document = load_manifest(build_dir)
    settings = load_settings(build_dir, settings)
    d = definition_from_manifest(build_dir, document, settings)
    warnings = _check_before_upload(d)
    for warning in warnings:
        report(f"warning: {warning}")
    container_client = access.service.get_container_client(container or settings.storage.container)
    if not container_client.exists():
        container_client.create_container()
    distro = str(document.get("distro", {}).get("name", "any"))
    send = _Uploader(
        access,
        container_client,
        prefix=blob_name(d.app, d.version, distro, ""),
        sas_hours=settings.storage.sas_hours,
        block_size=block_size,
        concurrency=concurrency,
        report=report,
    ).send
    package, media_link = send(d.package_path, d.package_file_name, document["package"]["sha256"], "application/gzip")
    config_result, config_link = None, None
    if (config := settings.configuration) is not None:
        config_result, config_link = send(
            config.path, f"config/{config.name}", sha256_file(config.path), "application/octet-stream"
        )
    d = d.published(media_link, config_link)
    staged = build_dir / f".{GALLERY_DIR}.new"
    write_definitions(staged, d)
    replace_directory(staged, build_dir / GALLERY_DIR)
    report(f"definitions with the SAS links in {build_dir / GALLERY_DIR} (readable by you only)")
    return PublishResult(d, package, config_result, warnings, None)


def _check_before_upload(d: VersionDefinition) -> list[str]:
    """The local checks, before any byte leaves: the files exist and Azure would take the version."""
    if not d.package_path.is_file():
        raise InputError(f"{d.package_path}: the package is missing", hint="rebuild it")
    config = d.settings.configuration
    config_size = config.path.stat().st_size if config and config.path.is_file() else None
    if config and config_size is None:
        raise InputError(f"{d.settings.source}: configuration.file: {config.path}: no such file")
    return enforce_gallery(check_definition(d, d.package_path.stat().st_size, config_size), f"{d.app} {d.version}")


@dataclass(frozen=True)
class _Uploader:
    """One build's blobs: upload each under `prefix`, then sign a read SAS and check it as Azure will."""

    access: StorageAccess
    container: ContainerClient
    prefix: str  # app/version/distro/
    sas_hours: int
    block_size: int
    concurrency: int
    report: Callable[[str], object]

    def send(self, path: Path, name: str, sha256: str, content_type: str) -> tuple[UploadResult, str]:
        """Upload `path` as `prefix + name`; returns the result and the checked read SAS URL."""
        blob = self.container.get_blob_client(self.prefix + name)
        with byte_bar(path.stat().st_size, name) as bar:
            result = upload_file(
                blob,
                path,
                sha256,
                block_size=self.block_size,
                concurrency=self.concurrency,
                content_type=content_type,
                progress=bar.update,
            )
        done = "unchanged" if result.skipped else "uploaded"
        self.report(f"{done} {result.url} ({result.size} bytes, md5 {result.md5})")
        access = self.access
        link = read_sas_url(blob, self.sas_hours, account_key=access.account_key, service=access.service)
        check_source_uri(link)
        return result, link


def _arm_options(base_url: str | None) -> dict[str, Any]:
    options: dict[str, Any] = {"api_version": API_VERSION}
    host = urllib.parse.urlsplit(base_url or "").hostname
    if base_url and base_url.startswith("http://") and host in ("127.0.0.1", "localhost", "::1"):
        options["enforce_https"] = False  # a local test endpoint: the token never leaves loopback
    return options


def create_in_azure(
    d: VersionDefinition,
    credential: TokenCredential,
    subscription: str,
    *,
    base_url: str | None = None,
    poll_seconds: float = 30.0,
    timeout_seconds: float = 6 * 3600,
    report: Callable[[str], object] = lambda _: None,
) -> dict[str, Any]:
    """Create or update the gallery application and this version; wait until replication completes."""
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.compute.models import GalleryApplication, GalleryApplicationVersion

    s = d.settings
    options = _arm_options(base_url)
    client = ComputeManagementClient(credential, subscription, base_url=base_url, polling_interval=poll_seconds)
    try:
        client.gallery_applications.begin_create_or_update(
            s.resource_group, s.gallery, d.app, GalleryApplication(application_body(d)), **options
        ).result()
        report(f"gallery application {s.gallery}/{d.app}: created or updated")
        client.gallery_application_versions.begin_create_or_update(
            s.resource_group, s.gallery, d.app, d.version, GalleryApplicationVersion(version_body(d)), **options
        ).result()
        report(f"version {d.version}: created; waiting for replication")
        deadline = time.monotonic() + timeout_seconds
        while True:
            version = client.gallery_application_versions.get(
                s.resource_group, s.gallery, d.app, d.version, expand="ReplicationStatus", **options
            )
            status = version.as_dict().get("properties", {}).get("replicationStatus", {})
            state = status.get("aggregatedState")
            report(f"replication: {state}")
            if state == "Completed":
                return dict(status)
            if state == "Failed":
                regions = "; ".join(f"{r.get('region')}: {r.get('details')}" for r in status.get("summary", []))
                raise PublishError(f"{d.app} {d.version}: replication failed: {regions}")
            if time.monotonic() > deadline:
                raise PublishError(f"{d.app} {d.version}: replication still {state} after {timeout_seconds:.0f} s")
            time.sleep(poll_seconds)
    except ClientAuthenticationError as exc:
        raise EnvironmentProblem(f"Azure refused the credentials: {exc.message}", hint="run `az login`") from exc
    except HttpResponseError as exc:
        raise PublishError(f"Azure answered {exc.status_code}: {exc.message}") from exc
    finally:
        client.close()
