"""Windows command strings run for real: Wine 10 in a container, real MSIs (wixl), a real EXE
installer (mingw), a zip extracted by a tar.exe stand-in. Every install is checked on the file
system and in the registry, every removal checked gone, and failures checked for their errorlevel.
"""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
import pytest
from docker.errors import ImageNotFound
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from builder.cmdquote import SLOT_STEP, cmd_args, cmd_quote, finalize, mark
from builder.container import Container
from builder.errors import VerifyError
from builder.finish import BuildResult
from builder.pipeline import build
from builder.plan import make_plan
from builder.recipe import load_recipe
from builder.windows.verify import download_dir, verify_windows
from builder.windows.wine import Wine, unix_path
from tests.conftest import REPO, files_under, run_cli

pytestmark = pytest.mark.docker

WINE_IMAGE = "vmapp-build/wine:10"
DATA = REPO / "tests" / "data" / "windows"
UNINSTALL = r"HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall"
MSI_DIR = r"C:\Program Files\Vmapp Test MSI"
MSI_KEY = r"HKLM\Software\vmapp-build-tests\Vmapp Test MSI"
MSI_CHECK = rf'if exist "%ProgramFiles%\Vmapp Test MSI\app.txt" (reg query "{MSI_KEY}") else (exit 1)'
MSI_PRODUCT_CODE = "{6B1C7F0A-1D2E-4F3A-9B8C-0D1E2F3A4B01}"
MARKED_WINDIR = mark("%windir%", expand=True)
ARGV_EXE = r".\argv.exe"


@pytest.fixture(scope="session")
def wine_image(docker_client: docker.DockerClient) -> str:
    """The Wine image, built once from tests/images/wine when absent (a few minutes, about 3 GB)."""
    try:
        docker_client.images.get(WINE_IMAGE)
    except ImageNotFound:
        docker_client.images.build(path=str(REPO / "tests" / "images" / "wine"), tag=WINE_IMAGE, rm=True)
    return WINE_IMAGE


def _wixl(name: str, codes: str, reboot: str) -> str:
    guid = "{6B1C7F0A-1D2E-4F3A-9B8C-0D1E2F3A4B%s}"
    return (
        f"wixl -a x64 -D 'Name={name}' -D 'ProductCode={guid % (codes + '1')}' "
        f"-D 'UpgradeCode={guid % (codes + '2')}' -D 'ComponentGuid={guid % (codes + '3')}' -D Reboot={reboot} "
    )


@pytest.fixture(scope="session")
def artifacts(docker_client: docker.DockerClient, wine_image: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test installers, built from tests/data/windows with the image's mingw and wixl."""
    out = tmp_path_factory.mktemp("windows-installers")
    script = " && ".join(
        [
            "cd /src",
            "x86_64-w64-mingw32-gcc -O2 -municode -o testinstaller.exe testinstaller.c",
            # The same installer as a GUI-subsystem program, as most real installers are.
            "x86_64-w64-mingw32-gcc -O2 -municode -mwindows -o testinstaller-gui.exe testinstaller.c",
            "x86_64-w64-mingw32-gcc -O2 -municode -o argv.exe argv.c",
            _wixl("Vmapp Test MSI", "0", "no") + "-o app.msi testapp.wxs",
            _wixl("Vmapp Reboot MSI", "1", "yes") + "-o reboot.msi testapp.wxs",
        ]
    )
    with Container(docker_client, wine_image, "build", network=False) as c:
        for source in DATA.iterdir():
            c.put_file(source, "/src", source.name)
        c.run(["sh", "-c", script], "build the test installers")
        wine = Wine(c)
        for name in ("testinstaller.exe", "testinstaller-gui.exe", "argv.exe", "app.msi", "reboot.msi"):
            data = wine.read_bytes(f"/src/{name}")
            assert data, name
            (out / name).write_bytes(data)
    with zipfile.ZipFile(out / "tool.zip", "w") as zf:
        zf.writestr("bin/tool.txt", "a tool from a zip\r\n")
        zf.writestr("readme.txt", "readme\r\n")
    (out / "corrupt.msi").write_bytes(b"this is not an MSI database\r\n" * 64)
    return out


def build_app(
    tmp_path: Path, artifacts: Path, installers: list[tuple[str, str, str]], name: str = "vmapp-test"
) -> BuildResult:
    """Build a recipe of (artifact, file name on the VM, extra YAML lines) installers."""
    lines = []
    for artifact, file_name, extra in installers:
        shutil.copyfile(artifacts / artifact, tmp_path / file_name)
        sha = hashlib.sha256((tmp_path / file_name).read_bytes()).hexdigest()
        lines.append(
            f"    - source: '{file_name}'\n      sha256: '{sha}'\n"
            + "".join(f"      {x}\n" for x in extra.splitlines())
        )
    recipe = tmp_path / f"{name}.yaml"
    recipe.write_text(f"name: {name}\nversion: 1.2.3\nwindows:\n  installers:\n" + "".join(lines))
    return build(make_plan(load_recipe(recipe), "windows", tmp_path / "dist"))


@contextmanager
def vm(
    docker_client: docker.DockerClient, wine_image: str, result: BuildResult | None = None, as_name: str | None = None
) -> Iterator[tuple[Wine, str]]:
    """A fresh Wine "VM" with the build's package in the extension's download directory."""
    with Container(docker_client, wine_image, "verify", network=False) as c:
        wine = Wine(c)
        workdir = download_dir("vmapp-test", "1.2.3")
        c.run(["mkdir", "-p", unix_path(workdir)], "workdir")
        if result is not None:
            c.put_file(result.package, unix_path(workdir), as_name or result.package.name)
        yield wine, workdir


def registry_has(wine: Wine, key: str, workdir: str) -> bool:
    return wine.run(f'reg query "{key}"', workdir).errorlevel == 0


def test_msi_with_a_hostile_name_installs_and_removes(
    docker_client: docker.DockerClient, wine_image: str, artifacts: Path, tmp_path: Path
) -> None:
    hostile = "Vmapp (x64) & co ^ 100% [v1].msi"
    result = build_app(tmp_path, artifacts, [("app.msi", hostile, f"check: '{MSI_CHECK}'")])
    assert result.document["packageFileName"] == hostile == result.package.name

    report = verify_windows(result.manifest.parent, client=docker_client)
    assert [s for s, _ in report.steps] == ["install", "check", "remove", "check after remove"]
    assert report.workdir.startswith("C:\\Packages\\Plugins\\Microsoft.CPlat.Core.VMApplicationManagerWindows\\")

    with vm(docker_client, wine_image, result) as (wine, workdir):
        install = wine.run(result.document["commands"]["install"], workdir)
        assert install.errorlevel == 0, install
        assert wine.exists(MSI_DIR + r"\app.txt")
        assert registry_has(wine, MSI_KEY, workdir)
        assert "vmapp-install-1.log" in wine.logs(workdir)
        remove = wine.run(result.document["commands"]["remove"], workdir)
        assert remove.errorlevel == 0, remove
        assert not wine.exists(MSI_DIR + r"\app.txt")
        assert not registry_has(wine, MSI_KEY, workdir)


def test_package_saved_without_packagefilename_is_renamed(
    docker_client: docker.DockerClient, wine_image: str, artifacts: Path, tmp_path: Path
) -> None:
    result = build_app(tmp_path, artifacts, [("app.msi", "app.msi", f"remove: '{MSI_PRODUCT_CODE}'")])
    with vm(docker_client, wine_image, result, as_name="vmapp-test") as (wine, workdir):
        assert wine.run(result.document["commands"]["install"], workdir).errorlevel == 0
        assert wine.exists(MSI_DIR + r"\app.txt")
        assert wine.run(result.document["commands"]["remove"], workdir).errorlevel == 0
        assert not wine.exists(MSI_DIR + r"\app.txt")


@pytest.mark.parametrize("reboot", ["success", "failure"])
def test_msi_asking_for_a_reboot(
    docker_client: docker.DockerClient, wine_image: str, artifacts: Path, tmp_path: Path, reboot: str
) -> None:
    result = build_app(tmp_path, artifacts, [("reboot.msi", "reboot.msi", f"reboot: {reboot}")])
    with vm(docker_client, wine_image, result) as (wine, workdir):
        install = wine.run(result.document["commands"]["install"], workdir)
        installed = wine.exists(r"C:\Program Files\Vmapp Reboot MSI\app.txt")
        assert installed, "msiexec installed it either way; only the verdict differs"
    if reboot == "success":
        assert install.errorlevel == 0, install
        assert "reboot required, counted as success: 3010" in install.stdout
    else:
        assert install.errorlevel == 3010, install


def test_exe_receives_hostile_arguments_and_uninstalls(
    docker_client: docker.DockerClient, wine_image: str, artifacts: Path, tmp_path: Path
) -> None:
    target = r"C:\Vmapp Apps\Test (x86) & co ^ 1"
    arguments = ["/S", f"/D={target}", "x & y | z", "50% (half) <done>", "%windir%", "/NAME=VmappHostile"]
    extra = (
        "arguments: [" + ", ".join(f"'{a}'" for a in arguments) + "]\n"
        f"remove: '\"{target}\\uninstall.exe\" /S /NAME=VmappHostile'\n"
        f"check: 'reg query \"{UNINSTALL}\\VmappHostile\" /v UninstallString'"
    )
    result = build_app(tmp_path, artifacts, [("testinstaller.exe", "Setup & Co (1) 100%.exe", extra)])
    assert result.document["packageFileName"] == "Setup & Co (1) 100%.exe"
    with vm(docker_client, wine_image, result) as (wine, workdir):
        install = wine.run(result.document["commands"]["install"], workdir)
        assert install.errorlevel == 0, install
        args = wine.read_bytes(unix_path(target + r"\args.txt"))
        assert args is not None
        # Every argument arrived as one argument, unchanged; %windir% expanded as documented.
        assert args.decode().splitlines() == [*arguments[:4], r"C:\windows", arguments[5]]
        assert registry_has(wine, f"{UNINSTALL}\\VmappHostile", workdir)
        remove = wine.run(result.document["commands"]["remove"], workdir)
        assert remove.errorlevel == 0, remove
        assert not wine.exists(target + r"\app.txt")
        assert not registry_has(wine, f"{UNINSTALL}\\VmappHostile", workdir)
    verify_windows(result.manifest.parent, client=docker_client)


def test_zip_extracts_with_tar_and_is_removed(
    docker_client: docker.DockerClient, wine_image: str, artifacts: Path, tmp_path: Path
) -> None:
    result = build_app(
        tmp_path, artifacts, [("tool.zip", "tool.zip", r"directory: '%ProgramFiles%\Vmapp Zip (tools) & more'")]
    )
    assert r"%windir%\system32\tar.exe -xf" in result.document["commands"]["install"]
    folder = r"C:\Program Files\Vmapp Zip (tools) & more"
    with vm(docker_client, wine_image, result) as (wine, workdir):
        assert not wine.exists(folder)
        install = wine.run(result.document["commands"]["install"], workdir)
        assert install.errorlevel == 0, install
        assert "Expand-Archive" not in install.stdout, "tar.exe is there: no fallback"
        assert wine.read_bytes(unix_path(folder + r"\bin\tool.txt")) == b"a tool from a zip\r\n"
        assert wine.exists(folder + r"\readme.txt")
        assert wine.run(result.document["commands"]["remove"], workdir).errorlevel == 0
        assert not wine.exists(folder)


CHAIN = [
    (
        "testinstaller.exe",
        "runtime setup.exe",
        "arguments: [/S, '/D=C:\\Vmapp Runtime', /NAME=VmappRuntime]\n"
        "remove: '\"C:\\Vmapp Runtime\\uninstall.exe\" /S /NAME=VmappRuntime'",
    ),
    ("app.msi", "app.msi", f"check: '{MSI_CHECK}'"),
    ("tool.zip", "tool.zip", r"directory: 'C:\Vmapp Tools'"),
]


def test_chain_of_three_installs_in_order_and_removes_all(
    docker_client: docker.DockerClient, wine_image: str, artifacts: Path, tmp_path: Path
) -> None:
    result = build_app(tmp_path, artifacts, CHAIN)
    assert result.document["packageFileName"] == "vmapp-test.zip"
    with zipfile.ZipFile(result.package) as zf:
        assert sorted(zf.namelist()) == ["app.msi", "runtime setup.exe", "tool.zip"]
    with vm(docker_client, wine_image, result) as (wine, workdir):
        install = wine.run(result.document["commands"]["install"], workdir)
        assert install.errorlevel == 0, install
        assert wine.exists(r"C:\Vmapp Runtime\app.txt")
        assert registry_has(wine, f"{UNINSTALL}\\VmappRuntime", workdir)
        assert wine.exists(MSI_DIR + r"\app.txt")
        assert wine.exists(r"C:\Vmapp Tools\bin\tool.txt")
        remove = wine.run(result.document["commands"]["remove"], workdir)
        assert remove.errorlevel == 0, remove
        assert not wine.exists(r"C:\Vmapp Runtime\app.txt")
        assert not registry_has(wine, f"{UNINSTALL}\\VmappRuntime", workdir)
        assert not wine.exists(MSI_DIR + r"\app.txt")
        assert not wine.exists(r"C:\Vmapp Tools")
    report = verify_windows(result.manifest.parent, client=docker_client)
    assert [s for s, _ in report.steps] == ["install", "check", "remove", "check after remove"]


def test_failing_first_installer_stops_the_chain(
    docker_client: docker.DockerClient, wine_image: str, artifacts: Path, tmp_path: Path
) -> None:
    failing = [("testinstaller.exe", "runtime.exe", "arguments: [/S, /FAIL=7]\nremove: 'cmd /c exit 0'"), *CHAIN[1:]]
    result = build_app(tmp_path, artifacts, failing)
    with vm(docker_client, wine_image, result) as (wine, workdir):
        install = wine.run(result.document["commands"]["install"], workdir)
        assert install.errorlevel == 7, install
        assert "failing with 7" in install.stderr
        assert not wine.exists(MSI_DIR + r"\app.txt"), "the MSI after the failed installer must not run"
        assert not wine.exists(r"C:\Vmapp Tools")
    with pytest.raises(VerifyError) as caught:
        verify_windows(result.manifest.parent, client=docker_client)
    assert "install exited with errorlevel 7" in str(caught.value)


def test_corrupt_msi_fails_with_its_errorlevel_and_log(
    docker_client: docker.DockerClient, wine_image: str, artifacts: Path, tmp_path: Path
) -> None:
    result = build_app(tmp_path, artifacts, [("corrupt.msi", "corrupt.msi", "")])
    proc = run_cli("verify", result.manifest.parent)
    assert proc.returncode == 4, proc.stderr
    assert "install exited with errorlevel" in proc.stderr
    assert "install exited with errorlevel 0 " not in proc.stderr
    assert "--- stdout ---" in proc.stderr and "--- stderr ---" in proc.stderr


def test_missing_package_fails(
    docker_client: docker.DockerClient, wine_image: str, artifacts: Path, tmp_path: Path
) -> None:
    for artifact, name, extra in [("app.msi", "app.msi", ""), *CHAIN[:1]]:
        result = build_app(tmp_path, artifacts, [(artifact, name, extra)])
        with vm(docker_client, wine_image, None) as (wine, workdir):
            install = wine.run(result.document["commands"]["install"], workdir)
            assert install.errorlevel != 0, install
        shutil.rmtree(tmp_path / "dist")


def test_shipped_windows_recipe_builds_and_verifies(
    docker_client: docker.DockerClient, wine_image: str, tmp_path: Path
) -> None:
    proc = run_cli("recipe", "myapp-msi", "--distro", "windows", "--out", tmp_path, "--verify")
    assert proc.returncode == 0, proc.stderr
    assert "verified myapp-msi 1.0.0 under Wine" in proc.stdout
    assert files_under(tmp_path / "myapp-msi" / "1.0.0") == [
        "windows",
        "windows/lock.json",
        "windows/manifest.json",
        "windows/myapp.msi",
        "windows/sbom.cdx.json",
    ]
    shipped = REPO / "recipes" / "windows" / "myapp.msi"
    assert (tmp_path / "myapp-msi/1.0.0/windows/myapp.msi").read_bytes() == shipped.read_bytes()
    assert shipped.stat().st_size < 100 * 1024


def test_readme_example_with_a_spaced_msi_property_verifies(
    docker_client: docker.DockerClient, artifacts: Path, tmp_path: Path
) -> None:
    """The README's own example: `INSTALLDIR: '%ProgramFiles%\\My App'` (through `start`, Wine's msiexec got
    `"INSTALLDIR=C:\\..."` and answered 1639); remove finds the files there too."""
    check = r'if exist "%ProgramFiles%\My App\app.txt" (exit 0) else (exit 1)'
    extra = f"properties: {{INSTALLDIR: '%ProgramFiles%\\My App'}}\ncheck: '{check}'"
    result = build_app(tmp_path, artifacts, [("app.msi", "myapp.msi", extra)])
    assert r'INSTALLDIR="%ProgramFiles%\My App"' in result.document["commands"]["install"]
    report = verify_windows(result.manifest.parent, client=docker_client)
    assert [s for s, _ in report.steps] == ["install", "check", "remove", "check after remove"]


def test_percent_in_file_names_before_later_references(
    docker_client: docker.DockerClient, wine_image: str, artifacts: Path, tmp_path: Path
) -> None:
    """A literal % (`100% v2.exe`) followed by %ProgramFiles% and %windir% later in the same string: Wine's
    cmd used to pair them and pass `%ProgramFiles%` on unexpanded."""
    exe_dir = r"%ProgramFiles%\Vmapp (x) & co ^ 1"
    arguments = ["/S", f"/D={exe_dir}", "/NAME=VmappPercent", "%windir%", "100%"]
    exe = (
        "arguments: [" + ", ".join(f"'{a}'" for a in arguments) + "]\n"
        f"remove: '\"{exe_dir}\\uninstall.exe\" /S /NAME=VmappPercent'"
    )
    msi = f"properties: {{INSTALLDIR: '%ProgramFiles%\\My 100% App (x) & co'}}\ncheck: '{MSI_CHECK}'"
    installers = [("testinstaller.exe", "Setup 100% v2.exe", exe), ("app.msi", "App 100% v2.msi", msi)]
    result = build_app(tmp_path, artifacts, installers)
    msi_dir = r"C:\Program Files\My 100% App (x) & co"
    exe_dir_real = r"C:\Program Files\Vmapp (x) & co ^ 1"
    with vm(docker_client, wine_image, result) as (wine, workdir):
        install = wine.run(result.document["commands"]["install"], workdir)
        assert install.errorlevel == 0, install
        args = wine.read_bytes(unix_path(exe_dir_real + r"\args.txt"))
        assert args is not None, "the EXE was given its directory with %ProgramFiles% expanded"
        assert args.decode().splitlines() == [arguments[0], f"/D={exe_dir_real}", arguments[2], r"C:\windows", "100%"]
        assert wine.exists(msi_dir + r"\app.txt")
        remove = wine.run(result.document["commands"]["remove"], workdir)
        assert remove.errorlevel == 0, remove
        assert not wine.exists(msi_dir + r"\app.txt")
        assert not wine.exists(exe_dir_real + r"\app.txt")
        assert not registry_has(wine, f"{UNINSTALL}\\VmappPercent", workdir)


def test_gui_installer_is_waited_for(
    docker_client: docker.DockerClient, wine_image: str, artifacts: Path, tmp_path: Path
) -> None:
    """Installers run without `start`: cmd /C still waits for a GUI-subsystem program and takes its exit
    code (one it did not wait for would leave errorlevel 0 and the files missing)."""
    slow = "arguments: [/S, /SLEEP=1500, '/D=C:\\Vmapp Gui', /NAME=VmappGui]\nremove: 'cmd /c exit 0'"
    result = build_app(tmp_path, artifacts, [("testinstaller-gui.exe", "gui setup.exe", slow), CHAIN[1]])
    with vm(docker_client, wine_image, result) as (wine, workdir):
        install = wine.run(result.document["commands"]["install"], workdir)
        assert install.errorlevel == 0, install
        assert wine.exists(r"C:\Vmapp Gui\app.txt") and wine.exists(MSI_DIR + r"\app.txt")
    shutil.rmtree(tmp_path / "dist")
    failing = "arguments: [/S, /SLEEP=1500, /FAIL=7]\nremove: 'cmd /c exit 0'"
    result = build_app(tmp_path, artifacts, [("testinstaller-gui.exe", "gui setup.exe", failing)])
    with vm(docker_client, wine_image, result) as (wine, workdir):
        assert wine.run(result.document["commands"]["install"], workdir).errorlevel == 7


# Any string the quoting accepts: printable characters of every script (no control characters, no `"`,
# which the quoting refuses), with cmd's specials and % made likely.
WORDS = st.text(
    st.one_of(
        st.sampled_from([*" \t%^&|<>()!\\/:;,=*?'`~$#@[]{}", "é", "日", "\U0001f600"]),
        st.characters(codec="utf-8", exclude_characters='"', exclude_categories=("Cc", "Cs", "Co")),
    ),
    max_size=12,
)


@pytest.fixture
def argv_vm(docker_client: docker.DockerClient, wine_image: str, artifacts: Path) -> Iterator[tuple[Wine, str]]:
    with vm(docker_client, wine_image) as (wine, workdir):
        wine.container.put_file(artifacts / "argv.exe", unix_path(workdir), "argv.exe")
        yield wine, workdir


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(WORDS, min_size=1, max_size=40))
@example(words=["100% v2.exe"])  # the case: an odd number of literal % before %windir%
@example(words=["%PATH%", "a%", "%%", "trailing\\", "", " ", "tab\there", "A & B (x64) ^ 7", "unicode-\u00e9"])
def test_cmd_quoting_gives_back_any_accepted_string_under_wine(argv_vm: tuple[Wine, str], words: list[str]) -> None:
    """One `cmd /C` run per example: every word as one argument, then %windir% after them (a literal %
    among the words must not swallow it). The program writes what it got, compared byte for byte."""
    wine, workdir = argv_vm
    program = cmd_quote(ARGV_EXE, split=False)
    line = f'echo args & {SLOT_STEP}{program} "out.bin" {cmd_args(words)} {MARKED_WINDIR}'
    command = finalize(line)
    result = wine.run(command, workdir)
    assert result.errorlevel == 0, result
    got = wine.read_bytes(unix_path(workdir) + "/out.bin")
    assert got is not None
    assert got.split(b"\0")[:-1] == [w.encode() for w in [*words, r"C:\windows"]], command


def test_msi_property_value_arrives_exactly(
    docker_client: docker.DockerClient, wine_image: str, artifacts: Path, tmp_path: Path
) -> None:
    """msiexec's `PROP="value"`: cmd's specials and a literal % reach the installer unchanged."""
    value = "A & B (x64) ^ 7, 100% [v2]; |x| <y> !z!"
    result = build_app(tmp_path, artifacts, [("app.msi", "app.msi", f"properties: {{VMAPPVALUE: '{value}'}}")])
    with vm(docker_client, wine_image, result) as (wine, workdir):
        assert wine.run(result.document["commands"]["install"], workdir).errorlevel == 0
        query = wine.run(f'reg query "{MSI_KEY}" /v Value', workdir)
        assert query.errorlevel == 0, query
        assert query.stdout.split("REG_SZ", 1)[1].strip() == value
