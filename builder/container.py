"""Disposable containers through docker-py: one wrapper every stage uses.

Each container is labelled (with its owner, for `vmapp-build gc`), named uniquely, and removed on
success, failure and every handled signal. None outlives the process that started it, even one
killed with SIGKILL: the container's only process is `cat`, reading the stdin this process holds
attached (the engine's StdinOnce closes it when that attach connection closes, however the process
ended), so it exits, and the engine removes the container (auto_remove). The engine creates a container
before it can be attached to: a SIGKILL in those few milliseconds leaves a created container that never
ran, which `vmapp-build gc` removes.
"""

from __future__ import annotations

import io
import os
import shlex
import sys
import tarfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import docker
from docker.errors import APIError, DockerException, NotFound
from docker.models.containers import Container as DockerContainer

from builder import owner
from builder.errors import BuildError, CommandFailed
from builder.interrupts import cleanup_done, deferred, owe_cleanup, pause_for_tests
from builder.tarstream import CHUNK, IterReader, tar_one_file

LABEL = owner.LABEL
KEEP_ENV = "VMAPP_BUILD_KEEP_CONTAINERS"  # debugging: leave containers running for inspection
VERBOSE_ENV = "VMAPP_BUILD_VERBOSE"
SESSION_ENV = "VMAPP_BUILD_SESSION"  # labels containers, so one CI job can find (and clean) its own
TETHER = ["cat"]  # the main process: it ends when the attached stdin closes (cat is in every image)


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
    """A running disposable container; use as a context manager.

    `labelled=False` leaves out the labels, for containers committed into images (their labels would
    pass to every container of the image). `host` adds fields to the engine's HostConfig (capabilities
    and masked paths, for a test's nested engine). `environment` is added to every process's (a build's
    proxy).
    """

    def __init__(
        self,
        client: docker.DockerClient,
        image: str,
        purpose: str,
        network: bool = True,
        labelled: bool = True,
        host: dict[str, Any] | None = None,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.image = image
        self.purpose = purpose
        self.name = f"vmapp-build-{purpose}-{uuid.uuid4().hex[:10]}"
        self.network = network
        self.labelled = labelled
        self.host = host or {}
        self.environment = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C", **(environment or {})}
        self.verbose = bool(os.environ.get(VERBOSE_ENV))
        self.keep = bool(os.environ.get(KEEP_ENV))
        self._container: DockerContainer | None = None
        self._requested = False  # the engine may have created it: remove by name
        self._tether: Any = None  # the attach socket: while it is open, the container lives
        self._streams: list[Any] = []  # open archive responses: removal waits for them to close

    def __enter__(self) -> Container:
        try:
            self._start()
        except BaseException:
            self.remove()  # a signal may arrive after the engine created it, before we know its id
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.remove()

    def labels(self) -> dict[str, str]:
        if not self.labelled:
            return {}
        return {
            LABEL: "1",
            f"{LABEL}.purpose": self.purpose,
            f"{LABEL}.session": os.environ.get(SESSION_ENV, ""),
            owner.OWNER_LABEL: owner.current().to_json(),
        } | ({f"{LABEL}.keep": "1"} if self.keep else {})

    def _start(self) -> None:
        api = self.client.api
        host_config = api.create_host_config(
            init=True,  # tini as PID 1 forwards signals and reaps what exec leaves behind
            auto_remove=not self.keep,
            network_mode=None if self.network else "none",
        )
        host_config.update(self.host)
        self._requested = True
        owe_cleanup(self, self.remove)
        try:
            # detach=False with stdin_open sets StdinOnce: stdin closes when our attach connection does.
            # A signal waits for the answer: the engine finishes a request we abandon, so a removal
            # by name sent meanwhile would find nothing, and the container would be made after it.
            with deferred():
                created = api.create_container(
                    self.image,
                    TETHER,
                    name=self.name,
                    labels=self.labels(),
                    detach=False,
                    stdin_open=True,
                    environment=self.environment,
                    host_config=host_config,
                )
            pause_for_tests("container-created")
            if not self.keep:  # attached before it starts, so it never runs untethered
                self._tether = api.attach_socket(created["Id"], params={"stdin": 1, "stream": 1})
            api.start(created["Id"])
            self._container = self.client.containers.get(created["Id"])
        except (DockerException, OSError) as exc:
            raise BuildError(f"cannot start a container from {self.image}: {exc}") from exc

    def remove(self) -> None:
        """Remove the container (by name: it may exist before its id is known); a signal waits for it."""
        if not self._requested or self.keep:
            return
        with deferred():
            for response in self._streams:
                with suppress(Exception):  # nothing may stop the removal
                    response.close()  # the engine holds the container's lock until an archive stream ends
            self._streams.clear()
            try:
                self.client.api.remove_container(self.name, force=True, v=True)
            except NotFound:
                pass
            except APIError as exc:
                if exc.status_code != 409 or "in progress" not in str(exc):  # auto_remove got there first
                    _warn(f"warning: could not remove container {self.name}: {exc}")
            except (DockerException, OSError) as exc:
                _warn(f"warning: could not remove container {self.name}: {exc}")
            finally:
                self._close_tether()
                self._requested = False
                self._container = None
                cleanup_done(self)

    def _close_tether(self) -> None:
        if self._tether is not None:
            with suppress(OSError):
                getattr(self._tether, "_sock", self._tether).close()  # SocketIO.close leaves the socket open
                self._tether.close()
            self._tether = None

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
        echo: bool = True,
    ) -> Result:
        """Run argv in the container; on failure (with check) raise CommandFailed with its output.
        VMAPP_BUILD_VERBOSE echoes argv, unless the caller echoed it in its own words (`echo`)."""
        if self.verbose and echo:
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
        self.handle.put_archive(directory, tar_one_file(source, name))

    def put_bytes(self, content: bytes, directory: str, name: str, mode: int = 0o644) -> None:
        self.run(["mkdir", "-p", directory], "create directory")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), mode
            tar.addfile(info, io.BytesIO(content))
        self.handle.put_archive(directory, buf.getvalue())

    @contextmanager
    def archive(self, path: str) -> Iterator[tarfile.TarFile]:
        """The engine's tar stream of `path`, read as it arrives. Its HTTP response is closed on the way
        out, however that happens: the engine keeps the container locked (and its removal waiting)
        until the stream ends, and an interrupted reader would never end it."""
        # docker-py's get_archive keeps the response inside a generator, out of reach: its request, here
        api: Any = self.client.api
        url = api._url("/containers/{0}/archive", self.handle.id)
        response = api._get(url, params={"path": path}, stream=True, headers={"Accept-Encoding": "identity"})
        self._streams.append(response)
        try:
            api._raise_for_status(response)
            pause_for_tests("copy-out")
            with tarfile.open(fileobj=IterReader(response.raw.stream(CHUNK, decode_content=False)), mode="r|") as tar:
                yield tar
        finally:
            with deferred():
                response.close()
                if response in self._streams:
                    self._streams.remove(response)

    def read_file(self, path: str) -> bytes | None:
        """A (small) file's content, or None when it does not exist; read through `archive`, so an
        interrupted read never leaves the container's removal waiting on an open stream."""
        try:
            with self.archive(path) as tar:
                for member in tar:
                    f = tar.extractfile(member)
                    return f.read() if f else None
        except NotFound:
            return None
        return None

    def copy_files_out(
        self, directory: str, dest: Path, suffix: str, keep: str | None = None
    ) -> tuple[list[Path], dict[str, bytes]]:
        """Stream the regular files named *suffix in `directory` to `dest`; return their paths, sorted,
        and (in memory, by path relative to `directory`) the small files under its subdirectory `keep`:
        the same stream, where reading them apart would be a second one."""
        copied, kept = [], {}
        with self.archive(directory.rstrip("/") + "/.") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if not member.isfile():
                    continue
                src = tar.extractfile(member)
                assert src is not None
                if keep and name.startswith(keep.rstrip("/") + "/"):
                    kept[name] = src.read()
                    continue
                if "/" in name or not name.endswith(suffix):  # the directory's own packages only
                    continue
                target = dest / name
                with open(target, "wb") as out:
                    while chunk := src.read(CHUNK):
                        out.write(chunk)
                copied.append(target)
        return sorted(copied), kept


def _warn(message: str) -> None:
    """A warning on stderr, which may be a terminal that is gone (SIGHUP): never fail on it."""
    with suppress(OSError, ValueError):
        print(message, file=sys.stderr)


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")


def leftover_containers(client: docker.DockerClient, session: str | None = None) -> list[str]:
    """Names of containers this tool created that still exist, optionally of one session only."""
    label = LABEL if session is None else f"{LABEL}.session={session}"
    return [str(c.name) for c in client.containers.list(all=True, filters={"label": label}, ignore_removed=True)]
