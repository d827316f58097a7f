"""Disposable containers through docker-py: one wrapper every stage uses.

Each container is labelled, named uniquely, and removed on success, failure and Ctrl-C.
"""

from __future__ import annotations

import io
import os
import shlex
import sys
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound
from docker.models.containers import Container as DockerContainer

from builder.errors import BuildError, CommandFailed, EnvironmentProblem

LABEL = "io.vmapp-build"
CHUNK = 1024 * 1024
KEEP_ENV = "VMAPP_BUILD_KEEP_CONTAINERS"  # debugging: leave containers behind for inspection
VERBOSE_ENV = "VMAPP_BUILD_VERBOSE"
SESSION_ENV = "VMAPP_BUILD_SESSION"  # labels containers, so one CI job can find (and clean) its own


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


@dataclass(frozen=True)
class Result:
    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Container:
    """A running disposable container; use as a context manager."""

    def __init__(self, client: docker.DockerClient, image: str, purpose: str, network: bool = True) -> None:
        self.client = client
        self.image = image
        self.name = f"vmapp-build-{purpose}-{uuid.uuid4().hex[:10]}"
        self.network = network
        self.verbose = bool(os.environ.get(VERBOSE_ENV))
        self._container: DockerContainer | None = None

    def __enter__(self) -> Container:
        try:
            self._container = self.client.containers.run(
                self.image,
                ["sleep", "infinity"],
                name=self.name,
                labels={
                    LABEL: "1",
                    f"{LABEL}.purpose": self.name.split("-")[2],
                    f"{LABEL}.session": os.environ.get(SESSION_ENV, ""),
                },
                detach=True,
                init=True,  # sleep as PID 1 ignores SIGTERM and makes every removal slow
                network_mode=None if self.network else "none",
                environment={"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"},
            )
        except (DockerException, OSError) as exc:
            raise BuildError(f"cannot start a container from {self.image}: {exc}") from exc
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()

    def remove(self) -> None:
        if self._container is None or os.environ.get(KEEP_ENV):
            return
        try:
            self._container.remove(force=True, v=True)
        except ImageNotFound:
            pass
        except APIError as exc:
            if exc.status_code != 404:
                print(f"warning: could not remove container {self.name}: {exc}", file=sys.stderr)
        self._container = None

    @property
    def handle(self) -> DockerContainer:
        if self._container is None:
            raise BuildError(f"container {self.name} is not running")
        return self._container

    def run(
        self,
        argv: list[str],
        context: str,
        check: bool = True,
        workdir: str | None = None,
        hint: str | None = None,
    ) -> Result:
        """Run argv in the container; on failure (with check) raise CommandFailed with its output."""
        if self.verbose:
            print(f"+ {shlex.join(argv)}", file=sys.stderr)
        try:
            exit_code, output = self.handle.exec_run(argv, demux=True, workdir=workdir)
        except (DockerException, OSError) as exc:
            raise BuildError(f"{context}: cannot run {shlex.join(argv)} in {self.name}: {exc}") from exc
        out, err = output if isinstance(output, tuple) else (None, None)
        result = Result(argv, int(exit_code or 0), _text(out), _text(err))
        if check and result.exit_code != 0:
            raise CommandFailed(argv, result.exit_code, result.output, context, hint)
        return result

    def put_file(self, source: Path, directory: str, name: str) -> None:
        """Stream a host file into `directory/name` (created), without reading it into memory."""
        self.run(["mkdir", "-p", directory], "create directory")
        self.handle.put_archive(directory, _tar_one_file(source, name))

    def put_bytes(self, content: bytes, directory: str, name: str, mode: int = 0o644) -> None:
        self.run(["mkdir", "-p", directory], "create directory")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), mode
            tar.addfile(info, io.BytesIO(content))
        self.handle.put_archive(directory, buf.getvalue())

    def copy_files_out(self, directory: str, dest: Path, suffix: str) -> list[Path]:
        """Stream the regular files named *suffix in `directory` to `dest`; return their paths, sorted."""
        stream, _ = self.handle.get_archive(directory.rstrip("/") + "/.")
        copied = []
        with tarfile.open(fileobj=_IterReader(stream), mode="r|") as tar:
            for member in tar:
                base = os.path.basename(member.name)
                if not member.isfile() or not base.endswith(suffix) or "/" in member.name.strip("./"):
                    continue
                src = tar.extractfile(member)
                assert src is not None
                target = dest / base
                with open(target, "wb") as out:
                    while chunk := src.read(CHUNK):
                        out.write(chunk)
                copied.append(target)
        return sorted(copied)


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")


def _tar_one_file(source: Path, name: str) -> Iterator[bytes]:
    """A tar stream of one file, generated chunk by chunk (docker-py streams generators)."""
    size = source.stat().st_size
    info = tarfile.TarInfo(name)
    info.size, info.mode = size, 0o644
    yield info.tobuf(format=tarfile.PAX_FORMAT)
    with open(source, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk
    yield b"\0" * ((512 - size % 512) % 512) + b"\0" * 1024


class _IterReader(io.RawIOBase):
    """A read-only file object over an iterator of byte chunks (docker-py's archive stream)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._view = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._view:
            try:
                self._view = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        n = min(len(b), len(self._view))
        b[:n] = self._view[:n]
        self._view = self._view[n:]  # a view: no copy of the rest of the chunk
        return n


def leftover_containers(client: docker.DockerClient, session: str | None = None) -> list[str]:
    """Names of containers this tool created that still exist, optionally of one session only."""
    label = LABEL if session is None else f"{LABEL}.session={session}"
    return [str(c.name) for c in client.containers.list(all=True, filters={"label": label})]
