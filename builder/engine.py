"""The Docker engine and its images: the client every container runs on, and the image it starts from."""

from __future__ import annotations

import os

import docker
from docker.errors import DockerException, ImageNotFound

from builder.errors import EnvironmentProblem


def connect() -> docker.DockerClient:
    """A client for the engine named by DOCKER_HOST (or the default socket), checked with a ping."""
    where = os.environ.get("DOCKER_HOST") or "the default socket (unix:///var/run/docker.sock)"
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except (DockerException, OSError) as exc:
        raise EnvironmentProblem(
            f"no Docker engine is reachable at {where}: {exc}",
            hint="start one with `make engine` (installs docker.io and starts dockerd), "
            "or set DOCKER_HOST to a running engine",
        ) from exc
    return client


def ensure_image(client: docker.DockerClient, image: str, bootstrap_hint: str = "") -> str:
    """The id of `image`; an image present locally is used as is, otherwise it is pulled once."""
    try:
        return str(client.images.get(image).id)
    except ImageNotFound:
        pass
    try:
        return str(client.images.pull(image).id)
    except (DockerException, OSError) as exc:
        hint = bootstrap_hint or "pull or build it, or pass --image"
        raise EnvironmentProblem(f"image {image!r} is not present locally and cannot be pulled: {exc}", hint) from exc
