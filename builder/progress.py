"""Progress on a terminal (tqdm), silence when stderr is not one (CI logs, Makefiles)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm


def interactive() -> bool:
    return sys.stderr.isatty()


class Stages:
    """A bar over the pipeline's stages, labelled with the one running."""

    def __init__(self, names: list[str], title: str) -> None:
        self._bar = tqdm(total=len(names), desc=title, unit="step", disable=not interactive(), leave=False)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._bar.set_postfix_str(name)
        yield
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()


@contextmanager
def byte_bar(total: int, desc: str) -> Iterator[tqdm[Any]]:
    with tqdm(
        total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, disable=not interactive(), leave=False
    ) as bar:
        yield bar
