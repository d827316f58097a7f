"""`vmapp-build verify` for Windows builds: the extension's steps under Wine, with no network.

The package goes under its packageFileName into
C:\\Packages\\Plugins\\Microsoft.CPlat.Core.VMApplicationManagerWindows\\<version>\\Downloads\\<app>\\<version>,
and install, each installer's check, remove and the checks again (they must now fail) run from there
as `cmd /C <string>`. A failure reports the full errorlevel, stdout, stderr and the installers' logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

from builder.container import Container
from builder.engine import connect, ensure_image
from builder.errors import InputError, VerifyError
from builder.files import sha256_file
from builder.manifest import load_manifest
from builder.windows.wine import CmdResult, Wine, unix_path

EXTENSION_DIR = r"C:\Packages\Plugins\Microsoft.CPlat.Core.VMApplicationManagerWindows"
EXTENSION_VERSION = "1.0.9"  # the docs name several; nothing may depend on it
IMAGE_HINT = "build it from a checkout: `docker build -t vmapp-build/wine:10 tests/images/wine` (a few minutes)"


def download_dir(app: str, version: str) -> str:
    return f"{EXTENSION_DIR}\\{EXTENSION_VERSION}\\Downloads\\{app}\\{version}"


@dataclass
class WindowsVerifyReport:
    app: str
    version: str
    image: str
    workdir: str
    steps: list[tuple[str, CmdResult]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def is_windows_build(manifest: dict[str, Any]) -> bool:
    return bool(manifest.get("distro", {}).get("family") == "windows")


def verify_windows(
    path: Path, image: str | None = None, client: docker.DockerClient | None = None
) -> WindowsVerifyReport:
    """Install, check, remove and check again under Wine; raise VerifyError on any failure."""
    directory, manifest = load_manifest(path)
    if not is_windows_build(manifest):
        raise InputError(f"{directory}: not a Windows build")
    app, version = str(manifest["application"]["name"]), str(manifest["application"]["version"])
    package = directory / str(manifest["packageFileName"])
    if not package.is_file():
        raise InputError(f"{package}: the package named by the manifest is missing")
    client = client or connect()
    image_ref = image or str(manifest["image"]["name"])
    image_id = ensure_image(client, image_ref, IMAGE_HINT)
    report = WindowsVerifyReport(app, version, image_ref, download_dir(app, version))
    if sha256_file(package) != manifest.get("package", {}).get("sha256"):
        report.problems.append(f"{package} differs from the package this manifest was built with")
    checks = [str(c) for c in manifest["recipe"].get("checks", [])]
    with Container(client, image_id, "verify", network=False) as c:
        wine = Wine(c)
        c.put_file(package, unix_path(report.workdir), package.name)
        _step(wine, report, "install", str(manifest["commands"]["install"]))
        for check in checks:
            _step(wine, report, "check", check)
        _step(wine, report, "remove", str(manifest["commands"]["remove"]))
        for check in checks:
            result = wine.run(check, report.workdir, "check after remove")
            report.steps.append(("check after remove", result))
            if result.errorlevel == 0:
                report.problems.append(f"the check still succeeds after remove: {check}")
    if report.problems:
        raise VerifyError(f"verification of {app} {version} failed:\n" + "\n".join(f"  - {p}" for p in report.problems))
    return report


def _step(wine: Wine, report: WindowsVerifyReport, name: str, command: str) -> None:
    result = wine.run(command, report.workdir, name)
    report.steps.append((name, result))
    if result.errorlevel != 0:
        logs = "".join(f"\n--- {log} ---\n{_tail(text)}" for log, text in wine.logs(report.workdir).items())
        raise VerifyError(
            f"verification of {report.app} {report.version} failed: {name} exited with errorlevel "
            f"{result.errorlevel} (cmd /C in {report.workdir}, image {report.image}, no network)\n"
            f"--- stdout ---\n{_tail(result.stdout)}\n--- stderr ---\n{_tail(result.stderr)}"
            + logs
            + "".join(f"\nalso: {p}" for p in report.problems),
        )


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty)"
