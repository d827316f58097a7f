"""Refreshed build containers shared by one rebuild run: recipes for the same image and repositories ask
the solver in one container, refreshed once, instead of one refresh each (the refresh is most of a
check's cost: apt-get update parses every Packages index)."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from types import TracebackType
from typing import Any

import docker

from builder.backends.base import Backend, Resolved
from builder.closure import bootstrap_hint
from builder.container import Container
from builder.engine import ensure_image
from builder.plan import BuildPlan
from builder.proxy import naming_proxy, proxy_environment


class Refreshed:
    """One container per (image, repositories), started, prepared and refreshed on first use; all are
    removed when the run ends. A refresh that fails is not kept: the next entry tries again."""

    def __init__(self) -> None:
        self._containers: dict[Any, tuple[Container, threading.Lock]] = {}
        self._starting: dict[Any, threading.Lock] = {}
        self._lock = threading.Lock()
        self._stack = ExitStack()

    def __enter__(self) -> Refreshed:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stack.close()

    def resolve(self, client: docker.DockerClient, plan: BuildPlan, installer: Backend) -> frozenset[Resolved]:
        """The solver's answer for `plan` in the shared container of its image and repositories."""
        container, lock = self._container(client, plan, installer)
        with lock:  # one exec at a time in a container
            return installer.resolve(container)

    def _container(
        self, client: docker.DockerClient, plan: BuildPlan, installer: Backend
    ) -> tuple[Container, threading.Lock]:
        # A relative key file is read next to its recipe: two recipe directories are two repositories.
        key = (plan.image, plan.repositories, plan.recipe_path.parent if plan.repositories else None, plan.proxy)
        with self._lock:
            starting = self._starting.setdefault(key, threading.Lock())
        with starting:  # other images and repositories start in parallel; this one once
            if key not in self._containers:
                image_id = ensure_image(client, plan.image, bootstrap_hint(plan), plan.distro.arch)
                with ExitStack() as attempt:
                    environment = proxy_environment(plan.proxy)
                    container = attempt.enter_context(Container(client, image_id, "check", environment=environment))
                    with naming_proxy(plan.proxy):
                        installer.prepare(container)
                        installer.refresh(container)
                    kept = attempt.pop_all()  # until the run ends
                with self._lock:
                    self._stack.push(kept)
                    self._containers[key] = (container, threading.Lock())
            return self._containers[key]
