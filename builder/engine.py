"""The Docker engines and their images: the client every container runs on, and the image it starts from.

One engine by default (DOCKER_HOST, else the local socket); with --engine, a pool that builds are
spread over in turn, each given the default engine's local-only images it lacks (provide_image)."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import docker
from docker.context import ContextAPI
from docker.errors import DockerException, ImageNotFound
from docker.models.images import Image
from docker.tls import TLSConfig

from builder.emulation import require_emulation
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


def ensure_image(client: docker.DockerClient, image: str, bootstrap_hint: str = "", arch: str | None = None) -> str:
    """The id of `image`; an image present locally is used as is, otherwise it is pulled once (for
    `arch`'s platform). With `arch`, an image of another architecture is refused; an image the engine
    cannot run natively needs qemu's handler (builder.emulation)."""
    try:
        found = client.images.get(image)
    except ImageNotFound:
        found = _pull(client, image, bootstrap_hint, arch)
    image_arch = str(found.attrs.get("Architecture") or arch or "")
    if arch is not None and image_arch != arch:
        raise EnvironmentProblem(
            f"image {image!r} is for {image_arch}, and this target is {arch}: its packages would be {image_arch}'s",
            hint=bootstrap_hint or f"pass --image with an {arch} image",
        )
    if image_arch:
        require_emulation(client, image_arch)
    return str(found.id)


def _pull(client: docker.DockerClient, image: str, bootstrap_hint: str, arch: str | None) -> Image:
    try:
        return client.images.pull(image, platform=f"linux/{arch}" if arch else None)
    except (DockerException, OSError) as exc:
        hint = bootstrap_hint or "pull or build it, or pass --image"
        raise EnvironmentProblem(f"image {image!r} is not present locally and cannot be pulled: {exc}", hint) from exc


# Connecting and pinging must fail fast on a dead address; builds then get the usual long timeout.
PING_TIMEOUT = 15
BUILD_TIMEOUT = 600


@dataclass(eq=False)
class Engine:
    """One Docker engine builds run on: the name it was given (a URL or a docker context) and its client."""

    name: str
    client: docker.DockerClient
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # one image copy at a time


class Pool:
    """The engines builds are spread over (--engine), in turn. Empty: each stage connects to the default
    engine itself (connect()), as without --engine."""

    def __init__(self, members: Sequence[Engine]) -> None:
        self.members = tuple(members)
        self._lock = threading.Lock()
        self._source: Engine | None = None
        self._looked = False

    def engine(self, index: int) -> Engine | None:
        """The index-th build's engine: round robin over the members."""
        return self.members[index % len(self.members)] if self.members else None

    def source(self) -> Engine | None:
        """The default engine (DOCKER_HOST, else the local socket), where images are bootstrapped and
        built; None when it does not answer (a builder with remote engines only)."""
        with self._lock:
            if not self._looked:
                self._looked = True
                try:
                    self._source = _open("default")
                except EnvironmentProblem:
                    self._source = None
            return self._source


def engines(names: Sequence[str]) -> Pool:
    """One engine per name (`--engine`), each answering a ping before any build starts, in the order given.

    A name is a URL (tcp://HOST:2375, ssh://USER@HOST, unix:///PATH) or a docker context's name.
    """
    return Pool([_open(name) for name in names])


def engine_for(pool: Pool | None, index: int, image: str | None) -> docker.DockerClient | None:
    """The client of the index-th build's engine, with `image` copied there from the default engine when
    it lacks it (provide_image); None without --engine: the stages connect() themselves."""
    if pool is None or (engine := pool.engine(index)) is None:
        return None
    if image is not None and not _has_image(engine.client, image) and (source := pool.source()) is not None:
        provide_image(engine, image, source)
    return engine.client


def provide_image(engine: Engine, image: str, source: Engine) -> None:
    """Give `engine` the source engine's copy of `image` when it has none: `docker save` streamed into
    `docker load`, so the image keeps its id (manifests and rebuild checks compare it).

    Base images are debootstrapped locally and test images built locally: no registry holds them, so
    the usual pull cannot reach another engine. An image on neither engine is left to ensure_image,
    which pulls it; an engine that has the tag already keeps its own image.
    """
    with engine.lock:  # two builds for one engine must not load the same image twice
        if _has_image(engine.client, image) or not _has_image(source.client, image):
            return
        try:
            engine.client.images.load(source.client.api.get_image(image))
        except (DockerException, OSError) as exc:
            raise EnvironmentProblem(
                f"cannot copy image {image!r} from the engine {source.name} to {engine.name}: {exc}",
                hint=f"load it there yourself (docker save {image} | docker -H ENGINE load), or pass --image",
            ) from exc


def _has_image(client: docker.DockerClient, image: str) -> bool:
    try:
        client.images.get(image)
    except ImageNotFound:
        return False
    return True


def _open(name: str) -> Engine:
    """A client for one --engine, pinged; a failure names the engine (exit 5) before anything is built."""
    hint = (
        "give a running engine's URL (tcp://HOST:2375, ssh://USER@HOST, unix:///PATH) or a name from "
        "`docker context ls`; ssh:// needs the ssh command and key access to the host"
    )
    try:
        client = _client(name)
        client.ping()
    except (DockerException, OSError) as exc:
        raise EnvironmentProblem(f"the Docker engine {name} does not answer: {exc}", hint) from exc
    client.api.timeout = BUILD_TIMEOUT
    return Engine(name, client)


def _client(name: str) -> docker.DockerClient:
    """A URL as is; a context by its endpoint and TLS material ("default": DOCKER_HOST or the socket)."""
    if "://" in name:
        return _url_client(name, None)
    if name == "default":
        return docker.from_env(timeout=PING_TIMEOUT)
    context = ContextAPI.get_context(name)
    if context is None or not context.Host:
        raise EnvironmentProblem(
            f"--engine {name!r} is neither a URL (it has no scheme://) nor a docker context",
            hint="give tcp://HOST:2375, ssh://USER@HOST, unix:///PATH, or a name from `docker context ls`",
        )
    return _url_client(str(context.Host), context.TLSConfig or None)


def _url_client(url: str, tls: TLSConfig | None) -> docker.DockerClient:
    """ssh:// goes through the ssh command (use_ssh_client), which reads ~/.ssh/config and the agent;
    docker-py's own paramiko transport is not installed."""
    ssh = url.startswith("ssh://")
    if ssh and shutil.which("ssh") is None:
        raise EnvironmentProblem(
            f"the Docker engine {url} needs the ssh command, which is not on PATH",
            hint="install openssh-client, or reach the engine over tcp:// or a docker context",
        )
    return docker.DockerClient(base_url=url, tls=tls or False, timeout=PING_TIMEOUT, use_ssh_client=ssh)
