"""Windows Server 2016 has no tar.exe: the zip install strings choose on the VM between Windows'
tar.exe and PowerShell 5.1's Expand-Archive.

Wine's powershell.exe is a stub that does nothing and returns 0, so the Expand-Archive branch runs
here against a stand-in (tests/data/windows-2016/powershell.go) that records the argv powershell.exe
would get, reads the script's literals by PowerShell's quoting rules and extracts the zip. PowerShell's
own Expand-Archive never runs in these tests.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import docker
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builder.azure.limits import MAX_FIELD_CHARS
from builder.cmdquote import CmdQuoteError, finalize, ps_command, ps_literal
from builder.container import Container
from builder.errors import RecipeError
from builder.finish import BuildResult
from builder.pipeline import build
from builder.plan import make_plan
from builder.recipe import load_recipe
from builder.render import render_commands
from builder.windows.wine import Wine, unix_path
from tests.conftest import REPO
from tests.test_windows_e2e import vm, wine_image  # noqa: F401 (wine_image: a fixture)

TAR = r"C:\windows\system32\tar.exe"
POWERSHELL = r"C:\windows\system32\WindowsPowerShell\v1.0\powershell.exe"
RECORD = r"C:\vmapp-powershell.jsonl"
FLAGS = ["-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-Command"]
CHOSE_POWERSHELL = "vmapp: no tar.exe, using Expand-Archive"
STAND_IN = Path(__file__).parent / "data" / "windows-2016" / "powershell.go"

L, R, LOW, HIGH = "\u2018", "\u2019", "\u201a", "\u201b"  # PowerShell's other single quotes
PS_QUOTES = "'" + L + R + LOW + HIGH
# Hostile names: cmd's specials, a literal %, PowerShell's quotes (typographic too), wildcards, non-ASCII.
HOSTILE_ZIP = f"Tööl 100% & 'it's' {L}x{R} [v1] (2).zip"
HOSTILE_DIR = rf"C:\Vmapp 50% & 'O'Brien' {L}q{R} [x] ^ 日本"
# A literal % in the archive's name before a %NAME% in the directory: the PowerShell word needs its slot.
SECOND_ZIP = "b 100%.zip"
SECOND_DIR = r"%ProgramFiles%\Vmapp B (x) & y"
SECOND_DIR_ON_VM = r"C:\Program Files\Vmapp B (x) & y"
SHA = hashlib.sha256(b"x").hexdigest()


def recipe(tmp_path: Path, installers: list[tuple[str, str]], shas: dict[str, str] | None = None) -> Path:
    """A recipe of zip installers (file name, directory), JSON-quoted (JSON is YAML)."""

    def quoted(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)

    lines = "".join(
        f"    - source: {quoted(name)}\n      sha256: {(shas or {}).get(name, SHA)}\n"
        f"      directory: {quoted(directory)}\n"
        for name, directory in installers
    )
    path = tmp_path / "vmapp-test.yaml"
    path.write_text(f"name: vmapp-test\nversion: 1.2.3\nwindows:\n  installers:\n{lines}", encoding="utf-8")
    return path


def install_string(tmp_path: Path, installers: list[tuple[str, str]]) -> str:
    return render_commands(make_plan(load_recipe(recipe(tmp_path, installers)), "windows", tmp_path / "d")).install


# -- rendering ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "wildcard", "literal"),
    [
        ("a b.zip", False, "'a b.zip'"),
        ("it's", False, "'it''s'"),
        (f"{L}x{R} {LOW}y{HIGH}", False, f"'{L}{L}x{R}{R} {LOW}{LOW}y{HIGH}{HIGH}'"),
        ("$env:x `n $(id) @a;b", False, "'$env:x `n $(id) @a;b'"),
        ("[v1] *?`", False, "'[v1] *?`'"),
        ("[v1] *?`", True, "'`[v1`] `*`?``'"),
        ("", False, "''"),
    ],
)
def test_ps_literal(value: str, wildcard: bool, literal: str) -> None:
    assert finalize(ps_literal(value, wildcard=wildcard)) == literal


def ps_unquote(literal: str) -> str:
    """PowerShell's reading of one '...' literal: two single quotes in a row are one (the second);
    a lone one would end the literal, which must then be the whole text."""
    assert literal[0] in PS_QUOTES
    out, i = [], 1
    while True:
        if literal[i] in PS_QUOTES:
            if i + 1 < len(literal) and literal[i + 1] in PS_QUOTES:
                out.append(literal[i + 1])
                i += 2
                continue
            assert i == len(literal) - 1, f"the literal ends early at {i}: {literal!r}"
            return "".join(out)
        out.append(literal[i])
        i += 1


def msvc_argv(line: str) -> list[str]:
    """The MSVC (2008) argv rules powershell.exe splits its command line by, for a test's model."""
    args: list[str] = []
    current: list[str] | None = None
    quoted, i = False, 0
    while i < len(line):
        c = line[i]
        if c == "\\":
            run = len(line[i:]) - len(line[i:].lstrip("\\"))
            at_quote = line[i + run : i + run + 1] == '"'
            current = (current or []) + ["\\" * (run // 2 if at_quote else run)]
            i += run
            if at_quote and run % 2:
                current.append('"')
                i += 1
            continue
        if c == '"':
            current = current or []
            if quoted and line[i + 1 : i + 2] == '"':
                current.append('"')
                i += 2
                continue
            quoted = not quoted
        elif c in " \t" and not quoted:
            if current is not None:
                args.append("".join(current))
            current = None
        else:
            current = (current or []) + [c]
        i += 1
    if current is not None:
        args.append("".join(current))
    return args


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from([*PS_QUOTES, "%", "`", "[", "]", "$", " ", "a", "\\", "&", "é", "😀"]), max_size=30))
def test_ps_literal_reads_back_exactly(value: str) -> None:
    """A value as powershell.exe gets it (cmd's % aside): one argv word, whose literal reads back."""
    [script] = msvc_argv(finalize(ps_command(ps_literal(value))))
    assert ps_unquote(script) == value


def test_ps_literal_refuses_what_cmd_cannot_carry() -> None:
    for value in ['a"b', "a\nb"]:
        with pytest.raises(CmdQuoteError):
            ps_literal(value)


def test_ps_command_splits_at_each_literal_percent_like_cmd_quote() -> None:
    word = ps_command(
        "Expand-Archive -LiteralPath " + ps_literal("100% v2.zip") + " -DestinationPath " + ps_literal("x\\%y")
    )
    assert finalize(word) == '''"Expand-Archive -LiteralPath '100"%" v2.zip' -DestinationPath 'x\\\\"%"y'"'''


def test_zip_install_string_chooses_tar_else_expand_archive(tmp_path: Path) -> None:
    install = install_string(tmp_path, [("tool.zip", r"%ProgramFiles%\Tool")])
    assert install.endswith(
        r'& (if exist %windir%\system32\tar.exe (%windir%\system32\tar.exe -xf "tool.zip" -C "%ProgramFiles%\Tool")'
        f" else (echo {CHOSE_POWERSHELL} & "
        r"%windir%\System32\WindowsPowerShell\v1.0\powershell.exe " + " ".join(FLAGS) + " "
        """"$ProgressPreference='SilentlyContinue';Expand-Archive -LiteralPath 'tool.zip' """
        r"""-DestinationPath '%ProgramFiles%\Tool' -Force -ErrorAction Stop"))"""
    )


def test_bundle_and_each_zip_extract_through_the_same_choice(tmp_path: Path) -> None:
    install = install_string(tmp_path, [(HOSTILE_ZIP, HOSTILE_DIR), (SECOND_ZIP, SECOND_DIR)])
    assert install.count("(if exist %windir%\\system32\\tar.exe (") == 3  # the bundle, then each zip
    assert install.count("-ExecutionPolicy Bypass -Command") == 3
    # A literal % before %ProgramFiles% in the PowerShell word: balanced by an inline comment.
    assert """-Command "<#"%"#>$ProgressPreference=""" in install
    assert f"""'installers\\Tööl 100"%" & ''it''s'' {L}{L}x{R}{R} [v1] (2).zip'""" in install
    assert f"""-DestinationPath 'C:\\Vmapp 50"%" & ''O''Brien'' {L}{L}q{R}{R} `[x`] ^ 日本'""" in install


def test_every_zip_is_named_zip_as_expand_archive_requires(tmp_path: Path) -> None:
    """Expand-Archive 1.0.1.0 refuses another extension; the recipe's check keeps the branch safe."""
    path = recipe(tmp_path, [("tools.bin", r"C:\Tools")])
    path.write_text(path.read_text().replace("      directory:", "      type: zip\n      directory:"))
    with pytest.raises(RecipeError, match=r"'tools\.bin' does not end in \.zip"):
        load_recipe(path)
    assert install_string(tmp_path, [("Tools.ZIP", r"C:\Tools")]).count("-LiteralPath 'Tools.ZIP'") == 1


def test_chain_grows_within_azure_limit(tmp_path: Path) -> None:
    """Each extraction adds about 380 characters: a bundle of six zips still fits in 4096."""
    zips = [(f"tool {i}.zip", f"%ProgramFiles%\\Vmapp Tools\\Tool {i}") for i in range(6)]
    install = install_string(tmp_path, zips)
    assert len(install) <= MAX_FIELD_CHARS, len(install)


# -- under Wine --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def powershell_stand_in(docker_client: docker.DockerClient, wine_image: str) -> bytes:  # noqa: F811
    """tests/data/windows-2016/powershell.go, built with the image's Go for Windows (kept in .cache/)."""
    source = STAND_IN.read_bytes()
    cached = REPO / ".cache" / "windows-2016" / f"powershell-{hashlib.sha256(source).hexdigest()[:16]}.exe"
    if cached.is_file():
        return cached.read_bytes()
    with Container(docker_client, wine_image, "build", network=False) as c:
        c.put_bytes(source, "/src/ps", "main.go")
        build_it = (
            "cd /src/ps && GOOS=windows GOARCH=amd64 CGO_ENABLED=0 GOCACHE=/tmp/gocache go build -o ps.exe main.go"
        )
        c.run(["sh", "-c", build_it], "build the powershell.exe stand-in")
        data = c.read_file("/src/ps/ps.exe")
    assert data
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.rename(cached)
    return data


def build_zips(tmp_path: Path, installers: list[tuple[str, str]], content: bytes | None = None) -> BuildResult:
    """A build of zip installers (file name, directory), each holding `<name>/file.txt`, or `content`."""
    for name, _ in installers:
        if content is None:
            with zipfile.ZipFile(tmp_path / name, "w") as zf:
                zf.writestr(f"{Path(name).stem}/file.txt", f"from {name}\r\n")
        else:
            (tmp_path / name).write_bytes(content)
    shas = {name: hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() for name, _ in installers}
    path = recipe(tmp_path, installers, shas)
    return build(make_plan(load_recipe(path), "windows", tmp_path / "dist"))


@pytest.fixture
def vm_2016(
    docker_client: docker.DockerClient,
    wine_image: str,  # noqa: F811
    powershell_stand_in: bytes,
) -> Iterator[tuple[Wine, str]]:
    """A Wine "VM" whose powershell.exe is the stand-in; `hide_tar` makes it a Server 2016."""
    with vm(docker_client, wine_image) as (wine, workdir):
        ps = PurePosixPath(unix_path(POWERSHELL))
        wine.container.put_bytes(powershell_stand_in, str(ps.parent), ps.name, mode=0o755)
        yield wine, workdir


def hide_tar(wine: Wine) -> None:
    wine.container.run(["mv", unix_path(TAR), unix_path(TAR) + ".hidden"], "hide tar.exe")
    assert not wine.exists(TAR)


def recorded(wine: Wine) -> list[list[str]]:
    data = wine.read_bytes(unix_path(RECORD))
    return [json.loads(line) for line in data.decode().splitlines()] if data else []


def put_package(wine: Wine, workdir: str, result: BuildResult) -> None:
    wine.container.put_file(result.package, unix_path(workdir), result.package.name)


def expected_argv(archive: str, destination: str, slot: bool = False) -> list[str]:
    """What powershell.exe gets, written out by hand: PowerShell's quoting, not the code under test."""
    script = (
        f"$ProgressPreference='SilentlyContinue';Expand-Archive -LiteralPath {archive} "
        f"-DestinationPath {destination} -Force -ErrorAction Stop"
    )
    return [*FLAGS, ("<#%#>" if slot else "") + script]


def test_tar_when_present_else_expand_archive_with_hostile_names(vm_2016: tuple[Wine, str], tmp_path: Path) -> None:
    result = build_zips(tmp_path, [(HOSTILE_ZIP, HOSTILE_DIR), (SECOND_ZIP, SECOND_DIR)])
    commands = result.document["commands"]
    wine, workdir = vm_2016
    put_package(wine, workdir, result)
    hostile_file = HOSTILE_DIR + "\\" + HOSTILE_ZIP.removesuffix(".zip") + "\\file.txt"
    second_file = SECOND_DIR_ON_VM + "\\b 100%\\file.txt"

    install = wine.run(commands["install"], workdir)  # today's path: tar.exe is there
    assert install.errorlevel == 0, install
    assert CHOSE_POWERSHELL not in install.stdout and recorded(wine) == []
    assert wine.read_bytes(unix_path(hostile_file)) == f"from {HOSTILE_ZIP}\r\n".encode()
    assert wine.exists(second_file)
    assert wine.run(commands["remove"], workdir).errorlevel == 0
    assert not wine.exists(HOSTILE_DIR) and not wine.exists(SECOND_DIR_ON_VM)

    hide_tar(wine)  # Windows Server 2016
    wine.container.run(["rm", "-rf", unix_path(workdir + "\\installers")], "a fresh download directory")
    install = wine.run(commands["install"], workdir)
    assert install.errorlevel == 0, install
    assert install.stdout.count(CHOSE_POWERSHELL) == 3, install
    assert recorded(wine) == [
        expected_argv("'vmapp-test.zip'", "'installers'"),
        expected_argv(
            f"'installers\\Tööl 100% & ''it''s'' {L}{L}x{R}{R} [v1] (2).zip'",
            f"'C:\\Vmapp 50% & ''O''Brien'' {L}{L}q{R}{R} `[x`] ^ 日本'",
        ),
        expected_argv("'installers\\b 100%.zip'", "'C:\\Program Files\\Vmapp B (x) & y'", slot=True),
    ]
    assert wine.read_bytes(unix_path(hostile_file)) == f"from {HOSTILE_ZIP}\r\n".encode()
    assert wine.exists(second_file)
    assert wine.run(commands["remove"], workdir).errorlevel == 0
    assert not wine.exists(HOSTILE_DIR) and not wine.exists(SECOND_DIR_ON_VM)


def test_failed_extraction_fails_the_install_in_both_branches(vm_2016: tuple[Wine, str], tmp_path: Path) -> None:
    result = build_zips(tmp_path, [("broken.zip", r"C:\Vmapp Broken")], content=b"not a zip\r\n" * 64)
    wine, workdir = vm_2016
    put_package(wine, workdir, result)
    with_tar = wine.run(result.document["commands"]["install"], workdir)
    assert with_tar.errorlevel != 0, with_tar
    assert recorded(wine) == []
    hide_tar(wine)
    without_tar = wine.run(result.document["commands"]["install"], workdir)
    assert without_tar.errorlevel == 1, without_tar
    assert CHOSE_POWERSHELL in without_tar.stdout and len(recorded(wine)) == 1


# Names from the project's hostile strings that Windows allows in a file name (no reference-like %NAME%
# in a directory, where it would expand): each a zip's name and its directory, tar.exe hidden.
HOSTILE_NAMES = [
    "semi;colon amp&ersand",
    "back`tick` $(id) ${HOME} $HOME $1",
    "single'quote both ' quotes [bracket] {brace,expansion}",
    "tilde~ ~root hash#comment !bang -leading-dash --option=like",
    "percent% 100% v2 caret^ paren(s) A & B (x64) ^ 7",
    "unicode-éè \u0661.\u0660.\u0660 \uff11.\uff10.\uff10 emoji-😀 日本語",
]


@pytest.mark.parametrize("names", [HOSTILE_NAMES[:3], HOSTILE_NAMES[3:]], ids=["part1", "part2"])
def test_expand_archive_branch_extracts_hostile_names_in_place(
    vm_2016: tuple[Wine, str], tmp_path: Path, names: list[str]
) -> None:
    zips = [(f"{name}.zip", f"C:\\Vmapp H\\{name}") for name in names]
    result = build_zips(tmp_path, zips)
    wine, workdir = vm_2016
    put_package(wine, workdir, result)
    hide_tar(wine)
    install = wine.run(result.document["commands"]["install"], workdir)
    assert install.errorlevel == 0, install
    assert len(recorded(wine)) == len(zips) + 1  # the bundle, then each zip
    for name, directory in zips:
        content = wine.read_bytes(unix_path(f"{directory}\\{name.removesuffix('.zip')}\\file.txt"))
        assert content == f"from {name}\r\n".encode(), name
    assert wine.run(result.document["commands"]["remove"], workdir).errorlevel == 0
    assert wine.run(r'dir /b "C:\Vmapp H"', workdir).stdout.strip() == ""
