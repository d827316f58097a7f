"""Tarball payloads (the seed's .tar/.gz case): fetched, checked, extracted, removed exactly."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import re
import shutil
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from builder.container import Container
from builder.errors import InputError, VerifyError
from builder.lifecycle import Build, Replay, load_build
from builder.pipeline import build
from builder.plan import make_plan
from builder.recipe import load_recipe
from builder.verify import verify
from tests.conftest import DISTRO, files_under, run_cli, write_recipe
from tests.narrow import package_report


def make_tarball(path: Path, members: dict[str, str]) -> str:
    """A .tar.gz with directory entries, as release tarballs have them; returns its sha256."""
    with tarfile.open(path, "w:gz") as tar:
        dirs = sorted({str(Path(name).parent) + "/" for name in members if "/" in name})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


HELLO = "#!/bin/sh\necho hello {v}\n"


def recipe_text(version: str, source: str, sha256: str) -> str:
    return (
        f"name: hello\nversion: {version}\nlinux:\n"
        f'  tarball:\n    source: {source}\n    sha256: "{sha256}"\n    directory: /usr/local\n'
        "  check: /usr/local/hello/bin/hello\n"
    )


def test_tarball_builds_as_itself_and_verifies(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    sha = make_tarball(tmp_path / "hello.tar.gz", {"hello/bin/hello": HELLO.format(v=1), "hello/README": "hi\n"})
    recipe = write_recipe(tmp_path, recipe_text("1.0.0", "hello.tar.gz", sha))
    result = build(make_plan(load_recipe(recipe), DISTRO, tmp_path / "dist"))
    assert result.package.read_bytes() == (tmp_path / "hello.tar.gz").read_bytes()
    assert result.document["packageFileName"] == "hello.tar.gz"
    assert result.document["tarball"]["directory"] == "/usr/local"
    assert "tar -tzf" in result.document["commands"]["install"]

    report = package_report(verify(result.manifest.parent, client=docker_client))
    assert [s for s, _ in report.steps] == ["install", "check", "remove", "check after remove"]
    assert "hello 1" in dict(report.steps)["check"].stdout
    assert report.after_install == report.before  # no package touched


def test_update_replaces_the_older_version(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    old_sha = make_tarball(tmp_path / "old.tar.gz", {"hello/bin/hello": HELLO.format(v=1), "hello/old-only": "x"})
    new_sha = make_tarball(tmp_path / "new.tar.gz", {"hello/bin/hello": HELLO.format(v=2)})
    old = write_recipe(tmp_path, recipe_text("1.0.0", "old.tar.gz", old_sha), "old.yaml")
    new = write_recipe(tmp_path, recipe_text("2.0.0", "new.tar.gz", new_sha), "new.yaml")
    out = tmp_path / "dist"
    old_build = build(make_plan(load_recipe(old), DISTRO, out))
    new_build = build(make_plan(load_recipe(new), DISTRO, out))
    # remove (run by verify after the update) restores /usr/local, so old-only went with the update
    report = verify(new_build.manifest.parent, update_from=old_build.manifest.parent, client=docker_client)
    assert "hello 2" in dict(report.steps)["check"].stdout
    steps = [name for name, _ in report.steps]
    assert "owner writes /usr/local/owner-file-of-vmapp-verify" in steps  # kept by the last remove
    assert "remove-for-update 1.0.0" in steps


def test_members_outside_the_directory_are_refused(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    """At build (tests/test_hostile_input.py has every kind), and again on the VM: a package changed
    after its build, manifest and all, is still refused by install."""
    sha = make_tarball(tmp_path / "evil.tar.gz", {"hello/bin/hello": HELLO.format(v=1), "../etc/evil": "x"})
    recipe = write_recipe(tmp_path, recipe_text("1.0.0", "evil.tar.gz", sha))
    with pytest.raises(InputError, match=re.escape("member '../etc' has a '..' component")):
        build(make_plan(load_recipe(recipe), DISTRO, tmp_path / "dist"))
    assert files_under(tmp_path / "dist") == []

    good = make_tarball(tmp_path / "hello.tar.gz", {"hello/bin/hello": HELLO.format(v=1)})
    result = build(
        make_plan(
            load_recipe(write_recipe(tmp_path, recipe_text("1.0.0", "hello.tar.gz", good))), DISTRO, tmp_path / "dist"
        )
    )
    shutil.copy(tmp_path / "evil.tar.gz", result.package)
    document = json.loads(result.manifest.read_text())
    document["package"].update(sha256=sha, size=result.package.stat().st_size)
    result.manifest.write_text(json.dumps(document))
    with pytest.raises(VerifyError, match="members outside the target directory"):
        verify(result.manifest.parent, client=docker_client)


def test_checksum_mismatch_fails_before_anything_is_written(tmp_path: Path) -> None:
    make_tarball(tmp_path / "hello.tar.gz", {"hello/bin/hello": HELLO.format(v=1)})
    recipe = write_recipe(tmp_path, recipe_text("1.0.0", "hello.tar.gz", "0" * 64))
    out = tmp_path / "dist"
    proc = run_cli("recipe", recipe, "--distro", DISTRO, "--out", out)
    assert proc.returncode == 2, proc.stderr
    assert "SHA-256 mismatch: the recipe says 0000" in proc.stderr
    assert files_under(out) == []
    assert not list(tmp_path.glob(".vmapp-build-*"))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """The test's own HTTP server on loopback, serving tmp_path."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_tarball_from_a_url(served: str, tmp_path: Path) -> None:
    sha = make_tarball(tmp_path / "hello.tar.gz", {"hello/bin/hello": HELLO.format(v=1)})
    recipe = write_recipe(tmp_path, recipe_text("1.0.0", f"{served}/hello.tar.gz", sha))
    proc = run_cli("recipe", recipe, "--distro", DISTRO, "--out", tmp_path / "dist")
    assert proc.returncode == 0, proc.stderr
    built = tmp_path / "dist/hello/1.0.0/debian-12/hello.tar.gz"
    assert built.read_bytes() == (tmp_path / "hello.tar.gz").read_bytes()
    proc = run_cli(
        "recipe",
        write_recipe(tmp_path, recipe_text("1.0.0", f"{served}/absent.tar.gz", sha), "r2.yaml"),
        "--distro",
        DISTRO,
        "--out",
        tmp_path / "dist2",
    )
    assert proc.returncode == 3
    assert "HTTP 404" in proc.stderr


def tool_recipe(version: str, source: str, sha256: str, directory: str) -> str:
    return (
        f"name: tool\nversion: {version}\nlinux:\n"
        f'  tarball:\n    source: {source}\n    sha256: "{sha256}"\n    directory: {directory}\n'
    )


@pytest.fixture(scope="module")
def tool_builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Build]:
    """tool 1.0.0 and 2.0.0 into /opt/vendor/tool (which debian:12 lacks; /opt exists, empty), and
    1.0.0 into /usr/local (whose bin/ exists, empty): install must not leave or take directories."""
    root = tmp_path_factory.mktemp("tool")
    members = {
        "1.0.0": {"bin/tool": HELLO.format(v=1), "share/tool/old-only": "x"},
        "2.0.0": {"bin/tool": HELLO.format(v=2), "lib/tool/new-only": "y"},
    }
    builds = {}
    for version, files in members.items():
        for directory, key in (("/opt/vendor/tool", version), ("/usr/local", f"{version}-usr-local")):
            sha = make_tarball(root / f"tool-{version}.tar.gz", files)
            text = tool_recipe(version, f"tool-{version}.tar.gz", sha, directory)
            recipe = write_recipe(root, text, f"tool-{key}.yaml")
            result = build(make_plan(load_recipe(recipe), DISTRO, root / key))
            builds[key] = load_build(result.manifest.parent)
    return builds


def test_remove_deletes_the_directories_install_created(
    docker_client: docker.DockerClient, tool_builds: dict[str, Build]
) -> None:
    """A directory that did not exist (/opt/vendor/tool) goes with remove; one that did (/usr/local/bin,
    empty on debian:12) stays."""
    for key in ("1.0.0", "1.0.0-usr-local"):
        with Container(docker_client, "debian:12", "verify", network=False) as c:
            replay = Replay.start(c, tool_builds[key])
            replay.install(tool_builds[key])
            replay.remove()
            assert replay.problems == [], replay.problems
    with Container(docker_client, "debian:12", "verify", network=False) as c:
        assert c.run(["test", "-d", "/usr/local/bin"], "look").exit_code == 0


def test_tarball_across_the_lifecycle(docker_client: docker.DockerClient, tool_builds: dict[str, Build]) -> None:
    """install 1.0.0 -> update 2.0.0 -> remove; 1.0.0 again over its stale directory -> the owner adds
    a file in a directory install created -> RemoveForUpdate to 2.0.0 -> remove: the owner's file and
    its directories stay, nothing of either version does, and 1.0.0-only files went with the update."""
    old, new = tool_builds["1.0.0"], tool_builds["2.0.0"]
    with Container(docker_client, "debian:12", "verify", network=False) as c:
        replay = Replay.start(c, old)
        replay.install(old)
        replay.update(new)
        assert c.run(["test", "-e", "/opt/vendor/tool/share/tool/old-only"], "look", check=False).exit_code == 1
        replay.remove()
        replay.install(old)
        replay.owner_writes("/opt/vendor/tool/bin/owner.txt")
        replay.update(new, remove_for_update=True)
        assert "hello 2" in c.run(["/opt/vendor/tool/bin/tool"], "run").stdout
        replay.remove()
        assert c.run(["cat", "/opt/vendor/tool/bin/owner.txt"], "look").stdout == "owner\n"
        assert c.run(["ls", "-A", "/opt/vendor/tool"], "look").stdout.split() == ["bin"]
        assert replay.problems == [], replay.problems


def test_a_target_directory_with_spaces_quotes_and_backslashes(
    docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    """Created directories are found however the target is spelled (awk -v would read `\\t` as a tab)."""
    sha = make_tarball(tmp_path / "tool.tar.gz", {"bin/tool": HELLO.format(v=1)})
    directory = "/opt/my tool's\\tdir"
    text = tool_recipe("1.0.0", "tool.tar.gz", sha, "'" + directory.replace("'", "''") + "'")
    result = build(make_plan(load_recipe(write_recipe(tmp_path, text)), DISTRO, tmp_path / "dist"))
    built = load_build(result.manifest.parent)
    assert built.target_directory == directory
    with Container(docker_client, "debian:12", "verify", network=False) as c:
        replay = Replay.start(c, built)
        replay.install(built)
        assert "hello 1" in c.run([f"{directory}/bin/tool"], "run").stdout
        replay.remove()
        replay.fail_on_problems()
        assert c.run(["ls", "-A", "/opt"], "look").stdout == ""


def test_member_names_beyond_ascii_are_removed(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    """tar -t escapes non-ASCII bytes and backslashes by default: remove must still find each file."""
    names = {"hello/bin/hello": HELLO.format(v=1), "hello/ünïcödé ✓.txt": "u", "hello/back\\slash": "b"}
    sha = make_tarball(tmp_path / "hello.tar.gz", names)
    result = build(
        make_plan(
            load_recipe(write_recipe(tmp_path, recipe_text("1.0.0", "hello.tar.gz", sha))), DISTRO, tmp_path / "dist"
        )
    )
    built = load_build(result.manifest.parent)
    with Container(docker_client, "debian:12", "verify", network=False) as c:
        replay = Replay.start(c, built)
        replay.install(built)
        replay.remove()
        replay.fail_on_problems()


def test_a_member_name_with_a_line_break_is_refused(tmp_path: Path) -> None:
    """The ledger keeps one name a line: a line break in a name is refused at build, nothing written
    (the install string refuses it too, for a package swapped after the build)."""
    sha = make_tarball(tmp_path / "hello.tar.gz", {"hello/bin/hello": HELLO.format(v=1), "hello/a\nbin": "x"})
    plan = make_plan(
        load_recipe(write_recipe(tmp_path, recipe_text("1.0.0", "hello.tar.gz", sha))), DISTRO, tmp_path / "dist"
    )
    with pytest.raises(InputError, match="control character"):
        build(plan)
    assert not (tmp_path / "dist").exists()
