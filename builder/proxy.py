"""The caching proxy the build containers fetch through: `--proxy URL`, $VMAPP_BUILD_PROXY, or
`[build] proxy` in vmapp-build.toml; Debian's apt-cacher-ng, shared by every builder (`make cache-proxy`).

It reaches a container as `http_proxy` and `https_proxy` in the environment it is created with: apt, dnf
(libcurl) and zypper (libzypp, libcurl) all honour them (seen for real), so neither the image's files nor
any command line change, and nothing a build records depends on it (builds through it are byte for byte
those without). Plain http repositories are cached; https ones can only be tunnelled (CONNECT), never
cached, and apt-cacher-ng refuses that unless its PassThroughPattern allows it (images/apt-cacher-ng
allows port 443). apt sends https through http_proxy anyway, so all three families behave alike.
Verify containers have no network and never get it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from builder.distros import load_config
from builder.errors import BuildError, InputError

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_URL_RE = re.compile(
    rf"http://(?P<host>{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{{1,5}}))?/?", re.ASCII
)
PROXY_HINT = "expected http://HOST[:PORT], e.g. http://10.0.0.5:3142 (apt-cacher-ng's port); no path, user or https"
CONFIG_KEY = "build.proxy"


def check_proxy(value: str, where: str) -> str:
    """The proxy URL, normalised to http://HOST[:PORT]; InputError naming `where` for anything else."""
    match = _URL_RE.fullmatch(value)
    if not match or not 0 < int(match["port"] or 80) < 65536:
        problem = "https proxies are not supported" if value.lower().startswith("https://") else "not a proxy URL"
        raise InputError(f"{where}: {value!r}: {problem}", hint=PROXY_HINT)
    host = match["host"]
    if _loopback(host):
        raise InputError(
            f"{where}: {value!r}: a build container's {host} is the container itself, not this machine",
            hint="give an address the containers reach: the proxy container's, or this machine's on the "
            "Docker bridge (e.g. http://172.17.0.1:3142)",
        )
    return f"http://{host}" + (f":{int(match['port'])}" if match["port"] else "")


def _loopback(host: str) -> bool:
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def configured_proxy(config_path: Path | None = None) -> str | None:
    """The configuration file's `[build] proxy`, checked; None when it sets none."""
    path, data = load_config(config_path)
    build = data.get("build", {})
    if not isinstance(build, dict):
        raise InputError(f"{path}: build: expected a table", hint='[build]\nproxy = "http://10.0.0.5:3142"')
    value = build.get("proxy")
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{path}: {CONFIG_KEY}: expected a string", hint=PROXY_HINT)
    return check_proxy(value, f"{path}: {CONFIG_KEY}")


def proxy_environment(proxy: str | None) -> dict[str, str]:
    """The environment a build container is created with; nothing without a proxy. libcurl reads only
    the lower-case http_proxy; the upper-case names are for the rest."""
    if not proxy:
        return {}
    return {name: proxy for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}


@contextmanager
def naming_proxy(proxy: str | None) -> Iterator[None]:
    """A build failure through a proxy says so: the package manager's own message names only an address."""
    try:
        yield
    except BuildError as exc:
        if proxy is None:
            raise
        hint = (
            f"check that the proxy {proxy} answers from the build containers (`make cache-proxy` starts "
            "apt-cacher-ng), or build without --proxy"
        )
        raise BuildError(
            f"{exc.message}\n(the build container fetched through the proxy {proxy})",
            hint=hint + (f"; {exc.hint}" if exc.hint else ""),
        ) from exc
