"""Review of the README's Windows promises with inputs the other tests never used: MSI property values
ending in a backslash, non-ASCII installer names, a failing installer in the middle of a bundle.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from builder.cmdquote import cmd_quote
from builder.errors import RecipeError
from builder.owner import OWNER_FILE, TEMP_PREFIX, current
from builder.recipe import load_recipe
from builder.windows.wine import unix_path
from tests.conftest import REPO, run_cli
from tests.test_windows_e2e import MSI_DIR, MSI_KEY, UNINSTALL, artifacts, build_app, registry_has, vm, wine_image  # noqa: F401 - fixtures, found by their names


def test_msiexec_word_keeps_a_trailing_backslash_single() -> None:
    """msiexec does not follow the MSVC argv rules: a backslash before the closing quote is not an escape
    there, so doubling it (right for an EXE) gave the MSI a value ending in two backslashes."""
    assert cmd_quote("C:\\x y\\", split=False) == '"C:\\x y\\"'
    assert cmd_quote("C:\\x y\\", split=True) == '"C:\\x y\\\\"'  # an EXE's argv: still doubled


@pytest.mark.parametrize(
    "directory",
    [
        r"C:\Windows.",
        "C:\\Windows ",
        r"C:\PROGRA~1",
        r"C:\Windows\System32",
        r"%windir%\System32\x",
        "%SystemDrive%\\Windows.\\",
    ],
)
def test_zip_directory_that_windows_reads_as_its_own_is_refused(tmp_path: Path, directory: str) -> None:
    """remove runs `rmdir /S /Q` on a zip's directory: Windows drops trailing dots and spaces and reads
    `PROGRA~1` as Program Files, so these named C:\\Windows and C:\\Program Files (or lay under Windows)."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        f"name: r\nversion: 1.0.0\nwindows:\n  installers:\n    - source: t.zip\n      sha256: '{'0' * 64}'\n"
        f"      directory: '{directory}'\n"
    )
    with pytest.raises(RecipeError) as caught:
        load_recipe(recipe)
    assert "windows.installers[0].directory" in str(caught.value)


@pytest.mark.docker
def test_msi_value_with_trailing_backslash_and_unicode_name(
    docker_client: docker.DockerClient,
    wine_image: str,  # noqa: F811 - the imported fixture
    artifacts: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """`VMAPPVALUE: 'C:\\x y\\'` reaches the MSI as written; an installer named `Äpp 日本.msi` installs under
    Wine (whose file names need a UTF-8 locale) and verifies."""
    extra = "properties: {VMAPPVALUE: 'C:\\x y\\', INSTALLDIR: '%ProgramFiles%\\Vmapp Test MSI\\'}"
    result = build_app(tmp_path, artifacts, [("app.msi", "Äpp 日本.msi", extra)])
    assert 'VMAPPVALUE="C:\\x y\\" ' in result.document["commands"]["install"]
    with vm(docker_client, wine_image, result) as (wine, workdir):
        install = wine.run(result.document["commands"]["install"], workdir)
        assert install.errorlevel == 0, install
        query = wine.run(f'reg query "{MSI_KEY}" /v Value', workdir)
        assert query.stdout.split("REG_SZ", 1)[1].strip() == "C:\\x y\\", query
        assert wine.run(result.document["commands"]["remove"], workdir).errorlevel == 0
        assert not wine.exists(MSI_DIR + r"\app.txt")


@pytest.mark.docker
def test_failing_middle_installer_of_a_bundle(
    docker_client: docker.DockerClient,
    wine_image: str,  # noqa: F811 - the imported fixture
    artifacts: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Three installers, the middle one failing with 1603: install stops there with 1603 (the MSI after
    it never runs); remove then runs every step in reverse (the MSI that never ran is not there to
    remove) and removes the first."""
    runtime = (
        "arguments: [/S, '/D=C:\\Vmapp Rüntime', /NAME=VmappRuntime]\n"
        "remove: '\"C:\\Vmapp Rüntime\\uninstall.exe\" /S /NAME=VmappRuntime'"
    )
    failing = "arguments: [/S, /FAIL=1603]\nremove: 'cmd /c exit 0'"
    installers = [
        ("testinstaller.exe", "rüntime (1) & co.exe", runtime),
        ("testinstaller.exe", "mïddle 100%.exe", failing),
        ("app.msi", "app.msi", ""),
    ]
    result = build_app(tmp_path, artifacts, installers)
    with vm(docker_client, wine_image, result) as (wine, workdir):
        install = wine.run(result.document["commands"]["install"], workdir)
        assert install.errorlevel == 1603, install
        assert wine.exists(r"C:\Vmapp Rüntime\app.txt")
        assert not wine.exists(MSI_DIR + r"\app.txt")
        remove = wine.run(result.document["commands"]["remove"], workdir)
        assert remove.errorlevel == 0, remove
        assert not wine.exists(r"C:\Vmapp Rüntime\app.txt")
        assert not registry_has(wine, f"{UNINSTALL}\\VmappRuntime", workdir)


@pytest.mark.docker
def test_exe_argument_whose_reference_expands_to_spaces_and_parentheses(
    docker_client: docker.DockerClient,
    wine_image: str,  # noqa: F811 - the imported fixture
    artifacts: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """`/D=%ProgramFiles(x86)%\\App` looked bare, but its value holds spaces and parentheses: bare, the EXE
    got `/D=C:\\Program` and `Files`, `(x86)\\...`, and inside a bundle's `( ... )` block the `)` ended it."""
    exe = (
        "arguments: [/S, '/D=%ProgramFiles(x86)%\\VmappVC', /NAME=VmappVC]\n"
        "remove: '\"%ProgramFiles(x86)%\\VmappVC\\uninstall.exe\" /S /NAME=VmappVC'"
    )
    result = build_app(tmp_path, artifacts, [("testinstaller.exe", "vc.exe", exe), ("app.msi", "app.msi", "")])
    folder = r"C:\Program Files (x86)\VmappVC"
    with vm(docker_client, wine_image, result) as (wine, workdir):
        install = wine.run(result.document["commands"]["install"], workdir)
        assert install.errorlevel == 0, install
        args = wine.read_bytes(unix_path(folder + r"\args.txt"))
        assert args is not None, install
        assert args.decode().splitlines()[1] == f"/D={folder}"
        assert wine.exists(MSI_DIR + r"\app.txt")
        assert wine.run(result.document["commands"]["remove"], workdir).errorlevel == 0
        assert not wine.exists(folder + r"\app.txt")


@pytest.mark.docker
def test_msi_argument_whose_reference_expands_to_parentheses(
    docker_client: docker.DockerClient,
    wine_image: str,  # noqa: F811 - the imported fixture
    artifacts: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """An MSI's `arguments: ['INSTALLDIR=%ProgramFiles(x86)%\\Vmapp MSI']` was left bare: in a bundle's
    block the expanded `)` ended it and the install string was a syntax error."""
    msi = "arguments: ['INSTALLDIR=%ProgramFiles(x86)%\\Vmapp MSI']"
    installers = [("tool.zip", "tool.zip", "directory: 'C:\\VmappTool'"), ("app.msi", "app.msi", msi)]
    result = build_app(tmp_path, artifacts, installers)
    assert 'INSTALLDIR="%ProgramFiles(x86)%\\Vmapp MSI"' in result.document["commands"]["install"]
    with vm(docker_client, wine_image, result) as (wine, workdir):
        install = wine.run(result.document["commands"]["install"], workdir)
        assert install.errorlevel == 0, install
        assert wine.exists(r"C:\Program Files (x86)\Vmapp MSI\app.txt")


@pytest.mark.docker
def test_gc_interrupted_while_removing_a_temp_dir_leaves_it_stale(tmp_path: Path) -> None:
    """SIGINT during gc's removal of a dead run's temp dir: the rest of the dir must still carry its owner
    record (it went first, and the next gc kept the dir as "no owner record" for a day)."""
    stale = tmp_path / "out" / f"{TEMP_PREFIX}dead"
    (stale / "f").mkdir(parents=True)
    owner = {**json.loads(current().to_json()), "pid": 1, "start": "another-boot:1"}  # not this pid 1
    (stale / OWNER_FILE).write_text(json.dumps(owner))
    files = 30000
    for i in range(files):
        (stale / "f" / str(i)).touch()
    proc = subprocess.Popen([sys.executable, "-m", "builder", "gc", "--out", str(tmp_path / "out")], cwd=REPO)
    while proc.poll() is None:
        if not (stale / OWNER_FILE).exists() or len(os.listdir(stale / "f")) < files:
            proc.send_signal(signal.SIGINT)
            break
    assert proc.wait(timeout=60) == 130, "gc finished before the signal: make the tree bigger"
    assert (stale / OWNER_FILE).exists() or not stale.exists()
    second = run_cli("gc", "--out", tmp_path / "out")
    assert second.returncode == 0, second.stderr
    assert not stale.exists(), second.stdout
