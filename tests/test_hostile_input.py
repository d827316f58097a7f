"""Hostile and mistaken input, through the real command line: each case must exit with its code, say
what is wrong and where (the file and the key, or the option), print no traceback, and write nothing.

The table covers recipe fields, tarball payloads, CLI options, gallery settings and Windows fields.
Almost every case fails before a container starts; the two that need apt are in the docker part.
Property tests (hypothesis) drive the recipe loader and the sh quoting with any string.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from builder.errors import RecipeError
from builder.recipe import load_recipe
from builder.render import compact, environment
from tests.conftest import DISTRO, files_under, run_cli

BAD_INPUT, BUILD_FAILED = 2, 3
HOSTILE = json.loads(Path("/work/shared/data/hostile-strings.json").read_text())["strings"]
SHA = "0" * 64
GUID = "{12345678-ABCD-1234-ABCD-1234567890AB}"


# -- what a case writes ------------------------------------------------------------------------------


def tarball(path: Path, members: list[tarfile.TarInfo] | None = None) -> str:
    """A .tar.gz (by default one regular file under app/); returns its sha256."""
    with tarfile.open(path, "w:gz") as tar:
        for info in members or [member("app/bin/hello")]:
            tar.addfile(info, io.BytesIO(b"hi\n") if info.isreg() else None)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o755
    info.size = 3 if kind == tarfile.REGTYPE else 0
    return info


def tarball_recipe(tmp: Path, members: list[tarfile.TarInfo] | None = None, **tarball_keys: Any) -> dict[str, Any]:
    sha = tarball(tmp / "payload.tar.gz", members)
    section = {"source": "payload.tar.gz", "sha256": sha, "directory": "/opt/demo", **tarball_keys}
    return {"name": "demo", "version": "1.0.0", "linux": {"tarball": section}}


def package_recipe(**linux: Any) -> dict[str, Any]:
    return {"name": "demo", "version": "1.0.0", "linux": {"packages": ["jq"], **linux}}


def repo_recipe(**repo: Any) -> dict[str, Any]:
    entry = {"name": "vendor", "url": "http://127.0.0.1/apt", "suite": "stable", "components": ["main"], "key": "k.asc"}
    return package_recipe(repositories=[{**entry, **repo}])


def windows_recipe(**installer: Any) -> dict[str, Any]:
    entry = {"source": "tools.zip", "sha256": SHA, "directory": "C:\\Tools\\Demo", **installer}
    return {"name": "demo", "version": "1.0.0", "windows": {"installers": [entry]}}


GALLERY = {"name": "gallery", "resource_group": "rg", "location": "westeurope"}


@dataclass(frozen=True)
class Case:
    """A hostile input: the recipe (or gallery file) to write, extra CLI options, and what must be said.

    `says` are fragments of stderr; `{recipe}` and `{gallery}` stand for the files' paths, so the
    message names the file and the key."""

    id: str
    recipe: Callable[[Path], dict[str, Any]]
    says: tuple[str, ...]
    options: tuple[str, ...] = ()
    gallery: dict[str, Any] | None = None
    distro: str = DISTRO
    code: int = BAD_INPUT
    prepare: Callable[[Path], object] = field(default=lambda tmp: None)  # what it returns is ignored


def _tar(*members: tarfile.TarInfo) -> Callable[[Path], dict[str, Any]]:
    return lambda tmp: tarball_recipe(tmp, list(members))


def _dir(directory: str) -> Callable[[Path], dict[str, Any]]:
    return lambda tmp: tarball_recipe(tmp, directory=directory)


def _ok(tmp: Path) -> dict[str, Any]:
    return tarball_recipe(tmp)


def _file_at(relative: str) -> Callable[[Path], object]:
    return lambda tmp: (tmp / relative).write_text("a file\n")


def _dangling(tmp: Path) -> None:
    (tmp / "dist").symlink_to(tmp / "nowhere" / "dist")


R = "{recipe}: "
LOAD_CASES = [
    # -- names and versions ---------------------------------------------------------------------------
    Case("version-arabic-digits", lambda t: {**package_recipe(), "version": "\u0661.\u0660.\u0660"}, (R + "version",)),
    Case("version-fullwidth", lambda t: {**package_recipe(), "version": "\uff11.\uff10.\uff10"}, (R + "version",)),
    Case("version-trailing-newline", lambda t: {**package_recipe(), "version": "1.0.0\n"}, (R + "version",)),
    Case("name-rtl-override", lambda t: {**package_recipe(), "name": "app\u202e"}, (R + "name",)),
    Case("name-parent", lambda t: {**package_recipe(), "name": "../x"}, (R + "name",)),
    Case("description-nul", lambda t: {**package_recipe(), "description": "a\x00b"}, (R + "description", "NUL")),
    Case("check-nul", lambda t: package_recipe(check="true\x00rm -rf /"), (R + "linux.check", "NUL")),
    Case("package-release-pin", lambda t: package_recipe(packages=["jq/bookworm"]), (R + "linux.packages[0]", "NAME=")),
    Case("package-unicode-digit", lambda t: package_recipe(packages=["jq\u0661"]), (R + "linux.packages[0]",)),
    Case("package-option", lambda t: package_recipe(packages=["-o=APT::x"]), (R + "linux.packages[0]",)),
    # -- tarball directory ----------------------------------------------------------------------------
    Case("directory-tmp-dotdot", _dir("/tmp/.."), (R + "linux.tarball.directory", "that is /)")),
    Case("directory-root", _dir("/"), (R + "linux.tarball.directory", "system directory")),
    Case("directory-double-slash", _dir("//"), (R + "linux.tarball.directory", "system directory")),
    Case("directory-climbs-out", _dir("/usr/local/../.."), (R + "linux.tarball.directory", "that is /)")),
    Case("directory-etc", _dir("/etc/"), (R + "linux.tarball.directory", "system directory")),
    Case("directory-usr-bin", _dir("/usr/./bin"), (R + "linux.tarball.directory", "that is /usr/bin")),
    Case("directory-proc", _dir("/proc/self/cwd"), (R + "linux.tarball.directory", "system directory")),
    Case("directory-relative", _dir("opt/demo"), (R + "linux.tarball.directory", "absolute")),
    Case("directory-newline", _dir("/opt/demo\n/etc"), (R + "linux.tarball.directory", "line break")),
    Case("tarball-source-ftp", lambda t: tarball_recipe(t, source="ftp://h/x.tar.gz"), (R + "linux.tarball.source",)),
    # -- repositories: nothing may add a sources line, an option or a .repo section --------------------
    Case(
        "suite-newline",
        lambda t: repo_recipe(suite="stable main\ndeb [trusted=yes] http://127.0.0.1/ ./"),
        (R + "linux.repositories[0].suite",),
    ),
    Case("suite-option-block", lambda t: repo_recipe(suite="[trusted=yes]"), (R + "linux.repositories[0].suite",)),
    Case(
        "component-newline",
        lambda t: repo_recipe(components=["main\ndeb http://x/ ./"]),
        (R + "linux.repositories[0].components[0]",),
    ),
    Case(
        "architecture-bracket",
        lambda t: repo_recipe(architectures=["amd64] [trusted=yes"]),
        (R + "linux.repositories[0].architectures[0]",),
    ),
    Case(
        "url-newline",
        lambda t: repo_recipe(url="http://127.0.0.1/\nbaseurl=file:///"),
        (R + "linux.repositories[0].url",),
    ),
    Case("url-comma", lambda t: repo_recipe(url="http://127.0.0.1/a,file:///srv"), (R + "linux.repositories[0].url",)),
    Case("url-hash", lambda t: repo_recipe(url="http://127.0.0.1/a#x"), (R + "linux.repositories[0].url",)),
    Case(
        "url-unicode-space", lambda t: repo_recipe(url="http://127.0.0.1/a\u2028b"), (R + "linux.repositories[0].url",)
    ),
    Case("name-injects-gpgcheck", lambda t: repo_recipe(name="]\ngpgcheck=0\n["), (R + "linux.repositories[0].name",)),
    Case("name-parent-dir", lambda t: repo_recipe(name="../x"), (R + "linux.repositories[0].name",)),
    Case("name-slash", lambda t: repo_recipe(name="a/b"), (R + "linux.repositories[0].name",)),
    Case(
        "name-twice",
        lambda t: package_recipe(repositories=[repo_recipe()["linux"]["repositories"][0]] * 2),
        (R + "linux.repositories[1].name",),
    ),
    Case("key-newline", lambda t: repo_recipe(key="k.asc\nx"), (R + "linux.repositories[0].key",)),
    Case("key-file-url", lambda t: repo_recipe(key="file:///etc/shadow"), (R + "linux.repositories[0].key",)),
    Case("flat-with-components", lambda t: repo_recipe(suite="./"), (R + "linux.repositories[0].components",)),
    # -- gallery settings (--gallery FILE) ------------------------------------------------------------
    Case("gallery-name-newline", _ok, ("{gallery}: name",), gallery={**GALLERY, "name": "g\nx"}),
    Case("gallery-location-nul", _ok, ("{gallery}: location",), gallery={**GALLERY, "location": "west\x00europe"}),
    Case(
        "gallery-region-zero-width",
        _ok,
        ("{gallery}: target_regions[0].name",),
        gallery={
            **GALLERY,
            "target_regions": ["west\u200beurope"],
        },
    ),
    Case("gallery-description-rtl", _ok, ("{gallery}: description",), gallery={**GALLERY, "description": "a\u202eb"}),
    Case(
        "gallery-config-name-path",
        _ok,
        ("{gallery}: configuration.name",),
        gallery={
            **GALLERY,
            "configuration": {"file": "payload.tar.gz", "name": "../../etc/cron.d/x"},
        },
    ),
    Case(
        "gallery-container-control",
        _ok,
        ("{gallery}: storage.container",),
        gallery={
            **GALLERY,
            "storage": {"container": "vm\x1bapps"},
        },
    ),
    # -- Windows fields -------------------------------------------------------------------------------
    Case(
        "windows-dir-programfiles",
        lambda t: windows_recipe(directory="%ProgramFiles%"),
        (R + "windows.installers[0].directory",),
        distro="windows",
    ),
    Case(
        "windows-dir-drive",
        lambda t: windows_recipe(directory="C:\\"),
        (R + "windows.installers[0].directory",),
        distro="windows",
    ),
    Case(
        "windows-dir-windows",
        lambda t: windows_recipe(directory="c:\\windows\\"),
        (R + "windows.installers[0].directory",),
        distro="windows",
    ),
    Case(
        "windows-dir-dotdot",
        lambda t: windows_recipe(directory="C:\\Tools\\..\\Windows"),
        (R + "windows.installers[0].directory",),
        distro="windows",
    ),
    Case(
        "windows-guid-newline",
        lambda t: windows_recipe(source="app.msi", directory=None, remove=GUID + "\n"),
        (R + "windows.installers[0].remove",),
        distro="windows",
    ),
    Case(
        "windows-property-newline",
        lambda t: windows_recipe(source="a.msi", directory=None, properties={"A\n": "x"}),
        ("windows.installers[0].properties",),
        distro="windows",
    ),
    Case(
        "windows-sha-newline",
        lambda t: windows_recipe(sha256=SHA + "\n"),
        (R + "windows.installers[0].sha256",),
        distro="windows",
    ),
    Case(
        "windows-argument-escape",
        lambda t: windows_recipe(source="a.exe", directory=None, arguments=["/S\x1b"]),
        (R + "windows.installers[0].arguments[0]",),
        distro="windows",
    ),
    # -- CLI options ----------------------------------------------------------------------------------
    Case("size-kelvin-sign", _ok, ("--max-package-size", "'1\u212a'"), options=("--max-package-size", "1\u212a")),
    Case("size-arabic-digit", _ok, ("--max-package-size", "'\u0661M'"), options=("--max-package-size", "\u0661M")),
    Case(
        "out-under-a-file",
        _ok,
        ("not a directory", "--out"),
        options=("--out", "{tmp}/file/dist"),
        prepare=_file_at("file"),
    ),
    Case("out-is-a-file", _ok, ("not a directory", "--out"), options=("--out", "{tmp}/dist"), prepare=_file_at("dist")),
    Case("out-dangling-link", _ok, ("not a directory",), options=("--out", "{tmp}/dist/x"), prepare=_dangling),
    Case("distro-newline", _ok, ("unknown distro",), options=("--distro", "debian-12\n")),
    Case("image-newline", lambda t: package_recipe(), ("--image",), options=("--image", "debian:12\nx")),
    Case(
        "config-image-newline",
        lambda t: package_recipe(),
        ("{tmp}/cfg.toml: images.debian-12", "not an image reference"),
        options=("--config", "{tmp}/cfg.toml"),
        prepare=lambda tmp: (tmp / "cfg.toml").write_text('[images]\n"debian-12" = "debian:12\\nx"\n'),
    ),
    Case(
        "config-not-text",
        lambda t: package_recipe(),
        ("{tmp}/cfg.toml: cannot read configuration",),
        options=("--config", "{tmp}/cfg.toml"),
        prepare=lambda tmp: (tmp / "cfg.toml").write_bytes(b"\xff\xfe[images]\n"),
    ),
    Case(
        "baseline-missing",
        lambda t: package_recipe(),
        ("cannot read the baseline",),
        options=(
            "--baseline",
            "{tmp}/none.txt",
        ),
    ),
]


def _fifo_source(tmp: Path) -> dict[str, Any]:
    os.mkfifo(tmp / "pipe.tar.gz")
    return tarball_recipe(tmp, source="pipe.tar.gz")


BUILD_CASES = [  # the tarball is fetched and read before anything is written
    Case("source-fifo", _fifo_source, (R + "linux.tarball.source: ", "pipe.tar.gz is not a regular file")),
    Case("member-absolute", _tar(member("/etc/cron.d/evil")), ("linux.tarball", "'/etc/cron.d/evil' has an absolute")),
    Case("member-dotdot", _tar(member("../evil")), ("linux.tarball", "'..' component")),
    Case("member-dotdot-inside", _tar(member("app/../../evil")), ("linux.tarball", "'..' component")),
    Case("member-symlink-absolute", _tar(member("app/etc", tarfile.SYMTYPE, "/etc")), ("is a link to '/etc'",)),
    Case("member-symlink-climbs", _tar(member("app/x", tarfile.SYMTYPE, "../../etc")), ("is a link to '../../etc'",)),
    Case("member-hardlink-out", _tar(member("app/s", tarfile.LNKTYPE, "/etc/shadow")), ("is a link to '/etc/shadow'",)),
    Case("member-char-device", _tar(member("app/mem", tarfile.CHRTYPE)), ("'app/mem' is a device file",)),
    Case("member-fifo", _tar(member("app/pipe", tarfile.FIFOTYPE)), ("'app/pipe' is a device file or a FIFO",)),
    Case("member-newline", _tar(member("app/a\n/etc/passwd")), ("'app/a\\n/etc/passwd' has a name with a control",)),
    Case("member-tab", _tar(member("app/a\tb")), ("has a name with a control character",)),
    Case("member-escape", _tar(member("app/\x1b[2Jx")), ("has a name with a control character",)),
]


def _write(tmp: Path, case: Case) -> tuple[list[str], dict[str, str]]:
    """Write the case's files; the CLI's arguments and the paths that stand in the expected messages."""
    case.prepare(tmp)
    recipe = tmp / "recipe.yaml"
    data = {k: v for k, v in case.recipe(tmp).items()}
    for inst in data.get("windows", {}).get("installers", []):
        for k in [k for k, v in inst.items() if v is None]:
            del inst[k]
    recipe.write_text(yaml.safe_dump(data, allow_unicode=True))
    paths = {"recipe": str(recipe), "tmp": str(tmp), "gallery": str(tmp / "gallery.yaml")}
    options = [o.format(**paths) for o in case.options]
    if "--out" not in options:
        options += ["--out", str(tmp / "dist")]
    if case.gallery is not None:
        (tmp / "gallery.yaml").write_text(yaml.safe_dump(case.gallery, allow_unicode=True))
        options += ["--gallery", paths["gallery"]]
    distro = [] if "--distro" in options else ["--distro", case.distro]
    return ["recipe", str(recipe), *distro, *options], paths


def _check(case: Case, tmp: Path, env: dict[str, str] | None = None) -> None:
    before = files_under(tmp)
    argv, paths = _write(tmp, case)
    written = set(files_under(tmp)) - set(before)
    proc = run_cli(*argv, env=env, timeout=120)
    assert proc.returncode == case.code, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    for fragment in case.says:
        assert fragment.format(**paths) in proc.stderr, proc.stderr
    message = proc.stderr[proc.stderr.lower().rindex("error:") :]  # after click's usage lines, if any
    assert "\n\n" not in message.strip(), "one paragraph"
    assert set(files_under(tmp)) - set(before) == written, "nothing written"


@pytest.mark.parametrize("case", LOAD_CASES + BUILD_CASES, ids=lambda c: c.id)
def test_hostile_input_is_refused(case: Case, tmp_path: Path) -> None:
    # No engine: a case that reached for Docker would fail with 5, not the expected code.
    _check(case, tmp_path, env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"})


def test_the_table_is_adversarial_enough() -> None:
    assert len(LOAD_CASES) + len(BUILD_CASES) >= 40
    assert len({c.id for c in LOAD_CASES + BUILD_CASES}) == len(LOAD_CASES) + len(BUILD_CASES)


def test_a_tarball_with_safe_links_still_builds(tmp_path: Path) -> None:
    """The member checks refuse what leaves the directory, not links that stay inside it."""
    members = [member("app/", tarfile.DIRTYPE), member("app/bin/hello"), member("app/hi", tarfile.SYMTYPE, "bin/hello")]
    members += [
        member("app/lib/hi", tarfile.SYMTYPE, "../bin/hello"),
        member("app/h2", tarfile.LNKTYPE, "app/bin/hello"),
    ]
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(tarball_recipe(tmp_path, members)))
    proc = run_cli("recipe", tmp_path / "recipe.yaml", "--distro", DISTRO, "--out", tmp_path / "dist")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "dist" / "demo" / "1.0.0" / DISTRO / "manifest.json").is_file()


# -- a full disk, for real: a 256 KiB tmpfs ------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)]).returncode:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_out_on_a_full_disk(small_disk: Path, tmp_path: Path) -> None:
    payload = tmp_path / "payload.tar.gz"
    with tarfile.open(payload, "w:gz") as tar:
        data = os.urandom(1024 * 1024)  # incompressible: the package does not fit
        info = tarfile.TarInfo("app/blob")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    sha = hashlib.sha256(payload.read_bytes()).hexdigest()
    recipe: dict[str, Any] = {
        "name": "demo",
        "version": "1.0.0",
        "linux": {"tarball": {"source": str(payload), "sha256": sha}},
    }
    recipe["linux"]["tarball"]["directory"] = "/opt/demo"
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    proc = run_cli("recipe", tmp_path / "recipe.yaml", "--distro", DISTRO, "--out", small_disk / "dist")
    assert proc.returncode == BUILD_FAILED, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"under {small_disk} failed: No space left on device" in proc.stderr
    assert "choose another --out" in proc.stderr
    assert files_under(small_disk) == []


# -- the two that need apt: one container each, in the shared debian:12 image ---------------------------


def test_a_single_unknown_package(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    """Alone, `apt show` fails (beside a known package it only warns): still a package error, exit 2."""
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(package_recipe(packages=["nosuchpkg-vmapp"])))
    proc = run_cli("recipe", tmp_path / "recipe.yaml", "--distro", DISTRO, "--out", tmp_path / "dist")
    assert proc.returncode == BAD_INPUT, proc.stderr
    assert "package nosuchpkg-vmapp not found on debian-12" in proc.stderr
    assert "apt show" not in proc.stderr and "Traceback" not in proc.stderr
    assert files_under(tmp_path / "dist") == []


def test_a_repository_url_where_nothing_is(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    """Blamed on the URL and suite, by the repository's name, not on its key."""
    (tmp_path / "k.asc").write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n-----END PGP PUBLIC KEY BLOCK-----\n")
    recipe = repo_recipe(url="file:///srv/no-such-repository/", suite="stable")
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    proc = run_cli("recipe", tmp_path / "recipe.yaml", "--distro", DISTRO, "--out", tmp_path / "dist")
    assert proc.returncode == BUILD_FAILED, proc.stderr
    assert "repository vendor (file:///srv/no-such-repository/ stable): it has no Release file" in proc.stderr
    assert "nothing is there" in proc.stderr and "check the url" in proc.stderr
    assert "signature" not in proc.stderr.split("apt says:")[0]
    assert files_under(tmp_path / "dist") == []


# -- properties ----------------------------------------------------------------------------------------

# dash keeps no NUL in a string, and an unpaired surrogate is no text: the loader refuses both.
any_text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"))
sh_settings = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@sh_settings
@given(value=any_text | st.sampled_from([s for s in HOSTILE if "\x00" not in s]))
def test_sh_quoting_gives_back_any_string(value: str) -> None:
    """Rendered through the same filter and compaction as every template, dash prints the value back."""
    command = compact(environment().from_string("set -eu\nprintf '%s' {{ v | sh }}\n").render(v=value))
    proc = subprocess.run(["dash", "-c", command], capture_output=True, timeout=10)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode("utf-8", "surrogateescape") == value


def _tarball_section(directory: str) -> dict[str, str]:
    return {"source": "a.tgz", "sha256": SHA, "directory": directory}


FIELDS: dict[str, Callable[[str], dict[str, Any]]] = {
    "name": lambda v: {**package_recipe(), "name": v},
    "version": lambda v: {**package_recipe(), "version": v},
    "description": lambda v: {**package_recipe(), "description": v},
    "linux.check": lambda v: package_recipe(check=v),
    "linux.packages[0]": lambda v: package_recipe(packages=[v]),
    "linux.tarball.directory": lambda v: {
        **package_recipe(),
        "linux": {"tarball": {"source": "a.tgz", "sha256": SHA, "directory": v}},
    },
    "linux.repositories[0].suite": lambda v: repo_recipe(suite=v),
    "linux.repositories[0].name": lambda v: repo_recipe(name=v),
    "linux.repositories[0].url": lambda v: repo_recipe(url=v),
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field_name=st.sampled_from(sorted(FIELDS)), value=st.text() | st.sampled_from(HOSTILE))
@example(field_name="description", value="\x85")  # NEL: YAML reads it as a line break
def test_recipe_loader_keeps_or_refuses_any_string(field_name: str, value: str, tmp_path: Path) -> None:
    """Any string in any field: the recipe keeps it exactly, or a RecipeError names the file and the key."""
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(FIELDS[field_name](value), allow_unicode=True), encoding="utf-8")
    # What YAML itself reads back is the value the loader sees: PyYAML writes U+0085 (NEL) unescaped
    # with allow_unicode, and YAML reads it as a line break, folded to a space.
    value = yaml.safe_load(yaml.safe_dump({"v": value}, allow_unicode=True))["v"]
    try:
        recipe = load_recipe(path)
    except RecipeError as exc:
        assert exc.path == path or str(exc.path) == str(path)
        assert exc.key == field_name or exc.key.startswith(field_name.split("[")[0]), (exc.key, exc.message)
        return
    linux = recipe.linux
    assert linux is not None
    kept = {
        "name": recipe.name,
        "version": recipe.version,
        "description": recipe.description,
        "linux.check": linux.check,
        "linux.packages[0]": linux.packages[0] if linux.packages else None,
        "linux.tarball.directory": linux.tarball.directory if linux.tarball else None,
        "linux.repositories[0].suite": linux.repositories[0].suite if linux.repositories else None,
        "linux.repositories[0].name": linux.repositories[0].name if linux.repositories else None,
        "linux.repositories[0].url": linux.repositories[0].url if linux.repositories else None,
    }[field_name]
    if field_name == "linux.tarball.directory":  # kept normalised: /opt/x/ and /opt/./x are /opt/x
        value = "/" + posixpath.normpath(value).lstrip("/")
    assert kept == value
