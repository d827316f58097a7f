"""Signals at every stage, sent to the real command line: SIGINT, SIGTERM, SIGHUP and SIGQUIT make
it exit 128 + n within seconds with no container and no temp dir left; after SIGKILL the engine
removes the container by itself within a second or two (its stdin, held by the dead process, closes),
and `vmapp-build gc` removes the temp dir (and a container created but never started).

Each test runs under its own VMAPP_BUILD_SESSION, so the containers it looks for are only its own.
The stage is known from VMAPP_BUILD_VERBOSE's echo of each command, or from the test-only pause
(VMAPP_BUILD_TEST_PAUSE_AT) where a stage is too short to hit otherwise.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import subprocess
import sys
import termios
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from docker.errors import ImageNotFound

from builder import interrupts
from builder.container import SESSION_ENV, VERBOSE_ENV
from builder.finish import BuildResult
from builder.interrupts import TEST_PAUSE_ENV, Interrupted, deferred, install_handlers, owe_cleanup
from builder.owner import TEMP_PREFIX
from builder.pipeline import build
from builder.plan import make_plan
from builder.recipe import load_recipe
from tests.conftest import DISTRO, REPO, SESSION, run_cli

HANDLED = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT]
EXIT_WITHIN = 10.0  # seconds from a handled signal to the exit, cleanup included
GONE_WITHIN = 5.0  # seconds from SIGKILL to the engine having removed the container
WINE_IMAGE = "vmapp-build/wine:10"


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


@dataclass
class Run:
    """One `python -m builder ...` under a session label of its own, its stderr in a file."""

    proc: subprocess.Popen[bytes]
    stderr: Path
    session: str

    def stderr_text(self) -> str:
        return self.stderr.read_text(errors="replace")

    def wait_for(self, needle: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.stderr_text():
            assert self.proc.poll() is None, f"exited with {self.proc.returncode} first:\n{self.stderr_text()}"
            assert time.monotonic() < deadline, f"{needle!r} never came:\n{self.stderr_text()}"
            time.sleep(0.05)

    def signal_and_wait(self, signum: int, again_after: float | None = None) -> float:
        """Send the signal (and, with again_after, once more during the cleanup); seconds until the exit."""
        start = time.monotonic()
        self.proc.send_signal(signum)
        if again_after is not None:
            time.sleep(again_after)
            self.proc.send_signal(signum)
        self.proc.wait(timeout=120)
        return time.monotonic() - start


Start = Callable[..., Run]


@pytest.fixture
def cli_run(tmp_path: Path) -> Iterator[Start]:
    started: list[Run] = []

    def start(*args: str | Path, pause_at: str | None = None) -> Run:
        session = f"{SESSION}-sig-{uuid.uuid4().hex[:8]}"
        env = {**os.environ, SESSION_ENV: session, VERBOSE_ENV: "1"}
        env.pop(TEST_PAUSE_ENV, None)
        if pause_at:
            env[TEST_PAUSE_ENV] = pause_at
        stderr = tmp_path / f"stderr-{len(started)}.txt"
        with open(stderr, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "builder", *map(str, args)],
                stdout=subprocess.DEVNULL,
                stderr=err,
                cwd=REPO,
                env=env,
            )
        run = Run(proc, stderr, session)
        started.append(run)
        return run

    yield start
    for run in started:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()


def session_containers(client: docker.DockerClient, session: str) -> list[tuple[str, str]]:
    found = client.containers.list(
        all=True, filters={"label": f"io.vmapp-build.session={session}"}, ignore_removed=True
    )
    return [(str(c.name), str(c.status)) for c in found]


def temp_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob(f"{TEMP_PREFIX}*") if p.is_dir())


def seconds_until_gone(client: docker.DockerClient, session: str, bound: float) -> float:
    start = time.monotonic()
    while session_containers(client, session):
        assert time.monotonic() - start < bound, f"still there after {bound} s: {session_containers(client, session)}"
        time.sleep(0.05)
    return time.monotonic() - start


def gc(run: Run, out: Path, session: str) -> str:
    proc = run_cli("gc", "--out", out, "--session", session)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def assert_clean_exit(client: docker.DockerClient, run: Run, signum: int, elapsed: float, root: Path) -> None:
    assert run.proc.returncode == 128 + signum, run.stderr_text()
    assert elapsed < EXIT_WITHIN, f"{signal.Signals(signum).name}: exit took {elapsed:.1f} s"
    assert "interrupted" in run.stderr_text()
    # the tool removed it before exiting; auto_remove may still be finishing a removal it started
    seconds_until_gone(client, run.session, 2.0)
    assert temp_dirs(root) == []
    print(f"{signal.Signals(signum).name}: exit {run.proc.returncode} {elapsed:.2f} s after the signal")


def assert_killed_then_clean(client: docker.DockerClient, run: Run, root: Path, out: Path) -> None:
    """After SIGKILL: the container goes by itself; `gc` removes the temp dir the build left."""
    assert run.proc.returncode == -signal.SIGKILL
    gone = seconds_until_gone(client, run.session, GONE_WITHIN)
    print(f"SIGKILL: container gone {gone:.2f} s after the tool's exit")
    report = gc(run, out, run.session)
    assert temp_dirs(root) == [], report
    assert "container" not in report  # nothing of this session was left for gc


def jq_build_args(out: Path, *extra: str) -> list[str | Path]:
    # --no-cache: an earlier test's jq in the session's cache would be a closure memo (builder.closure_memo),
    # and a build that starts no container has no stage to interrupt.
    return ["recipe", "jq", "--distro", DISTRO, "--out", out, "--no-cache", *extra]


@pytest.mark.parametrize("signum", HANDLED, ids=signal_name)
def test_signal_at_container_start(
    docker_client: docker.DockerClient, cli_run: Start, tmp_path: Path, signum: int
) -> None:
    """Right after the engine created the container, before the tool kept its id or attached to it."""
    out = tmp_path / "dist"
    run = cli_run(*jq_build_args(out), pause_at="container-created")
    run.wait_for("test pause at container-created")
    assert session_containers(docker_client, run.session)
    assert_clean_exit(docker_client, run, signum, run.signal_and_wait(signum), tmp_path)


def test_sigkill_at_container_start_leaves_a_created_container_for_gc(
    docker_client: docker.DockerClient, cli_run: Start, tmp_path: Path
) -> None:
    """The one documented window: created, not yet attached to. It never ran; gc removes it."""
    out = tmp_path / "dist"
    run = cli_run(*jq_build_args(out), pause_at="container-created")
    run.wait_for("test pause at container-created")
    run.signal_and_wait(signal.SIGKILL)
    time.sleep(1)
    left = session_containers(docker_client, run.session)
    assert [status for _, status in left] == ["created"]
    report = gc(run, out, run.session)
    assert f"removed container {left[0][0]}: pid {run.proc.pid} " in report
    assert "removed temp dir" in report
    assert session_containers(docker_client, run.session) == []
    assert temp_dirs(tmp_path) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT], ids=signal_name)
def test_signal_during_the_download(
    docker_client: docker.DockerClient, cli_run: Start, tmp_path: Path, signum: int
) -> None:
    run = cli_run(*jq_build_args(tmp_path / "dist"))
    run.wait_for("--download-only")
    assert_clean_exit(docker_client, run, signum, run.signal_and_wait(signum), tmp_path)


def test_sigkill_during_the_download(docker_client: docker.DockerClient, cli_run: Start, tmp_path: Path) -> None:
    run = cli_run(*jq_build_args(tmp_path / "dist"))
    run.wait_for("--download-only")
    run.signal_and_wait(signal.SIGKILL)
    assert_killed_then_clean(docker_client, run, tmp_path, tmp_path / "dist")


@pytest.mark.parametrize("signum", HANDLED, ids=signal_name)
def test_signal_during_the_copy_out(
    docker_client: docker.DockerClient, cli_run: Start, tmp_path: Path, signum: int
) -> None:
    """The archive stream is open and unread (--full: megabytes the engine cannot write): removal
    must not wait for it. SIGTERM is sent twice: the second, during cleanup, must not cut it short."""
    run = cli_run(*jq_build_args(tmp_path / "dist", "--full"), pause_at="copy-out")
    run.wait_for("test pause at copy-out")
    again = 0.05 if signum == signal.SIGTERM else None
    assert_clean_exit(docker_client, run, signum, run.signal_and_wait(signum, again), tmp_path)


def test_sigkill_during_the_copy_out(docker_client: docker.DockerClient, cli_run: Start, tmp_path: Path) -> None:
    run = cli_run(*jq_build_args(tmp_path / "dist", "--full"), pause_at="copy-out")
    run.wait_for("test pause at copy-out")
    run.signal_and_wait(signal.SIGKILL)
    assert_killed_then_clean(docker_client, run, tmp_path, tmp_path / "dist")


def test_closing_the_terminal_during_the_copy_out(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    """The real SIGHUP: the build runs on a terminal (progress bars on) that goes away; writing to it
    then fails (EIO), which must not stop the cleanup or change the exit code."""
    session = f"{SESSION}-hup-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, SESSION_ENV: session, TEST_PAUSE_ENV: "copy-out"}
    master, slave = os.openpty()

    def controlling_terminal() -> None:  # in the child: a new session whose terminal is the pty
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    argv = [sys.executable, "-m", "builder", *map(str, jq_build_args(tmp_path / "dist", "--full"))]
    proc = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=REPO,
        start_new_session=True,
        preexec_fn=controlling_terminal,
    )
    os.close(slave)
    try:
        seen = b""
        deadline = time.monotonic() + 300
        while b"test pause at copy-out" not in seen:
            assert proc.poll() is None and time.monotonic() < deadline, seen.decode(errors="replace")
            if select.select([master], [], [], 0.5)[0]:
                seen += os.read(master, 65536)
        start = time.monotonic()
        os.close(master)  # the terminal hangs up: the kernel sends SIGHUP
        proc.wait(timeout=60)
        elapsed = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGHUP
    assert elapsed < EXIT_WITHIN
    seconds_until_gone(docker_client, session, 2.0)
    assert temp_dirs(tmp_path) == []
    print(f"terminal closed: exit {proc.returncode} {elapsed:.2f} s after")


HELPER = """
import sys, time, docker
from builder.container import Container
with Container(docker.from_env(), "debian:12", "test", labelled=False) as box:
    print(box.name, flush=True)
    time.sleep(600)
"""


def test_an_unlabelled_helper_container_goes_with_a_killed_pytest(docker_client: docker.DockerClient) -> None:
    """The tests' helpers (committed into images, so unlabelled) are tethered to their process too."""
    proc = subprocess.Popen([sys.executable, "-c", HELPER], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert proc.stdout is not None
        name = proc.stdout.readline().strip()
        assert docker_client.containers.get(name).status == "running"
        proc.kill()
        proc.wait()
        start = time.monotonic()
        while docker_client.containers.list(all=True, filters={"name": name}, ignore_removed=True):
            assert time.monotonic() - start < GONE_WITHIN, f"{name} outlived its process"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
    print(f"helper container gone {time.monotonic() - start:.2f} s after SIGKILL")


@pytest.fixture(scope="module")
def jq_build(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    return build(make_plan(load_recipe("jq"), DISTRO, tmp_path_factory.mktemp("dist")), docker_client)


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGQUIT, signal.SIGKILL], ids=signal_name)
def test_signal_during_verify(
    docker_client: docker.DockerClient, cli_run: Start, jq_build: BuildResult, tmp_path: Path, signum: int
) -> None:
    interrupt_verify(docker_client, cli_run("verify", jq_build.manifest.parent), "+ /bin/sh -c", signum, tmp_path)


def interrupt_verify(docker_client: docker.DockerClient, run: Run, running: str, signum: int, tmp_path: Path) -> None:
    """Send `signum` once verify's output shows `running` (its install command is running)."""
    run.wait_for(running)
    elapsed = run.signal_and_wait(signum)
    if signum == signal.SIGKILL:
        assert run.proc.returncode == -signal.SIGKILL
        gone = seconds_until_gone(docker_client, run.session, GONE_WITHIN)
        print(f"SIGKILL during verify ({running!r}): container gone {gone:.2f} s after")
    else:
        assert_clean_exit(docker_client, run, signum, elapsed, tmp_path)


@pytest.fixture(scope="module")
def windows_build(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:  # the Wine image, built as tests/test_windows_e2e.py does when absent (minutes)
        docker_client.images.get(WINE_IMAGE)
    except ImageNotFound:
        docker_client.images.build(path=str(REPO / "tests" / "images" / "wine"), tag=WINE_IMAGE, rm=True)
    out = tmp_path_factory.mktemp("windows")
    proc = run_cli("recipe", "myapp-msi", "--distro", "windows", "--out", out)
    assert proc.returncode == 0, proc.stderr
    return next(out.rglob("manifest.json")).parent


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGKILL], ids=signal_name)
def test_signal_during_windows_verify(
    docker_client: docker.DockerClient, cli_run: Start, windows_build: Path, tmp_path: Path, signum: int
) -> None:
    # install is running under Wine (argv: env LC_ALL=C.UTF-8 wine ...)
    interrupt_verify(docker_client, cli_run("verify", windows_build), " wine ", signum, tmp_path)


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI's handlers, in this process, with fresh state; pytest's own are put back afterwards."""
    monkeypatch.setattr(interrupts, "_state", interrupts._State())
    monkeypatch.setattr(interrupts, "_owed", {})
    saved = {s: signal.getsignal(s) for s in interrupts.HANDLED}
    install_handlers()
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_a_signal_during_cleanup_waits_for_it_then_interrupts(handlers: None) -> None:
    steps = []
    with pytest.raises(Interrupted) as caught, deferred():
        os.kill(os.getpid(), signal.SIGHUP)
        steps.append("after the signal")  # the handler has run: noted, not raised
        os.kill(os.getpid(), signal.SIGTERM)
        steps.append("after a second one")
    assert steps == ["after the signal", "after a second one"]
    assert caught.value.exit_code == 128 + signal.SIGHUP  # the first signal decides


def test_after_the_first_signal_later_ones_never_interrupt_the_unwinding(handlers: None) -> None:
    cleaned = []
    with pytest.raises(Interrupted) as caught:
        try:
            os.kill(os.getpid(), signal.SIGQUIT)
            time.sleep(5)  # not reached: the handler raises
        finally:
            os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C while cleaning up
            cleaned.append("temp dir")
    assert cleaned == ["temp dir"]
    assert caught.value.exit_code == 131


def test_cleanups_owed_are_settled_once(handlers: None, tmp_path: Path) -> None:
    from builder.owner import owned_temp_dir

    with owned_temp_dir(tmp_path) as tmp:
        assert temp_dirs(tmp_path) == [tmp]
        assert list(interrupts._owed.values())  # owed while it exists
    assert temp_dirs(tmp_path) == [] and interrupts._owed == {}
    calls: list[str] = []
    owe_cleanup(calls, lambda: calls.append("ran"))
    interrupts.settle_cleanups()
    interrupts.settle_cleanups()
    assert calls == ["ran"]
