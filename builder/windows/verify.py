"""`vmapp-build verify` for Windows builds: the extension's steps under Wine, with no network.

The package goes under its packageFileName into
C:\\Packages\\Plugins\\Microsoft.CPlat.Core.VMApplicationManagerWindows\\<version>\\Downloads\\<app>\\<version>,
and install, each installer's check, remove and the checks again (they must now fail) run from there
as `cmd /C <string>`. A failure reports the full errorlevel, stdout, stderr and the installers' logs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker

from builder.engine import connect
from builder.errors import InputError
from builder.plan.windows import TARGET
from builder.steps import Built, Steps, VerifyReport, install_check_remove, raise_problems, verify_container
from builder.windows.wine import Wine

EXTENSION_DIR = r"C:\Packages\Plugins\Microsoft.CPlat.Core.VMApplicationManagerWindows"
EXTENSION_VERSION = "1.0.9"  # the docs name several; nothing may depend on it
IMAGE_HINT = "build it from a checkout: `docker build -t vmapp-build/wine:10 tests/images/wine` (a few minutes)"


def download_dir(app: str, version: str) -> str:
    return f"{EXTENSION_DIR}\\{EXTENSION_VERSION}\\Downloads\\{app}\\{version}"


def is_windows_build(manifest: dict[str, Any]) -> bool:
    return bool(manifest.get("distro", {}).get("family") == "windows")


def verify_windows(
    path: Path,
    image: str | None = None,
    update_from: Path | None = None,
    client: docker.DockerClient | None = None,
) -> VerifyReport:
    """Install, check, remove and check again under Wine; raise VerifyError on any failure."""
    if update_from is not None:
        raise InputError(
            f"--update-from does not apply to {TARGET} builds",
            hint="a Windows version has no update string: Azure removes the old version, then installs the new one",
        )
    built = Built.load(path)
    if not is_windows_build(built.manifest):
        raise InputError(f"{built.directory}: not a Windows build")
    client = client or connect()
    image_ref = image or built.image
    workdir = download_dir(built.app, built.version)
    report = VerifyReport(built.app, built.version, image_ref, workdir, f"under Wine in {image_ref} ({workdir})")
    report.problems += built.digest_problems()
    checks = [str(c) for c in built.manifest["recipe"].get("checks", [])]
    what = f"verification of {built.app} {built.version}"
    with verify_container(client, image_ref, IMAGE_HINT) as c:
        steps = Steps(Wine(c), report, what, f"image {image_ref}, no network")
        install_check_remove(steps, built, workdir, checks, lambda: None)
    raise_problems(f"{what} failed", report.problems)
    return report
