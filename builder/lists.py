"""Refreshed package lists kept as an image layer, so builds for one image refresh once.

A build container that refreshed its lists is committed as `vmapp-build-lists:<key>`; the next build
with the same key starts from that layer and skips the refresh. The key is what decides the lists: the
base image's id and the repositories the build adds (their URLs, suites and key bytes), computed by the
caller. The layer's label records every repository's InRelease/Release sha256 at its refresh. A layer is
taken when this run made it (a run never mixes two refreshes of one source), or else when it is younger
than the TTL and every repository still serves that metadata file, fetched again from the host
(builder.repo_metadata): a repository that moved, or cannot be asked, means a refresh. The manifest still
records the base image: the layer only saves the download and parsing of indexes apt would fetch anew.

Layers are kept only for sources fetched over http(s) (the backend says so after its refresh): a local
`file:` repository can change under the same URL, and refreshing it is cheap anyway. Each new layer
removes those past a week (KEEP_AGE); `vmapp-build cache prune` removes the rest (builder.lists_prune).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import docker
from docker.errors import DockerException, ImageNotFound

from builder.container import Container
from builder.errors import InputError
from builder.lists_prune import LABEL_AT, LABEL_KEY, LABEL_REPOSITORY, prune, repository
from builder.repo_metadata import metadata_unchanged

LABEL_BASE = "vmapp-build.lists.base"
LABEL_METADATA = "vmapp-build.lists.metadata"  # JSON: each repository's metadata file and sha256
TTL_ENV = "VMAPP_BUILD_LISTS_TTL"
DEFAULT_TTL = 3600.0  # an hour: apt users build from day-old lists; a nightly run asks for 0 (its own)
# Each new layer removes the layers refreshed longer ago than this (or the TTL, if longer), so a builder
# that never runs `cache prune` stays bounded: a new base image or repository set leaves its old keys
# behind for good. No build takes a layer past its TTL, so the week only spares layers for a builder with
# a long TTL. An age, not a count: a count could take a layer this run made and still uses.
KEEP_AGE = 7 * 86400.0


def parse_ttl(value: str, where: str) -> float:
    """Seconds, with an optional s/m/h/d suffix: `0` never reuses a layer from an earlier run."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = value.strip().lower()
    scale = units.get(text[-1:], 1) if text else 1
    number = text[:-1] if text[-1:] in units else text
    try:
        seconds = float(number) * scale
    except ValueError:
        seconds = -1.0
    if not number or not seconds >= 0 or seconds == float("inf"):
        raise InputError(
            f"{where}: {value!r} is not a time to live",
            hint="seconds, or a number with s, m, h or d (e.g. 30m); 0 refreshes the lists in every run",
        )
    return seconds


def default_ttl() -> float:
    value = os.environ.get(TTL_ENV)
    return DEFAULT_TTL if value is None else parse_ttl(value, TTL_ENV)


class ListsLayers:
    """The layers of one run: which it made (always fresh for it) and the TTL for those of earlier runs.
    Builds of one key wait for each other, so parallel jobs refresh it once."""

    def __init__(self, ttl: float | None = None) -> None:
        self.ttl = default_ttl() if ttl is None else ttl
        self.repository = repository()
        self._made: set[str] = set()
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    @contextmanager
    def holding(self, key: str) -> Iterator[None]:
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            yield

    def usable(self, client: docker.DockerClient, key: str) -> str | None:
        """The id of the layer for `key` when this run may start from it, else None."""
        try:
            image = client.images.get(self._tag(key))
        except (ImageNotFound, DockerException):
            return None
        labels = image.labels or {}
        if labels.get(LABEL_KEY) != key:
            return None
        if key in self._made:
            return str(image.id)
        try:
            age = time.time() - float(labels.get(LABEL_AT, "0"))
            repositories = json.loads(labels.get(LABEL_METADATA, "[]"))
        except ValueError:
            return None
        if not 0 <= age <= self.ttl or not isinstance(repositories, list):
            return None
        return str(image.id) if metadata_unchanged(repositories) else None

    def keep(
        self, client: docker.DockerClient, container: Container, key: str, base_id: str, metadata: list[dict[str, Any]]
    ) -> str | None:
        """Commit the refreshed container as the layer for `key` (its repositories' `metadata` in a label),
        replacing an older one: its id; then removes the layers past KEEP_AGE and the replaced copies no
        build uses. A layer that cannot be written is no failure (None): the next build refreshes again."""
        tag = self._tag(key)
        old: str | None = None
        with suppress(ImageNotFound, DockerException):
            old = str(client.images.get(tag).id)
        # The build's own labels (owner, session, keep) would pass to every container of the layer: blanked.
        labels = dict.fromkeys(container.labels(), "") | {
            LABEL_KEY: key,
            LABEL_AT: f"{time.time():.0f}",
            LABEL_BASE: base_id,
            LABEL_METADATA: json.dumps(metadata, sort_keys=True),
            LABEL_REPOSITORY: self.repository,
        }
        try:
            image = container.handle.commit(repository=self.repository, tag=key[:32], conf={"Labels": labels})
        except DockerException:
            return None
        self._made.add(key)
        if old is not None and old != image.id:
            with suppress(DockerException):  # in use by a running build: it stays until unused
                client.images.remove(old, noprune=False)
        with suppress(DockerException):  # housekeeping: a layer in use stays, and the build goes on
            prune(client, max(KEEP_AGE, self.ttl), self.repository)
        return str(image.id)

    def _tag(self, key: str) -> str:
        return f"{self.repository}:{key[:32]}"


def layer_key(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()
