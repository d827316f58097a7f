"""A real signed apt repository for tests, served over HTTP from a container of the test.

Packages are built with `dpkg-deb --build`, indexed with `apt-ftparchive` and signed (InRelease and
Release.gpg) with a key generated for the session; a second key is generated only to be the wrong
one. busybox httpd serves the tree on the default bridge, where build containers reach it by IP.
"""

from __future__ import annotations

import io
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker

from builder.container import Container

# Kept between sessions (building it fetches from deb.debian.org, about 20 s); `docker rmi` removes it.
TOOLS_IMAGE = "vmapp-test/repo-tools:12"
_DOCKERFILE = b"""\
FROM debian:12
RUN apt-get -q update \\
 && apt-get -q install -y --no-install-recommends apt-utils gpg gpg-agent busybox \\
 && rm -rf /var/lib/apt/lists/*
"""
PORT = 8080
CLOSED_PORT = 8081  # nothing listens there: an unreachable repository
SUITE = "vmapp"
NO_RELEASE_SUITE = "norelease"  # a Packages index and no Release file
COMPONENT = "main"
# name -> (version, Depends): the closure mixes the repository's packages and Debian's.
PACKAGES = {
    "vmapp-hello": ("1.0.0", "vmapp-hello-data (= 1.0.0), libonig5"),
    "vmapp-hello-data": ("1.0.0", ""),
}

_SCRIPT = r"""
set -eu
export GNUPGHOME=/root/gnupg
mkdir -m 700 -p "$GNUPGHOME" /srv/keys
gpg -q --batch --passphrase '' --quick-gen-key 'vmapp test repository <repo@vmapp.test>' ed25519 sign never
gpg -q --batch --passphrase '' --quick-gen-key 'vmapp wrong key <wrong@vmapp.test>' ed25519 sign never
gpg -q --armor --export repo@vmapp.test >/srv/keys/repo.asc
gpg -q --armor --export wrong@vmapp.test >/srv/keys/wrong.asc

mkdir -p /srv/repo/pool/main
package() {  # NAME VERSION DEPENDS
    d=/tmp/build/$1
    mkdir -p "$d/DEBIAN" "$d/usr/bin" "$d/usr/share/$1"
    {
        echo "Package: $1"; echo "Version: $2"; echo "Architecture: all"
        echo "Maintainer: vmapp-build tests <tests@vmapp.test>"
        [ -z "$3" ] || echo "Depends: $3"
        echo "Description: test package of a signed repository"
    } >"$d/DEBIAN/control"
    echo "greetings from $1 $2" >"$d/usr/share/$1/greeting"
    dpkg-deb --root-owner-group --build "$d" "/srv/repo/pool/main/$1_$2_all.deb" >/dev/null
}
mkdir -p /tmp/build/vmapp-hello/usr/bin
printf '#!/bin/sh\ncat /usr/share/vmapp-hello-data/greeting\n' >/tmp/build/vmapp-hello/usr/bin/vmapp-hello
chmod 755 /tmp/build/vmapp-hello/usr/bin/vmapp-hello
#PACKAGES
"""
# Index the pool and sign the Release: after the packages are built, and again after a test changes the
# pool (SignedRepo.update), so every state of the repository is indexed and signed the same way.
_INDEX = r"""
set -eu
export GNUPGHOME=/root/gnupg
cd /srv/repo
for suite in vmapp norelease; do
    mkdir -p "dists/$suite/main/binary-amd64"
    apt-ftparchive packages pool/main >"dists/$suite/main/binary-amd64/Packages"
    gzip -9kfn "dists/$suite/main/binary-amd64/Packages"
done
apt-ftparchive \
    -o APT::FTPArchive::Release::Origin=vmapp-test -o APT::FTPArchive::Release::Label=vmapp-test \
    -o APT::FTPArchive::Release::Suite=vmapp -o APT::FTPArchive::Release::Codename=vmapp \
    -o APT::FTPArchive::Release::Architectures=amd64 -o APT::FTPArchive::Release::Components=main \
    release dists/vmapp >/tmp/Release
mv /tmp/Release dists/vmapp/Release
gpg -q --batch --yes -u repo@vmapp.test --clearsign -o dists/vmapp/InRelease dists/vmapp/Release
gpg -q --batch --yes -u repo@vmapp.test --armor --detach-sign -o dists/vmapp/Release.gpg dists/vmapp/Release
"""


@dataclass(frozen=True)
class SignedRepo:
    """Where the repository is and the files a recipe needs to use it."""

    url: str  # http://IP:PORT, on the default bridge
    unreachable_url: str  # the same host, a port nothing listens on
    suite: str
    no_release_suite: str
    component: str
    key: Path  # the public half of the key that signed the repository (ASCII-armored)
    wrong_key: Path  # another key's public half
    server: Container  # the container building and serving it (update)

    def update(self, script: str) -> None:
        """Change the pool (/srv/repo/pool/main) with a shell script, then re-index and re-sign it."""
        _run(self.server, f"set -eu\n{script}\n{_INDEX}", "changing the signed test repository")

    def recipe(self, name: str = "hello", *, url: str = "", suite: str = "", key: str = "repo.asc") -> str:
        """A recipe installing vmapp-hello from this repository (key file relative to the recipe)."""
        return (
            f"name: {name}\nversion: 1.0.0\nlinux:\n  packages: [vmapp-hello]\n  check: vmapp-hello\n"
            f"  repositories:\n    - name: vmapp-test\n      url: {url or self.url}\n"
            f"      suite: {suite or self.suite}\n      components: [{self.component}]\n      key: {key}\n"
        )


def ensure_tools_image(client: docker.DockerClient) -> str:
    """The tools image (apt-utils, gpg, busybox), built from the local debian:12 once."""
    try:
        return str(client.images.get(TOOLS_IMAGE).id)
    except docker.errors.ImageNotFound:
        image, _ = client.images.build(fileobj=io.BytesIO(_DOCKERFILE), tag=TOOLS_IMAGE, rm=True, forcerm=True)
        return str(image.id)


@contextmanager
def serve_signed_repo(client: docker.DockerClient, keys_dir: Path) -> Iterator[SignedRepo]:
    """Build the repository in a container that then serves it; the container is removed afterwards."""
    image = ensure_tools_image(client)
    # tethered (builder.container): it cannot outlive pytest; httpd without -f runs in the background
    with Container(client, image, "repo") as box:
        server = box.handle
        code, output = server.exec_run(["sh", "-c", f"mkdir -p /srv/repo && busybox httpd -p {PORT} -h /srv/repo"])
        assert code == 0, output
        calls = "".join(f"package {n} {v} {shlex.quote(d)}\n" for n, (v, d) in PACKAGES.items())
        _run(box, _SCRIPT.replace("#PACKAGES\n", calls) + _INDEX, "building the signed test repository")
        keys_dir.mkdir(parents=True, exist_ok=True)
        for name in ("repo.asc", "wrong.asc"):
            code, data = server.exec_run(["cat", f"/srv/keys/{name}"])
            assert code == 0 and isinstance(data, bytes), data
            (keys_dir / name).write_bytes(data)
        server.reload()
        ip = server.attrs["NetworkSettings"]["IPAddress"]
        assert ip, "the repository server has no address on the default bridge"
        yield SignedRepo(
            url=f"http://{ip}:{PORT}",
            unreachable_url=f"http://{ip}:{CLOSED_PORT}",
            suite=SUITE,
            no_release_suite=NO_RELEASE_SUITE,
            component=COMPONENT,
            key=keys_dir / "repo.asc",
            wrong_key=keys_dir / "wrong.asc",
            server=box,
        )


def _run(box: Container, script: str, what: str) -> None:
    code, output = box.handle.exec_run(["sh", "-c", script])
    assert isinstance(output, bytes)  # not streamed
    if code != 0:
        raise RuntimeError(f"{what} failed:\n{output.decode()}")
