"""The lists layers (builder.lists) on an engine, and their removal: `vmapp-build cache info|prune` shows
and removes them, and each new layer removes those past a bound (ListsLayers.keep).

An image is a lists layer when it carries the key label and every tag it has is in the layers'
repository; an untagged one (an older copy a refresh replaced while a build used it) when its repository
label names that repository. Nothing else is touched: an image tagged into the repository without the
label, or a layer someone also tagged elsewhere, stays. Removal is never forced, so docker keeps a layer
a container uses; it is reported as kept. The repository is `vmapp-build-lists`, or
$VMAPP_BUILD_LISTS_REPOSITORY: builders that share an engine but not their layers (a test session) each
name their own, and prune only theirs.
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass, field

import docker
from docker.errors import DockerException, NotFound
from docker.models.images import Image

from builder.errors import InputError

REPOSITORY = "vmapp-build-lists"
REPOSITORY_ENV = "VMAPP_BUILD_LISTS_REPOSITORY"
LABEL_KEY = "vmapp-build.lists.key"
LABEL_AT = "vmapp-build.lists.refreshed"  # seconds since the epoch
LABEL_REPOSITORY = "vmapp-build.lists.repository"  # a replaced copy has no tag left to say it
# Docker's grammar for a repository's path (no registry host): components joined by `/`.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")


def repository() -> str:
    """The image repository of the lists layers: $VMAPP_BUILD_LISTS_REPOSITORY, else vmapp-build-lists."""
    name = os.environ.get(REPOSITORY_ENV) or REPOSITORY
    if len(name) > 200 or not _NAME.fullmatch(name):
        raise InputError(
            f"{REPOSITORY_ENV}: {name!r} is not an image repository",
            hint="lowercase letters and digits, joined by . _ - or /; e.g. vmapp-build-lists-ci",
        )
    return name


@dataclass(frozen=True)
class Layer:
    """A lists layer, or a replaced copy of one (no tag)."""

    id: str
    tag: str | None
    refreshed: float  # 0 when its label is unreadable: no build takes it
    image: Image = field(repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.tag or f"{self.id.removeprefix('sha256:')[:12]} (a replaced copy)"


@dataclass
class Pruned:
    removed: list[Layer] = field(default_factory=list)
    freed: int = 0  # the removed layers' own bytes
    kept: list[tuple[Layer, str]] = field(default_factory=list)  # with docker's reason (in use)


def layers(client: docker.DockerClient, repo: str) -> list[Layer]:
    """The lists layers of `repo` on the engine, and their replaced copies."""
    tagged = client.images.list(name=repo)
    replaced = client.images.list(filters={"dangling": True, "label": LABEL_KEY})
    found: dict[str, Layer] = {}
    for image in [*tagged, *replaced]:
        labels = image.labels or {}
        tags = image.tags
        if LABEL_KEY not in labels:
            continue
        if tags and any(tag.rpartition(":")[0] != repo for tag in tags):
            continue
        if not tags and labels.get(LABEL_REPOSITORY, REPOSITORY) != repo:
            continue  # a copy made before the label was written belongs to the default repository
        found[str(image.id)] = Layer(str(image.id), tags[0] if tags else None, _refreshed(labels), image)
    return list(found.values())


def own_size(layer: Layer) -> int:
    """The bytes the layer adds to its base image: its top layer's, in `docker image history`."""
    try:
        history = layer.image.history()
    except DockerException:
        return 0
    return int(history[0].get("Size") or 0) if history else 0


def prune(client: docker.DockerClient, older_than: float, repo: str, now: float | None = None) -> Pruned:
    """Remove the layers of `repo` refreshed at least `older_than` seconds ago (0: every one), and every
    replaced copy. A layer docker refuses to remove (a container uses it) is kept."""
    now = time.time() if now is None else now
    pruned = Pruned()
    for layer in layers(client, repo):
        if layer.tag is not None and older_than > 0 and now - layer.refreshed < older_than:
            continue
        size = own_size(layer)
        try:
            # By id, never forced: a tag a refresh moved meanwhile stays on its new layer, a used one stays.
            client.images.remove(layer.id)
        except NotFound:
            continue  # removed meanwhile, by another prune or a refresh of its key
        except DockerException as exc:
            pruned.kept.append((layer, _reason(exc)))
            continue
        pruned.removed.append(layer)
        pruned.freed += size
    return pruned


def _refreshed(labels: dict[str, str]) -> float:
    try:
        at = float(labels.get(LABEL_AT, "0"))
    except ValueError:
        return 0.0
    return at if math.isfinite(at) else 0.0


def _reason(exc: DockerException) -> str:
    explanation = getattr(exc, "explanation", None) or str(exc)
    return str(explanation).strip().splitlines()[0] if str(explanation).strip() else type(exc).__name__
