"""A pre-existing newer dependency: the VM has one of the bundle's dependencies at a newer version than
the bundle carries. Install must keep it (never downgrade: `dpkg -i` would) and remove must leave it.

The image may have one already (`--image` of a VM's own); otherwise, on apt, one is made before the
lifecycle starts: a dependency of the bundle repacked with dpkg-deb at `<version>+vmapp1` (newer by
Debian's ordering) and installed offline. An RPM cannot be repacked with what an RPM VM has, so there
the image must bring one.
"""

from __future__ import annotations

from builder.backends import backend_class
from builder.container import Container
from builder.lifecycle.build import Build, bare
from builder.lifecycle.hand import HAND_INSTALL, HAND_INSTALL_DRY_RUN

SUFFIX = "+vmapp1"
_REPACK = (
    'cd /root/newer && rm -rf x && dpkg-deb -R "$1" x'
    ' && sed -i "s/^Version: .*/Version: $2/" x/DEBIAN/control && dpkg-deb -b x newer.deb >/dev/null'
)


def newer_dependency(c: Container, build: Build, chain: list[Build] | None = None) -> str:
    """Make sure the VM has a newer dependency than `build`'s bundle: '<name> <version>' of the one it
    has, or '' when there is none and none can be made. Across a `chain` of versions, only a dependency
    every version bundles at the same version is repacked: one an update moved may be pinned exactly
    (`vmapp-hello-data (= 1.0.0)`), and no VM could then install the older version beside a newer one."""
    found = already_newer(c, build)
    if found or build.family != "apt":
        return found
    recipe = {p.split("=", 1)[0].split(":", 1)[0] for p in build.manifest["recipe"]["packages"]}
    shared = set.intersection(
        *({(str(p["name"]), str(p["version"])) for p in b.manifest.get("packages", [])} for b in chain or [build])
    )
    for package in sorted(build.manifest.get("packages", []), key=lambda p: str(p["name"])):
        name = str(package["name"])
        if name in recipe or (name, str(package["version"])) not in shared:
            continue
        file_name, content = build.bundled_file(name)
        c.put_bytes(content, "/root/newer", file_name)
        version = f"{package['version']}{SUFFIX}"
        c.run(["sh", "-c", _REPACK, "sh", file_name, version], f"repack {name} at {version}")
        dry_run = [*HAND_INSTALL_DRY_RUN["apt"], "/root/newer/newer.deb"]
        if c.run(dry_run, "simulate installing the newer dependency", check=False).exit_code == 0:
            c.run([*HAND_INSTALL["apt"], "/root/newer/newer.deb"], f"install {name} {version} before the application")
            c.run(["rm", "-rf", "/root/newer"], "clean up")
            return f"{name} {version}"
    return ""


def already_newer(c: Container, build: Build) -> str:
    """A package of `build`'s bundle the VM has at a newer version: '<name> <version>', or ''."""
    installed = {bare({k}).pop(): v for k, v in backend_class(build.family, "").installed_packages(c).items()}
    is_older = backend_class(build.family, "").is_older
    for package in sorted(build.manifest.get("packages", []), key=lambda p: str(p["name"])):
        have = installed.get(str(package["name"]))
        if have and have != package["version"] and is_older(c, str(package["version"]), have):
            return f"{package['name']} {have}"
    return ""
