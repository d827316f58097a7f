"""Windows recipes, cmd quoting, rendering, the zip bundle and fetching: no engine needed."""

from __future__ import annotations

import hashlib
import http.server
import json
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from builder.azure.limits import MAX_FIELD_CHARS, check_field
from builder.cmdquote import CmdQuoteError, cmd_arg, cmd_args, cmd_quote, finalize
from builder.errors import InputError, RecipeError
from builder.pipeline import build
from builder.plan import WindowsPlan, make_plan
from builder.recipe import load_recipe
from builder.render import render_commands
from builder.resources import data_dir
from builder.windows.bundle import write_zip
from tests.conftest import files_under, run_cli

WINDOWS_RECIPES = sorted(p.stem for p in data_dir("recipes").glob("*.yaml") if load_recipe(p).windows is not None)


def installer_file(directory: Path, name: str, content: bytes = b"MZ installer bytes") -> tuple[Path, str]:
    path = directory / name
    path.write_bytes(content)
    return path, hashlib.sha256(content).hexdigest()


def windows_recipe(directory: Path, installers: str, name: str = "demo") -> Path:
    path = directory / "recipe.yaml"
    path.write_text(f"name: {name}\nversion: 1.0.0\nwindows:\n  installers:\n{installers}")
    return path


# -- cmd quoting ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("setup.msi", '"setup.msi"'),
        (r"C:\Program Files (x86)\My App", r'"C:\Program Files (x86)\My App"'),
        ("a & b | c < d > e ^ f", '"a & b | c < d > e ^ f"'),
        ("100% done", '"100"%" done"'),
        ("%PATH%", '""%"PATH"%""'),
        ("a%%b", '"a"%""%"b"'),
        ("C:\\dir\\", '"C:\\dir\\\\"'),  # a backslash before the closing quote would escape it
        ("x\\%y", '"x\\\\"%"y"'),
        ("", '""'),
    ],
)
def test_cmd_quote(value: str, quoted: str) -> None:
    assert finalize(cmd_quote(value)) == quoted


def test_cmd_quote_leaves_variables_to_expand_when_asked() -> None:
    assert finalize(cmd_quote(r"%ProgramFiles%\My App", expand=True)) == r'"%ProgramFiles%\My App"'
    # Its value may hold spaces and parentheses (`%ProgramFiles(x86)%`): quoted, for msiexec as PROP="value".
    assert finalize(cmd_arg(r"/D=%ProgramFiles%\App", expand=True)) == r'"/D=%ProgramFiles%\App"'
    assert finalize(cmd_arg(r"DIR=%ProgramFiles%\App", expand=True, split=False)) == r'DIR="%ProgramFiles%\App"'
    # A lone % is literal even among references: quoted apart, so no span through it can expand.
    assert finalize(cmd_quote(r"%ProgramFiles%\50%", expand=True)) == r'"%ProgramFiles%\50"%""'
    assert finalize(cmd_quote("50% of it", expand=True, split=False)) == '"50% of it"'


@pytest.mark.parametrize(
    ("words", "problem"),
    [
        # Wine's cmd would pair the first % with %windir%'s opening one: refused, not mangled.
        (['"a"%"b"', "%windir%"], "cannot be written for both"),
        # Inside one fragment (msiexec's words) a span between two % has no quote: it could expand.
        (['"a % b % c"'], "as a variable"),
    ],
)
def test_percent_pairing_that_cmds_disagree_on_is_refused(words: list[str], problem: str) -> None:
    from builder.cmdquote import CmdPercentError, mark

    marked = " ".join(mark(w, expand=True) for w in words)
    with pytest.raises(CmdPercentError, match=problem):
        finalize(marked)


def test_percent_pairing_is_balanced_in_a_slot() -> None:
    from builder.cmdquote import SLOT_STEP, mark

    text = finalize(SLOT_STEP + mark('"a"%"b" %windir%', expand=True))
    assert text == 'if not "%"=="" "a"%"b" %windir%'
    assert finalize(SLOT_STEP + mark('"a"%"b"%"c" %windir%', expand=True)) == '"a"%"b"%"c" %windir%'


@pytest.mark.parametrize("value", ['say "hi"', "two\nlines", "cr\rhere", "nul\x00"])
def test_cmd_quote_refuses_what_cmd_cannot_carry(value: str) -> None:
    with pytest.raises(CmdQuoteError):
        cmd_quote(value)


def test_cmd_args_keeps_switches_bare() -> None:
    assert finalize(cmd_args(["/S", "/D=C:\\x", "{6B1C7F0A-1D2E-4F3A-9B8C-0D1E2F3A4B01}", "a b", "x&y"])) == (
        '/S /D=C:\\x {6B1C7F0A-1D2E-4F3A-9B8C-0D1E2F3A4B01} "a b" "x&y"'
    )
    with pytest.raises(TypeError):
        cmd_args("/S")


# -- recipes --------------------------------------------------------------------------------------------


def test_windows_recipe_loads(tmp_path: Path) -> None:
    _, exe_sha = installer_file(tmp_path, "vc redist (x64).exe")
    _, msi_sha = installer_file(tmp_path, "app.msi", b"msi")
    recipe = load_recipe(
        windows_recipe(
            tmp_path,
            f"""    - source: vc redist (x64).exe
      sha256: {exe_sha}
      arguments: [/install, /quiet]
      remove: '"%ProgramFiles%\\VC\\uninstall.exe" /S'
      reboot: success
    - source: app.msi
      sha256: {msi_sha.upper()}
      properties: {{INSTALLDIR: '%ProgramFiles%\\My App'}}
      check: 'if exist "%ProgramFiles%\\My App\\app.txt" (exit 0) else (exit 1)'
""",
        )
    )
    assert recipe.linux is None
    assert recipe.windows is not None
    exe, msi = recipe.windows.installers
    assert (exe.type, exe.file_name, exe.reboot_is_success) == ("exe", "vc redist (x64).exe", True)
    assert exe.source == str(tmp_path / "vc redist (x64).exe")
    assert (msi.type, msi.remove, msi.sha256) == ("msi", "package", msi_sha)
    assert msi.properties == (("INSTALLDIR", r"%ProgramFiles%\My App"),)
    assert recipe.windows.checks == [r'if exist "%ProgramFiles%\My App\app.txt" (exit 0) else (exit 1)']


SHA = "ab" * 32


@pytest.mark.parametrize(
    ("installers", "key", "problem"),
    [
        ("    - source: a.msi\n", "windows.installers[0].sha256", "missing"),
        (f"    - source: a.msi\n      sha256: {SHA[:-1]}\n", "windows.installers[0].sha256", "not a SHA-256"),
        (f"    - source: a.txt\n      sha256: {SHA}\n", "windows.installers[0].type", "'a.txt' does not tell"),
        (
            f"    - source: a.msi\n      sha256: {SHA}\n      type: exe\n",
            "windows.installers[0].source",
            "does not end",
        ),
        (f"    - source: a.exe\n      sha256: {SHA}\n      remove: x\n", "windows.installers[0].arguments", "silent"),
        (
            f"    - source: a.exe\n      sha256: {SHA}\n      arguments: [/S]\n",
            "windows.installers[0].remove",
            "uninstall",
        ),
        (
            f"    - source: a.msi\n      sha256: {SHA}\n      remove: abc\n",
            "windows.installers[0].remove",
            "ProductCode",
        ),
        (f"    - source: a.zip\n      sha256: {SHA}\n", "windows.installers[0].directory", "missing"),
        (
            f"    - source: a.zip\n      sha256: {SHA}\n      directory: tools\n",
            "windows.installers[0].directory",
            "absolute",
        ),
        (
            f"    - source: a.msi\n      sha256: {SHA}\n      directory: C:\\x\n",
            "windows.installers[0].directory",
            "apply",
        ),
        (f"    - source: a.msi\n      sha256: {SHA}\n      reboot: maybe\n", "windows.installers[0].reboot", "reboot"),
        (
            f"    - source: a.msi\n      sha256: {SHA}\n      arguments: ['say \"hi\"']\n",
            "arguments[0]",
            "double quote",
        ),
        (
            f"    - source: a.msi\n      sha256: {SHA}\n      colour: red\n",
            "windows.installers[0].colour",
            "unknown key",
        ),
        (f"    - source: ftp://x/a.msi\n      sha256: {SHA}\n", "windows.installers[0].source", "http"),
        (
            f"    - source: a.msi\n      sha256: {SHA}\n    - source: sub/A.MSI\n      sha256: {SHA}\n",
            "windows.installers[1].source",
            "same file name",
        ),
    ],
)
def test_windows_recipe_errors_name_file_and_key(tmp_path: Path, installers: str, key: str, problem: str) -> None:
    path = windows_recipe(tmp_path, installers)
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    assert caught.value.message.startswith(f"{path}: ")
    assert key in caught.value.key
    assert problem in caught.value.message


def test_unquoted_numeric_sha256_is_refused(tmp_path: Path) -> None:
    path = windows_recipe(tmp_path, f"    - source: a.msi\n      sha256: {'1' * 64}\n")
    with pytest.raises(RecipeError, match=r"sha256: .* was read as a number"):
        load_recipe(path)


def test_windows_section_must_have_installers(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("name: demo\nversion: 1.0.0\nwindows:\n  installers: []\n")
    with pytest.raises(RecipeError, match=r"windows\.installers: expected a non-empty list"):
        load_recipe(path)


# -- rendering -------------------------------------------------------------------------------------------


def windows_plan(recipe: str | Path, out: Path) -> WindowsPlan:
    plan = make_plan(load_recipe(recipe), "windows", out)
    assert isinstance(plan, WindowsPlan), "the table's windows row plans installers"
    return plan


def plan_for(tmp_path: Path, installers: str, name: str = "demo") -> WindowsPlan:
    return windows_plan(windows_recipe(tmp_path, installers, name), tmp_path / "dist")


def test_single_msi_ships_as_itself(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, f"    - source: 'My App (x64) & co 100%.msi'\n      sha256: {SHA}\n")
    assert plan.package_file_name == "My App (x64) & co 100%.msi"
    assert plan.out_dir == tmp_path / "dist" / "demo" / "1.0.0" / "windows"
    commands = render_commands(plan)
    # msiexec is called directly (cmd /C waits for it), its package one quoted word.
    assert r' & %windir%\system32\msiexec.exe /i "My App (x64) & co 100%.msi" /quiet /norestart' in commands.install
    assert "start /wait" not in commands.install and " start " not in commands.install
    assert r"%windir%\system32\msiexec.exe /x " in commands.remove
    # Without packageFileName the VM saves the package under the application's name: renamed first.
    assert 'if exist "demo" move /y "demo" "My App (x64) & co 100"%".msi"' in commands.install
    assert "1605" in commands.remove and "3010" not in commands.install


def test_reboot_codes_count_as_success_only_when_allowed(tmp_path: Path) -> None:
    allowed = plan_for(tmp_path, f"    - source: a.msi\n      sha256: {SHA}\n      reboot: success\n")
    install = render_commands(allowed).install
    assert "(if errorlevel 3010 if not errorlevel 3011 (" in install
    assert "(if errorlevel 1641 if not errorlevel 1642 (" in install
    refused = plan_for(tmp_path, f"    - source: a.msi\n      sha256: {SHA}\n")
    assert "3010" not in render_commands(refused).install


def test_chain_runs_in_order_and_removes_in_reverse(tmp_path: Path) -> None:
    plan = plan_for(
        tmp_path,
        f"""    - source: first.exe
      sha256: {SHA}
      arguments: [/S, '/D=C:\\Program Files\\First App']
      remove: '"C:\\Program Files\\First App\\uninstall.exe" /S'
    - source: second.msi
      sha256: {SHA}
    - source: third.zip
      sha256: {SHA}
      directory: '%ProgramFiles%\\Third (tools)'
""",
    )
    assert plan.bundled and plan.package_file_name == "demo.zip"
    commands = render_commands(plan)
    install, remove = commands.install, commands.remove
    positions = [install.index(s) for s in ("first.exe", "second.msi", "third.zip")]
    assert positions == sorted(positions)
    assert install.index(r"%windir%\system32\tar.exe -xf " + '"demo.zip" -C "installers"') < positions[0]
    assert r'".\installers\first.exe" /S "/D=C:\Program Files\First App"' in install
    removal = [remove.index(s) for s in (r"rmdir /S /Q", "second.msi", "First App\\uninstall.exe")]
    assert removal == sorted(removal)
    # Each later step sits inside `if errorlevel == 0 ( ... )` of the one before it.
    assert install.count("if not errorlevel 1 if errorlevel 0 (") == 3
    assert install.replace(" ", "").endswith(")))")
    # Each zip extracted (the bundle, third.zip; remove: the bundle, for the MSI) falls back to Expand-Archive.
    assert install.count("Expand-Archive -LiteralPath") == 2 and remove.count("Expand-Archive -LiteralPath") == 1


def test_msi_properties_with_spaces_reach_msiexec_as_prop_quoted_value(tmp_path: Path) -> None:
    plan = plan_for(
        tmp_path,
        f"    - source: a.msi\n      sha256: {SHA}\n"
        "      properties: {INSTALLDIR: '%ProgramFiles%\\My App', ADDLOCAL: ALL}\n",
    )
    commands = render_commands(plan)
    # msiexec's own syntax, quotes around the value only; remove gets the directory, not the features.
    assert r' INSTALLDIR="%ProgramFiles%\My App" ADDLOCAL="ALL"' in commands.install
    assert r' INSTALLDIR="%ProgramFiles%\My App"' in commands.remove and "ADDLOCAL" not in commands.remove


def test_literal_percent_that_cannot_be_balanced_is_refused(tmp_path: Path) -> None:
    plan = plan_for(
        tmp_path,
        f"    - source: a.exe\n      sha256: {SHA}\n      arguments: ['/D=%ProgramFiles%', '50%', '%windir%']\n"
        "      remove: x\n",
    )
    with pytest.raises(InputError, match=r"windows\.installers: the install string cannot be written: a literal %"):
        render_commands(plan)


@pytest.mark.parametrize("name", WINDOWS_RECIPES)
def test_shipped_windows_recipe_renders_within_limits(name: str, tmp_path: Path) -> None:
    plan = windows_plan(name, tmp_path)
    for kind, command in render_commands(plan).as_dict().items():
        assert check_field(kind, command).level == "ok" and len(command) <= MAX_FIELD_CHARS
        assert "\n" not in command and not command.startswith('"'), "cmd /C would strip a leading quote"
        assert plan.package_file_name in command
    assert all(Path(i.source).is_file() for i in plan.installers), "the shipped installer is in the repository"


def build_too_long_command(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`recipe` of a Windows installer whose install string is over Azure's 4096 characters, into tmp_path/dist."""
    _, sha = installer_file(tmp_path, "a.exe")
    long_arg = "/X=" + "y" * 4100
    path = windows_recipe(
        tmp_path, f"    - source: a.exe\n      sha256: {sha}\n      arguments: [{long_arg}]\n      remove: x\n"
    )
    return run_cli("recipe", path, "--distro", "windows", "--out", tmp_path / "dist")


def test_too_long_command_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    proc = build_too_long_command(tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "manageActions.install is" in proc.stderr and "at most 4096" in proc.stderr
    assert files_under(tmp_path / "dist") == []


# -- bundle and fetch ------------------------------------------------------------------------------------


def test_zip_bundle_is_deterministic(tmp_path: Path) -> None:
    a, _ = installer_file(tmp_path, "b-second.msi", b"second" * 1000)
    b, _ = installer_file(tmp_path, "a first.exe", b"first")
    write_zip(tmp_path / "one.zip", [a, b])
    write_zip(tmp_path / "two.zip", [b, a])
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "one.zip") as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == ["a first.exe", "b-second.msi"]
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert zf.read("b-second.msi") == b"second" * 1000


def test_local_build_writes_package_and_manifest(tmp_path: Path) -> None:
    _, exe_sha = installer_file(tmp_path, "setup.exe", b"exe bytes")
    _, msi_sha = installer_file(tmp_path, "app.msi", b"msi bytes")
    plan = plan_for(
        tmp_path,
        f"    - source: setup.exe\n      sha256: {exe_sha}\n      arguments: [/S]\n      remove: x /S\n"
        f"    - source: app.msi\n      sha256: {msi_sha}\n",
    )
    result = build(plan)
    doc = result.document
    assert files_under(tmp_path / "dist") == [
        "demo",
        "demo/1.0.0",
        "demo/1.0.0/windows",
        "demo/1.0.0/windows/demo.zip",
        "demo/1.0.0/windows/lock.json",
        "demo/1.0.0/windows/manifest.json",
        "demo/1.0.0/windows/sbom.cdx.json",
    ]
    assert doc["packageFileName"] == "demo.zip" and doc["distro"] == {
        "name": "windows",
        "family": "windows",
        "arch": "amd64",
    }
    assert [(i["file"], i["sha256"], i["size"]) for i in doc["installers"]] == [
        ("setup.exe", exe_sha, 9),
        ("app.msi", msi_sha, 9),
    ]
    assert doc["package"]["sha256"] == hashlib.sha256(result.package.read_bytes()).hexdigest()
    assert set(doc["commands"]) == {"install", "remove"} and doc["interpreter"] == "cmd /C"
    assert all(r["level"] == "ok" for r in doc["limits"]) and doc["tool"]["name"] == "vmapp-build"


GALLERY = """gallery:
  name: appsGallery
  resource_group: rg-apps
  location: westeurope
  os_type: Windows
"""


def test_gallery_definitions_and_immutable_versions_like_linux(tmp_path: Path) -> None:
    """`--gallery` and the recipe's `gallery:` key go through the one finish step Linux builds use."""
    _, sha = installer_file(tmp_path, "app.msi", b"msi bytes")
    installer = f"    - source: app.msi\n      sha256: {sha}\n"
    recipe = windows_recipe(tmp_path, installer)
    recipe.write_text(recipe.read_text() + GALLERY)
    out = tmp_path / "dist"
    proc = run_cli("recipe", recipe, "--distro", "windows", "--out", out)
    assert proc.returncode == 0, proc.stderr
    build_dir = out / "demo" / "1.0.0" / "windows"
    template = json.loads((build_dir / "gallery" / "template.json").read_text())
    application, version = template["resources"]
    assert application["properties"]["supportedOSType"] == "Windows"
    manifest = json.loads((build_dir / "manifest.json").read_text())
    profile = version["properties"]["publishingProfile"]
    assert profile["manageActions"] == {k: manifest["commands"][k] for k in ("install", "remove")}
    assert profile["settings"]["packageFileName"] == "app.msi"
    assert {"template.json", "az.sh", "settings.json", "definition.json"} <= {
        p.name for p in (build_dir / "gallery").iterdir()
    }

    # The same version again, with other strings (a property added): Azure would refuse it, so do we.
    changed = windows_recipe(tmp_path, installer + "      properties: {INSTALLDIR: 'C:\\Other'}\n")
    settings = tmp_path / "gallery.yaml"
    settings.write_text(GALLERY)
    proc = run_cli("recipe", changed, "--distro", "windows", "--out", out, "--gallery", settings)
    assert proc.returncode == 2, proc.stderr
    assert "create a new version" in proc.stderr and "manageActions.install" in proc.stderr
    assert json.loads((build_dir / "manifest.json").read_text()) == manifest, "the first build is untouched"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory served on loopback only."""
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: _Quiet(*a, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_is_checked_against_sha256(tmp_path: Path, http_root: tuple[Path, str]) -> None:
    root, url = http_root
    _, sha = installer_file(root, "app 1.msi", b"the real msi")
    good = windows_recipe(tmp_path, f"    - source: {url}/app%201.msi\n      sha256: {sha}\n")
    proc = run_cli("recipe", good, "--distro", "windows", "--out", tmp_path / "dist")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "dist/demo/1.0.0/windows/app 1.msi").read_bytes() == b"the real msi"
    assert proc.stderr == "", "no progress bar when stderr is not a terminal"

    (root / "app 1.msi").write_bytes(b"tampered msi")
    (tmp_path / "dist2").mkdir()
    proc = run_cli("recipe", good, "--distro", "windows", "--out", tmp_path / "dist2")
    assert proc.returncode == 2, proc.stderr
    assert "app 1.msi: SHA-256 mismatch" in proc.stderr and "windows.installers[0]" in proc.stderr
    assert files_under(tmp_path / "dist2") == [], "nothing may be left in the output directory"


def test_missing_download_is_a_build_failure(tmp_path: Path, http_root: tuple[Path, str]) -> None:
    _, url = http_root
    path = windows_recipe(tmp_path, f"    - source: {url}/nosuch.msi\n      sha256: {SHA}\n")
    proc = run_cli("recipe", path, "--distro", "windows", "--out", tmp_path / "dist")
    assert proc.returncode == 3, proc.stderr
    assert "HTTP 404" in proc.stderr
    assert not (tmp_path / "dist").exists()


def test_missing_local_installer_is_bad_input(tmp_path: Path) -> None:
    path = windows_recipe(tmp_path, f"    - source: nosuch.msi\n      sha256: {SHA}\n")
    with pytest.raises(InputError, match=r"windows.installers\[0\]: cannot read .*nosuch.msi"):
        build(windows_plan(path, tmp_path / "dist"))
    assert files_under(tmp_path / "dist") == []
