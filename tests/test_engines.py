"""More than one engine, and --jobs: `recipe` builds its targets in parallel with a serial run's output,
on a second Docker engine that the test starts itself (dockerd in a container, reached over TCP on the
test's own network), and spread over two engines in turn. Packages are compared byte for byte with
builds on the local engine."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from docker.errors import DockerException

from builder.container import LABEL, Container
from tests.conftest import REPO, SESSION, run_cli, write_recipe
from tests.test_tarball import make_tarball

DIND_IMAGE = "vmapp-test/dind:12"
DISTROS = ("debian-12", "debian-11")
# Every capability Docker 20.10 knows but SYS_RESOURCE, outside the engine's bounding set here, which
# makes --privileged fail ("unable to apply caps"); with these, nested dockerd and runc work.
CAPABILITIES = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
]
# HostConfig fields (the engine's API names): what --privileged gives dind, but SYS_RESOURCE.
NESTED = {
    "CapAdd": CAPABILITIES,
    "SecurityOpt": ["seccomp=unconfined", "apparmor=unconfined"],
    "MaskedPaths": [],  # /proc and /sys as they are (the CLI's --security-opt systempaths=unconfined)
    "ReadonlyPaths": [],
    "CgroupnsMode": "private",  # its own cgroup tree, mounted read-write by start-dockerd
    "DeviceCgroupRules": ["a *:* rwm"],
}


@dataclass(frozen=True)
class Dind:
    url: str
    client: docker.DockerClient


@pytest.fixture(scope="session")
def dind(docker_client: docker.DockerClient) -> Iterator[Dind]:
    """A second engine: dockerd in a container of vmapp-test/dind:12 on a network of its own, over TCP.
    The image is rebuilt from tests/images/dind when it changed (else the build cache answers in a second)."""
    docker_client.images.build(path=str(REPO / "tests/images/dind"), tag=DIND_IMAGE, rm=True, forcerm=True)
    network = docker_client.networks.create(f"vmapp-test-engines-{uuid.uuid4().hex[:8]}")
    try:
        with Container(docker_client, DIND_IMAGE, "dind", labelled=False, host=NESTED) as box:
            network.connect(box.name)
            box.handle.exec_run(["start-dockerd", *_nameservers()], detach=True)
            box.handle.reload()
            ip = box.handle.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
            url = f"tcp://{ip}:2375"
            yield Dind(url, _wait_for_engine(url, box))
    finally:
        network.remove()


def _nameservers() -> list[str]:
    """The host's resolvers, as the local engine gives its containers (not a loopback one)."""
    text = Path("/etc/resolv.conf").read_text()
    return [s for s in re.findall(r"^nameserver\s+(\S+)", text, re.M) if not s.startswith("127.")]


def _wait_for_engine(url: str, box: Container) -> docker.DockerClient:
    deadline = time.monotonic() + 60
    while True:
        try:
            client = docker.DockerClient(base_url=url, timeout=600)
            client.ping()
            return client
        except DockerException:
            if time.monotonic() > deadline:
                log = box.run(["cat", "/var/log/dockerd.log"], "dockerd's log", check=False).output
                raise AssertionError(f"the nested dockerd did not answer at {url}:\n{log[-3000:]}") from None
            time.sleep(0.5)


@pytest.fixture(scope="module")
def serial(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """jq for both distros on the local engine, one after the other: the reference run."""
    out = tmp_path_factory.mktemp("serial")
    return out, _recipe(out, *_distro_args())[0]


def _distro_args() -> list[str]:
    return [arg for d in DISTROS for arg in ("--distro", d)]


def _recipe(out: Path, *args: str) -> tuple[str, str]:
    """stdout (OUT for the output root) and stderr of a successful `recipe jq`."""
    proc = run_cli("recipe", "jq", "--out", out, *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.replace(str(out), "OUT"), proc.stderr


def _package(out: Path, distro: str) -> bytes:
    [package] = (out / "jq").glob(f"*/{distro}/jq.tar.gz")
    return package.read_bytes()


def _started(client: docker.DockerClient, since: float, purpose: str = "build") -> list[str]:
    """The images of the containers for `purpose` this session created on the engine since `since`.
    Only for the test's own engine: a shared engine keeps just its last 256 events."""
    label = [f"{LABEL}.purpose={purpose}", f"{LABEL}.session={SESSION}"]
    filters = {"type": "container", "event": "create", "label": label}
    events = client.events(since=int(since), until=int(time.time()) + 1, filters=filters, decode=True)
    return [str(event["Actor"]["Attributes"]["image"]) for event in events]


def _image_id(client: docker.DockerClient, image: str) -> str:
    return str(client.images.get(image).id)


def test_jobs_prints_a_serial_runs_output_and_builds_the_same_packages(
    serial: tuple[Path, str], tmp_path: Path
) -> None:
    reference, serial_stdout = serial
    stdout, _ = _recipe(tmp_path, *_distro_args(), "--jobs", "2")
    assert stdout == serial_stdout
    for distro in DISTROS:
        assert _package(tmp_path, distro) == _package(reference, distro)


def test_builds_on_a_second_engine(serial: tuple[Path, str], dind: Dind, tmp_path: Path) -> None:
    reference, _ = serial
    since = time.time()
    stdout, _ = _recipe(tmp_path, "--distro", "debian-12", "--engine", dind.url, "--verify")
    assert "built OUT/jq/" in stdout
    assert "verified jq 1.0.0" in stdout
    # build and verify ran there, from the local debian:12 copied over (no registry has it), with its id
    image = _image_id(dind.client, "debian:12")
    assert _started(dind.client, since) == [image]
    assert _started(dind.client, since, "verify") == [image]
    assert _package(tmp_path, "debian-12") == _package(reference, "debian-12")


def test_spreads_builds_over_two_engines(
    serial: tuple[Path, str], dind: Dind, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    reference, serial_stdout = serial
    since = time.time()
    stdout, stderr = _recipe(tmp_path, *_distro_args(), "--jobs", "2", "--engine", "default", "--engine", dind.url)
    assert stdout == serial_stdout
    assert _started(dind.client, since) == [_image_id(docker_client, "debian:11")]  # the second target only
    assert "jq for debian-12 on default: built" in stderr  # one progress line each
    assert f"jq for debian-11 on {dind.url}: built" in stderr
    for distro in DISTROS:
        assert _package(tmp_path, distro) == _package(reference, distro)


def test_rebuild_builds_on_the_engine_given(serial: tuple[Path, str], dind: Dind, tmp_path: Path) -> None:
    reference, _ = serial
    since = time.time()
    proc = run_cli("rebuild", "jq", "--distro", "debian-12", "--engine", dind.url, "--no-verify", "--out", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _started(dind.client, since) == [_image_id(dind.client, "debian:12")]
    assert _package(tmp_path, "debian-12") == _package(reference, "debian-12")


@pytest.mark.parametrize("command", ["recipe", "rebuild"])
@pytest.mark.parametrize("engine", ["tcp://127.0.0.1:1", "ssh://nobody@127.0.0.1:1", "no-such-context"])
def test_an_engine_that_does_not_answer_stops_the_run_before_any_build(
    command: str, engine: str, tmp_path: Path
) -> None:
    proc = run_cli(command, "jq", "--distro", "debian-12", "--engine", engine, "--out", tmp_path / "out", timeout=120)
    assert proc.returncode == 5, proc.stderr
    assert engine in proc.stderr
    assert "built" not in proc.stdout
    assert not (tmp_path / "out").exists()


# -- --jobs without an engine: tarball and Windows payloads need none -----------------------------------


def _tarball_recipe(directory: Path, sha256: str | None = None, windows: bool = False) -> Path:
    """A recipe whose Linux payload is a tarball (sha256: its own, or the one given); with `windows`,
    an installer too."""
    make_tarball(directory / "tool.tar.gz", {"tool/bin/tool": "#!/bin/sh\necho tool\n"})
    sha = sha256 or hashlib.sha256((directory / "tool.tar.gz").read_bytes()).hexdigest()
    text = f'name: tool\nversion: 1.0.0\nlinux:\n  tarball:\n    source: tool.tar.gz\n    sha256: "{sha}"\n'
    text += "    directory: /opt/vendor\n"
    if windows:
        (directory / "setup.exe").write_bytes(b"MZ installer bytes")
        exe_sha = hashlib.sha256(b"MZ installer bytes").hexdigest()
        text += f'windows:\n  installers:\n    - source: setup.exe\n      sha256: "{exe_sha}"\n'
        text += "      arguments: [/S]\n      remove: 'uninstall.exe /S'\n"
    return write_recipe(directory, text)


def test_jobs_output_is_a_serial_runs_without_an_engine(tmp_path: Path) -> None:
    recipe = _tarball_recipe(tmp_path)
    runs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out-{jobs}"
        proc = run_cli("recipe", recipe, *_distro_args(), "--jobs", jobs, "--out", out)
        assert proc.returncode == 0, proc.stderr
        runs[jobs] = proc.stdout.replace(str(out), "OUT")
        assert ("tool for debian-11: built" in proc.stderr) == (jobs == "2")  # progress lines: parallel runs
    assert runs["1"] == runs["2"]
    assert runs["1"].count("built OUT/tool/1.0.0/") == 2
    for distro in DISTROS:
        serial, parallel = (tmp_path / f"out-{j}/tool/1.0.0/{distro}/tool.tar.gz" for j in ("1", "2"))
        assert serial.read_bytes() == parallel.read_bytes()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_failing_target_does_not_stop_the_others(tmp_path: Path, jobs: str) -> None:
    recipe = _tarball_recipe(tmp_path, sha256="0" * 64, windows=True)
    out = tmp_path / "out"
    proc = run_cli("recipe", recipe, "--distro", "debian-12", "--distro", "windows", "--jobs", jobs, "--out", out)
    assert proc.returncode == 2, proc.stderr  # the tarball's sha256 mismatch: bad input
    assert (out / "tool/1.0.0/windows/setup.exe").is_file()  # the target after it was built all the same
    assert re.search(r"^debian-12 +- +- +failed \(exit 2\)$", proc.stdout, re.M)
    assert "error: debian-12: " in proc.stderr
    assert "error: 1 of 2 failed (exit 2: the highest failure's code)" in proc.stderr
