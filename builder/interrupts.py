"""Signals become one exception that unwinds the stack, so every `finally` removes its container
and its temp dir; a second signal during that cleanup is noted, never allowed to cut it short.

SIGINT, SIGTERM, SIGHUP (terminal closed, ssh session dropped) and SIGQUIT exit with 128 + the
signal's number. SIGKILL cannot be handled: builder.container ties each container's life to the
process instead, and `vmapp-build gc` removes what is left of a run killed that way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
# Test-only: pause at a named point (and say so on stderr) so a test can signal the tool there.
TEST_PAUSE_ENV = "VMAPP_BUILD_TEST_PAUSE_AT"


class Interrupted(BaseException):
    """A handled signal; a BaseException so that no `except Exception` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@dataclass
class _State:
    received: int | None = None  # the first signal: it decides the exit code
    raised: bool = False  # Interrupted was raised once; later signals only wait for cleanup
    depth: int = 0  # inside deferred(): cleanup that must run to its end


_state = _State()
# Cleanups still owed (a container to remove, a temp dir to delete), by owner: main() runs whatever a
# signal left owed, which covers one that lands between a `finally:` and its deferred() block.
_owed: dict[int, Callable[[], None]] = {}


def received() -> int | None:
    """The first handled signal this process got, if any."""
    return _state.received


def _handler(signum: int, frame: FrameType | None) -> None:
    if _state.received is None:
        _state.received = signum
    if _state.raised or _state.depth:
        return  # cleanup is running: let it finish
    _state.raised = True
    raise Interrupted(signum)


def install_handlers() -> None:
    for signum in HANDLED:
        signal.signal(signum, _handler)


@contextmanager
def deferred() -> Iterator[None]:
    """Run the block to its end even when a signal arrives; raise Interrupted after it."""
    _state.depth += 1
    try:
        yield
    finally:
        _state.depth -= 1
        if not _state.depth and _state.received is not None and not _state.raised:
            _state.raised = True
            raise Interrupted(_state.received)


def owe_cleanup(key: object, cleanup: Callable[[], None]) -> None:
    _owed[id(key)] = cleanup


def cleanup_done(key: object) -> None:
    _owed.pop(id(key), None)


def settle_cleanups() -> None:
    """Run the cleanups an interrupted unwinding skipped; each is idempotent, none may stop the rest."""
    for cleanup in list(_owed.values()):
        with contextlib.suppress(Exception):
            cleanup()
    _owed.clear()


def pause_for_tests(point: str) -> None:
    """Inert unless VMAPP_BUILD_TEST_PAUSE_AT names this point: then announce it and wait for a signal."""
    if os.environ.get(TEST_PAUSE_ENV) != point:
        return
    print(f"vmapp-build: test pause at {point}", file=sys.stderr, flush=True)
    time.sleep(600)
