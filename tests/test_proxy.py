"""The shared caching proxy (issue 13): `--proxy`, $VMAPP_BUILD_PROXY and `[build] proxy` checked and carried
to the build containers only; and, for real, Debian's apt-cacher-ng started by scripts/cache-proxy.sh from
its locally built image: builds through it are byte for byte those without, its log shows every package go
through it once and a second builder served from its cache, and an unreachable proxy is named."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from builder.catalogue import catalogue
from builder.container import Container
from builder.errors import BuildError, InputError
from builder.pipeline import BuildResult, build
from builder.plan import BuildPlan, Release, make_plan
from builder.proxy import check_proxy, configured_proxy, proxy_environment
from builder.rebuild import run as rebuild_run
from builder.rebuild.check import SAME_CLOSURE, check
from builder.recipe import load_recipe
from tests.conftest import DISTRO, REPO, SESSION, run_cli
from tests.rpm_images import served_repository, vt_recipe

HOSTILE = json.loads(Path("/work/shared/data/hostile-strings.json").read_text())["strings"]
CLEAN = re.compile(r"http://[A-Za-z0-9.-]+(?::[0-9]{1,5})?", re.ASCII)


# -- the URL, the option, the variable and the config file ----------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://10.0.0.5:3142", "http://10.0.0.5:3142"),
        ("http://10.0.0.5:3142/", "http://10.0.0.5:3142"),
        ("http://proxy.example.org", "http://proxy.example.org"),
        ("http://acng:03142", "http://acng:3142"),
        ("http://[fd00::5]:3142", "http://[fd00::5]:3142"),
    ],
)
def test_proxy_urls_are_normalised(value: str, expected: str) -> None:
    assert check_proxy(value, "--proxy") == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("https://10.0.0.5:3142", "https proxies are not supported"),
        ("10.0.0.5:3142", "not a proxy URL"),
        ("http://user:secret@10.0.0.5:3142", "not a proxy URL"),
        ("http://10.0.0.5:3142/path", "not a proxy URL"),
        ("http://10.0.0.5:0", "not a proxy URL"),
        ("http://10.0.0.5:65536", "not a proxy URL"),
        ("http://-dash.example", "not a proxy URL"),
        ("http://127.0.0.1:3142", "is the container itself"),
        ("http://localhost:3142", "is the container itself"),
        ("http://[::1]:3142", "is the container itself"),
    ],
)
def test_bad_proxy_urls_are_refused_naming_where(value: str, problem: str) -> None:
    with pytest.raises(InputError, match=re.escape(problem)) as raised:
        check_proxy(value, "vmapp-build.toml: build.proxy")
    assert str(raised.value).startswith(f"vmapp-build.toml: build.proxy: {value!r}")
    assert raised.value.hint


def test_hostile_strings_are_refused_or_clean() -> None:
    """Nothing but http://HOST[:PORT] gets through, whatever is put before, in or after the host."""
    for text in HOSTILE:
        for value in (text, f"http://{text}", f"http://{text}:3142", f"http://proxy:3142/{text}", f"http://p{text}"):
            try:
                checked = check_proxy(value, "--proxy")
            except InputError as exc:
                assert "--proxy: " in str(exc)
                continue
            assert CLEAN.fullmatch(checked), (value, checked)


def test_environment_only_with_a_proxy() -> None:
    assert proxy_environment(None) == {}
    names = {"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"}
    assert proxy_environment("http://10.0.0.5:3142") == dict.fromkeys(names, "http://10.0.0.5:3142")


def test_config_file_build_proxy(tmp_path: Path) -> None:
    config = tmp_path / "vmapp-build.toml"
    config.write_text('[images]\ndebian-12 = "debian:12"\n[build]\nproxy = "http://10.0.0.5:3142/"\n')
    assert configured_proxy(config) == "http://10.0.0.5:3142"
    plan = make_plan(load_recipe("jq"), DISTRO, tmp_path, config_path=config)
    assert isinstance(plan, BuildPlan) and plan.proxy == "http://10.0.0.5:3142"
    overridden = make_plan(load_recipe("jq"), DISTRO, tmp_path, config_path=config, proxy="http://b:1")
    assert isinstance(overridden, BuildPlan) and overridden.proxy == "http://b:1"
    config.write_text('[build]\nproxy = "http://a b"\n')
    with pytest.raises(InputError, match=re.escape(f"{config}: build.proxy: 'http://a b': not a proxy URL")):
        configured_proxy(config)
    config.write_text("[build]\nproxy = 3142\n")
    with pytest.raises(InputError, match=r"build\.proxy: expected a string"):
        configured_proxy(config)
    config.write_text('build = "http://10.0.0.5"\n')
    with pytest.raises(InputError, match="build: expected a table"):
        configured_proxy(config)
    config.write_text("[images]\n")
    assert configured_proxy(config) is None


def test_the_proxy_is_never_recorded(tmp_path: Path) -> None:
    """The plan carries it to the containers; the manifest's sections (and so lock and SBOM) never see it."""
    plan = make_plan(load_recipe("jq"), DISTRO, tmp_path, proxy="http://10.0.0.5:3142")
    assert isinstance(plan, BuildPlan) and plan.proxy == "http://10.0.0.5:3142"
    assert "10.0.0.5" not in json.dumps(plan.manifest_sections())
    assert "proxy        http://10.0.0.5:3142" in plan.describe()


def test_rebuild_plans_carry_the_proxy(tmp_path: Path) -> None:
    """`rebuild --proxy` reaches the plans its check and its builds run (builder.rebuild.run)."""
    (entry,) = catalogue(("jq",), (DISTRO,))
    release = Release("1.0.1", "patch", "1.0.0", "1.0.0")
    plan = rebuild_run._plan(entry, rebuild_run.Options(tmp_path, proxy="http://10.0.0.5:3142"), release)
    assert isinstance(plan, BuildPlan) and plan.proxy == "http://10.0.0.5:3142"


def test_cli_option_and_variable() -> None:
    shown = run_cli("recipe", "jq", "--distro", DISTRO, "--dry-run", "--proxy", "http://10.0.0.5:3142")
    assert shown.returncode == 0, shown.stderr
    assert "proxy        http://10.0.0.5:3142" in shown.stdout
    by_env = run_cli("recipe", "jq", "--distro", DISTRO, "--dry-run", env={"VMAPP_BUILD_PROXY": "http://p.example"})
    assert "proxy        http://p.example" in by_env.stdout
    for command in (["recipe", "jq", "--distro", DISTRO, "--dry-run"], ["rebuild", "jq"]):
        refused = run_cli(*command, "--proxy", "http://x;$(id)")
        assert refused.returncode == 2
        assert "--proxy: 'http://x;$(id)': not a proxy URL" in refused.stderr
        refused = run_cli(*command, env={"VMAPP_BUILD_PROXY": "http://x\ny"})
        assert refused.returncode == 2
        assert "VMAPP_BUILD_PROXY: 'http://x\\ny': not a proxy URL" in refused.stderr


# -- apt-cacher-ng for real -----------------------------------------------------------------------
@dataclass(frozen=True)
class Proxy:
    name: str
    address: str  # on the engine's default bridge, where the build containers are

    @property
    def url(self) -> str:
        return f"http://{self.address}:3142"

    def log(self) -> list[tuple[str, str]]:
        """apt-cacher-ng's log as (I|O, path): I fetched from upstream, O served to a builder."""
        text = subprocess.run(
            ["docker", "exec", self.name, "cat", "/var/log/apt-cacher-ng/apt-cacher.log"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return [(f[1], f[4]) for f in (line.split("|") for line in text.splitlines()) if len(f) == 5]


def _start(name: str) -> str:
    env = {"VMAPP_PROXY_NAME": name, "VMAPP_PROXY_VOLUME": name, "VMAPP_PROXY_PORT": "127.0.0.1:"}
    started = subprocess.run(
        ["sh", str(REPO / "scripts/cache-proxy.sh")],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert started.returncode == 0, started.stderr
    return started.stdout


@pytest.fixture(scope="session")
def cache_proxy(docker_client: docker.DockerClient) -> Iterator[Proxy]:
    """apt-cacher-ng from vmapp-build/apt-cacher-ng:12 (built once by the script, kept), with a cold cache
    volume of its own, published on loopback only; removed with its volume at the end."""
    name = f"vmapp-test-proxy-{SESSION}"
    try:
        _start(name)
        container = docker_client.containers.get(name)
        address = container.attrs["NetworkSettings"]["IPAddress"]
        _wait_until_serving(docker_client, address)
        yield Proxy(name, address)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        subprocess.run(["docker", "volume", "rm", name], capture_output=True)


def _wait_until_serving(client: docker.DockerClient, address: str) -> None:
    for _ in range(50):
        with Container(client, "debian:12", "proxy-probe") as box:
            probe = box.run(["bash", "-c", f"exec 3<>/dev/tcp/{address}/3142"], "probe", check=False)
        if probe.exit_code == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"apt-cacher-ng does not answer on {address}:3142")


def test_cache_proxy_script_is_idempotent(cache_proxy: Proxy, docker_client: docker.DockerClient) -> None:
    before = docker_client.containers.get(cache_proxy.name)
    assert before.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert before.attrs["Mounts"][0]["Name"] == cache_proxy.name  # the named cache volume
    again = _start(cache_proxy.name)
    assert docker_client.containers.get(cache_proxy.name).id == before.id
    assert "is running" in again


def test_build_through_the_proxy_is_byte_identical_and_cached(
    cache_proxy: Proxy, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    recipe = load_recipe("jq")
    plain = build(make_plan(recipe, DISTRO, tmp_path / "plain"), docker_client)
    proxied = build(make_plan(recipe, DISTRO, tmp_path / "proxied", proxy=cache_proxy.url), docker_client)
    _same_build(plain, proxied)
    debs = [p["file"] for p in json.loads((proxied.manifest.parent / "lock.json").read_text())["packages"]]
    first = cache_proxy.log()
    for deb in debs:  # each package fetched from the archive once, and served
        assert [kind for kind, path in first if path.endswith(f"/{deb}")] == ["I", "O"], deb
    second = build(make_plan(recipe, DISTRO, tmp_path / "second", proxy=cache_proxy.url), docker_client)
    _same_build(plain, second)
    served_again = cache_proxy.log()[len(first) :]
    for deb in debs:  # another builder's fresh container: served from the cache, nothing fetched
        assert [kind for kind, path in served_again if path.endswith(f"/{deb}")] == ["O"], deb


def _same_build(one: BuildResult, other: BuildResult) -> None:
    for name in (one.package.name, "lock.json", "sbom.cdx.json"):
        assert (one.manifest.parent / name).read_bytes() == (other.manifest.parent / name).read_bytes(), name
    assert _manifest(one) == _manifest(other)


def _manifest(result: BuildResult) -> dict[str, object]:
    """The manifest, less what says where the build was written."""
    text = result.manifest.read_text().replace(str(result.manifest.parent.parent.parent.parent), "OUT")
    document: dict[str, object] = json.loads(text)
    return document


def test_rebuild_check_goes_through_the_proxy(
    cache_proxy: Proxy, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    """The check's refresh and solver run in a container that fetches through the proxy too."""
    plan = make_plan(load_recipe("jq"), DISTRO, tmp_path / "dist", proxy=cache_proxy.url)
    result = build(plan, docker_client)
    lock = result.manifest.parent / "lock.json"
    doubtful = json.loads(lock.read_text()) | {"repositories": []}  # no metadata to compare: ask the solver
    lock.write_text(json.dumps(doubtful))
    seen = len(cache_proxy.log())
    assert check(plan, result.manifest.parent, docker_client) == SAME_CLOSURE
    assert any("/dists/" in path for _, path in cache_proxy.log()[seen:])


def test_unreachable_proxy_is_named(cache_proxy: Proxy, tmp_path: Path) -> None:
    """A port of the proxy's own container that nothing listens on: refused at once, and named."""
    proxy = f"http://{cache_proxy.address}:9"
    failed = run_cli("recipe", "jq", "--distro", DISTRO, "--out", tmp_path, "--proxy", proxy)
    assert failed.returncode == 3, failed.stderr
    assert "refreshing the package lists" in failed.stderr
    assert f"through the proxy {proxy}" in failed.stderr
    assert not (tmp_path / "jq").exists()


def test_container_environment(docker_client: docker.DockerClient) -> None:
    with Container(docker_client, "debian:12", "env", environment=proxy_environment("http://10.0.0.5:3142")) as box:
        shown = box.run(["sh", "-c", 'echo "$http_proxy $https_proxy $DEBIAN_FRONTEND"'], "env").stdout
    assert shown.split() == ["http://10.0.0.5:3142", "http://10.0.0.5:3142", "noninteractive"]
    with Container(docker_client, "debian:12", "env", network=False) as box:
        assert "proxy" not in box.run(["env"], "env").stdout.lower()


# -- the RPM families through the same proxy ------------------------------------------------------
RPM_DISTROS = {"dnf": "rhel-9", "zypper": "sles-15"}


@pytest.fixture(scope="module")
def rpm_repository(docker_client: docker.DockerClient) -> Iterator[str]:
    """The test RPM repository over http (port 80 of a container of ours), for a proxy to sit in front of."""
    with served_repository(docker_client, f"vmapp-test-rpmrepo-{SESSION}") as server:
        yield str(server.attrs["NetworkSettings"]["IPAddress"])


@pytest.mark.parametrize("family", sorted(RPM_DISTROS))
def test_rpm_build_through_the_proxy(
    family: str, cache_proxy: Proxy, rpm_repository: str, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    image, path = vt_recipe(docker_client, family, tmp_path, url=f"http://{rpm_repository}/repo")
    recipe = load_recipe(path)
    distro = RPM_DISTROS[family]
    plain = build(make_plan(recipe, distro, tmp_path / "plain", image), docker_client)
    seen = len(cache_proxy.log())
    proxied = build(make_plan(recipe, distro, tmp_path / "proxied", image, proxy=cache_proxy.url), docker_client)
    _same_build(plain, proxied)
    through = [path for kind, path in cache_proxy.log()[seen:] if kind == "O"]
    for rpm in json.loads((proxied.manifest.parent / "lock.json").read_text())["packages"]:
        assert any(path.endswith(f"/repo/{rpm['file']}") for path in through), rpm["file"]


def test_rpm_unreachable_proxy_is_named(
    rpm_repository: str, cache_proxy: Proxy, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    image, path = vt_recipe(docker_client, "zypper", tmp_path, url=f"http://{rpm_repository}/repo")
    recipe = load_recipe(path)
    plan = make_plan(recipe, "sles-15", tmp_path / "dist", image, proxy=f"http://{cache_proxy.address}:9")
    with pytest.raises(BuildError, match=re.escape(f"through the proxy http://{cache_proxy.address}:9")):
        build(plan, docker_client)
    assert not (tmp_path / "dist" / "vt").exists()
