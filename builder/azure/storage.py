"""Blob Storage for packages: a verified, resumable block-blob upload, read SAS URLs, link checks.

The upload never leaves a truncated blob behind: blocks are staged in parallel (each with a
transactional MD5 the service checks), and the block list is committed only when every block is
staged and the whole file's SHA-256 matches the manifest. An interrupted upload leaves uncommitted
blocks only; running publish again finds them (same deterministic ids) and stages only the rest.
The file is read once, in order, with at most `concurrency + 1` blocks in memory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import urllib.parse
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.storage.blob import BlobClient, BlobSasPermissions, BlobServiceClient, ContentSettings, generate_blob_sas

from builder.errors import InputError, VmappError

MIB = 1024 * 1024
BLOCK_SIZE = 4 * MIB  # 500 blocks for 2 GB (Azure allows 50,000); small enough to keep memory flat
CONCURRENCY = 8
SAS_CLOCK_SKEW = dt.timedelta(minutes=15)


class PublishError(VmappError):
    """Storage or Azure refused, or what was uploaded is not what was built."""

    exit_code = 3


@dataclass(frozen=True)
class UploadResult:
    url: str  # the blob's URL, without any SAS
    size: int
    md5: str  # hex
    blocks: int
    reused_blocks: int  # staged by an earlier, interrupted run
    skipped: bool  # the same content was already committed


def blob_name(app: str, version: str, distro: str, file_name: str) -> str:
    return f"{app}/{version}/{distro}/{file_name}"


def block_id(identity: str, block_size: int, index: int) -> str:
    """Deterministic, equal-length ids: a rerun recognises the blocks an interrupted run staged."""
    return f"{identity[:24]}-{block_size:010d}-{index:06d}"  # the SDK base64-encodes it (at most 64 bytes)


def upload_file(
    blob: BlobClient,
    path: Path,
    sha256: str,
    *,
    block_size: int = BLOCK_SIZE,
    concurrency: int = CONCURRENCY,
    content_type: str = "application/octet-stream",
    progress: Callable[[int], object] | None = None,
) -> UploadResult:
    """Upload `path` as a block blob whose content must hash to `sha256`; verify size and MD5 after."""
    size = path.stat().st_size
    existing = _properties(blob)
    if existing is not None and existing.size == size and (existing.metadata or {}).get("sha256") == sha256:
        if progress:
            progress(size)
        known = bytes(existing.content_settings.content_md5 or b"").hex()
        return UploadResult(blob.url, size, known, 0, 0, True)
    staged = _staged_blocks(blob)
    ids: list[str] = []
    md5, digest = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    reused = 0
    slots = threading.BoundedSemaphore(concurrency + 1)  # blocks in memory: one read ahead, bounded
    pending: set[Future[None]] = set()

    def stage(block: str, data: bytes) -> None:
        try:
            blob.stage_block(block, data, length=len(data), validate_content=True)
        finally:
            slots.release()
        if progress:
            progress(len(data))

    failures: list[BaseException] = []
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="vmapp-upload") as pool:
        try:
            with open(path, "rb") as f:
                index = 0
                while not failures and (data := f.read(block_size)):
                    md5.update(data)
                    digest.update(data)
                    block = block_id(sha256, block_size, index)
                    ids.append(block)
                    index += 1
                    if staged.get(block) == len(data):
                        reused += 1
                        if progress:
                            progress(len(data))
                        continue
                    slots.acquire()
                    pending.add(pool.submit(stage, block, data))
                    finished = {p for p in pending if p.done()}
                    failures += [e for p in finished if (e := p.exception()) is not None]
                    pending -= finished
            done, _ = wait(pending, return_when=FIRST_EXCEPTION)
            failures += [e for p in done if (e := p.exception()) is not None]
            for p in pending:
                p.cancel()  # after a failure: stage nothing more
        except BaseException:
            for p in pending:
                p.cancel()
            raise
    if failures:
        raise PublishError(
            f"{blob.url}: staging a block failed: {failures[0]}",
            hint="nothing was committed; run publish again: the blocks already staged are reused",
        ) from failures[0]
    if digest.hexdigest() != sha256:
        raise PublishError(
            f"{path}: its SHA-256 is {digest.hexdigest()}, the manifest says {sha256}; nothing was committed",
            hint="the file changed after the build: rebuild it",
        )
    blob.commit_block_list(
        ids,  # type: ignore[arg-type]  # the SDK takes block ids as strings too
        content_settings=ContentSettings(content_type=content_type, content_md5=bytearray(md5.digest())),
        metadata={"sha256": sha256},
    )
    _verify(blob, size, md5.digest(), ids)
    return UploadResult(blob.url, size, md5.hexdigest(), len(ids), reused, False)


def _properties(blob: BlobClient) -> Any:
    try:
        return blob.get_blob_properties()
    except ResourceNotFoundError:
        return None


def _staged_blocks(blob: BlobClient) -> dict[str, int]:
    try:
        _, uncommitted = blob.get_block_list("uncommitted")
    except ResourceNotFoundError:
        return {}
    return {b.id: b.size for b in uncommitted}


def _verify(blob: BlobClient, size: int, md5: bytes, ids: list[str]) -> None:
    props = blob.get_blob_properties()
    committed, _ = blob.get_block_list("committed")
    problems = []
    if props.size != size:
        problems.append(f"size {props.size}, expected {size}")
    if bytes(props.content_settings.content_md5 or b"") != md5:
        problems.append("Content-MD5 differs")
    if [b.id for b in committed] != ids:
        problems.append("the committed block list differs from the one sent")
    if problems:
        raise PublishError(f"{blob.url}: the uploaded blob does not match the file: {'; '.join(problems)}")


# --- SAS ---------------------------------------------------------------------------------------------


def read_sas_url(
    blob: BlobClient,
    hours: int,
    *,
    account_key: str | None = None,
    service: BlobServiceClient | None = None,
    now: dt.datetime | None = None,
) -> str:
    """A read-only SAS URL that expires: signed with the account key, or a user delegation key."""
    start = (now or dt.datetime.now(dt.UTC)) - SAS_CLOCK_SKEW
    expiry = start + SAS_CLOCK_SKEW + dt.timedelta(hours=hours)
    signing: dict[str, Any]
    if account_key:
        signing = {"account_key": account_key}
    elif service is not None:
        signing = {"user_delegation_key": service.get_user_delegation_key(start, expiry)}
    else:
        raise InputError("no way to sign a SAS", hint="give an account key or sign in (az login) for delegation")
    token = generate_blob_sas(
        blob.account_name or "",
        blob.container_name,
        blob.blob_name,
        permission=BlobSasPermissions(read=True),
        start=start,
        expiry=expiry,
        protocol="https" if blob.url.startswith("https://") else None,
        **signing,
    )
    return f"{blob.url}?{token}"


def public_uri(url: str) -> str:
    """The URL without its query: messages and logs never carry the signature."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def check_source_uri(url: str) -> int:
    """What Azure checks of a mediaLink or defaultConfigurationLink, with Azure's messages; returns the size."""
    uri = public_uri(url)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c in url for c in "\"' \n\t<>"):
        raise InputError(f"{uri}: the source uri must be an absolute uri, without quotes or spaces")
    try:
        props = BlobClient.from_blob_url(url, retry_total=2).get_blob_properties()
    except ResourceNotFoundError as exc:
        raise PublishError(f"The blob referenced by source uri {uri} doesn't exist.") from exc
    except (ClientAuthenticationError, HttpResponseError) as exc:
        if getattr(exc, "status_code", None) in (401, 403):
            raise PublishError(
                f"The SAS isn't valid for source uri {uri}.",
                hint="the link needs read permission (sp=r), a future expiry and the right signature",
            ) from exc
        raise PublishError(
            f"The gallery application version url {uri} can't be accessed due to the following error: "
            f"{getattr(exc, 'reason', None) or exc}. Ensure that the blob exists and that it's either publicly "
            "accessible or is a SAS url with read privileges."
        ) from exc
    if props.blob_type not in ("BlockBlob", "PageBlob"):
        raise PublishError(
            f"{props.blob_type} blob type isn't supported for {uri}. Only page blobs and block blobs are supported."
        )
    if props.size == 0:
        raise PublishError(f"The blob referenced by source uri {uri} is empty.")
    return int(props.size)
