"""Azurite (Azure's Blob Storage emulator) on loopback, for the publish tests and the benchmark.

Installed with npm into <repo>/.cache/azurite when missing; started on 127.0.0.1 with a free port,
its data in a temporary directory, telemetry off (no test sends traffic off this machine).
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PREFIX = REPO / ".cache" / "azurite"
BINARY = PREFIX / "node_modules" / ".bin" / "azurite-blob"
# Azurite's documented development account (public, the same on every installation).
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass(frozen=True)
class Azurite:
    port: int

    @property
    def account_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={self.account_url};"


def ensure_installed() -> Path:
    if not BINARY.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is needed to install Azurite (apt-get install npm)")
        PREFIX.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--prefix", str(PREFIX), "--no-audit", "--no-fund", "azurite@3"], check=True)
    return BINARY


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """Linux's PR_SET_PDEATHSIG: the kernel stops Azurite when the process that started it dies, even by SIGKILL."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


@contextmanager
def running_azurite(location: Path) -> Iterator[Azurite]:
    """Start Azurite's blob service; stop it (this process only) on exit."""
    binary = ensure_installed()
    port = _free_port()
    argv = [str(binary), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(location)]
    argv += ["--silent", "--skipApiVersionCheck", "--disableTelemetry"]
    log = open(location / "azurite.log", "wb")  # noqa: SIM115  (closed in finally)
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"azurite exited with {process.returncode}: {(location / 'azurite.log').read_text()}"
                )
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("azurite did not start within 60 s") from None
                time.sleep(0.1)
        yield Azurite(port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
