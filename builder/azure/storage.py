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
from azure.storage.blob import (
    BlobBlock,
    BlobClient,
    BlobSasPermissions,
    BlobServiceClient,
    ContentSettings,
    generate_blob_sas,
)

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
    tick = progress or _no_progress
    size = path.stat().st_size
    existing = _properties(blob)
    if existing is not None and existing.size == size and (existing.metadata or {}).get("sha256") == sha256:
        tick(size)
        known = bytes(existing.content_settings.content_md5 or b"").hex()
        return UploadResult(blob.url, size, known, 0, 0, True)
    read = _stage_file(blob, path, sha256, block_size, _Stager(blob, concurrency, tick))
    if read.sha256 != sha256:
        raise PublishError(
            f"{path}: its SHA-256 is {read.sha256}, the manifest says {sha256}; nothing was committed",
            hint="the file changed after the build: rebuild it",
        )
    blob.commit_block_list(
        [BlobBlock(block_id) for block_id in read.ids],
        content_settings=ContentSettings(content_type=content_type, content_md5=bytearray(read.md5)),
        metadata={"sha256": sha256},
    )
    _verify(blob, size, read.md5, read.ids)
    return UploadResult(blob.url, size, read.md5.hex(), len(read.ids), read.reused, False)


def _no_progress(_: int) -> None:
    pass


@dataclass(frozen=True)
class _FileRead:
    ids: list[str]  # every block of the file, in order
    md5: bytes
    sha256: str  # hex
    reused: int  # blocks an earlier run had staged already


def _stage_file(blob: BlobClient, path: Path, sha256: str, block_size: int, stager: _Stager) -> _FileRead:
    """Read the file once, in order: hash it and stage each block an earlier run has not staged."""
    staged = _staged_blocks(blob)
    ids: list[str] = []
    md5, digest = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    reused = 0
    with stager, open(path, "rb") as f:
        while not stager.failures and (data := f.read(block_size)):
            md5.update(data)
            digest.update(data)
            block = block_id(sha256, block_size, len(ids))
            ids.append(block)
            if staged.get(block) == len(data):
                reused += 1
                stager.progress(len(data))
            else:
                stager.submit(block, data)
    if stager.failures:
        raise PublishError(
            f"{blob.url}: staging a block failed: {stager.failures[0]}",
            hint="nothing was committed; run publish again: the blocks already staged are reused",
        ) from stager.failures[0]
    return _FileRead(ids, md5.digest(), digest.hexdigest(), reused)


class _Stager:
    """Stages blocks on `concurrency` threads, at most `concurrency + 1` blocks in memory (one read ahead).

    After the first failure it stages nothing more; on leaving, it waits for what is in flight.
    """

    def __init__(self, blob: BlobClient, concurrency: int, progress: Callable[[int], object]) -> None:
        self.blob = blob
        self.progress = progress
        self.failures: list[BaseException] = []
        self._slots = threading.BoundedSemaphore(concurrency + 1)
        # Threads start at the first submit: a stager never entered holds none.
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="vmapp-upload")
        self._pending: set[Future[None]] = set()

    def __enter__(self) -> _Stager:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            if kind is None:
                self._collect(wait(self._pending, return_when=FIRST_EXCEPTION).done)
            for p in self._pending:
                p.cancel()  # after a failure or an interrupt: stage nothing more
        finally:
            self._pool.shutdown(wait=True)

    def submit(self, block: str, data: bytes) -> None:
        self._slots.acquire()
        self._pending.add(self._pool.submit(self._stage, block, data))
        finished = {p for p in self._pending if p.done()}
        self._collect(finished)
        self._pending -= finished

    def _collect(self, finished: set[Future[None]]) -> None:
        self.failures += [e for p in finished if (e := p.exception()) is not None]

    def _stage(self, block: str, data: bytes) -> None:
        try:
            self.blob.stage_block(block, data, length=len(data), validate_content=True)
        finally:
            self._slots.release()
        self.progress(len(data))


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
