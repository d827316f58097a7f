"""Images and an RPM repository for testing the dnf and zypper backends for real, built from debian:12.

Debian's archive has real dnf 4, zypper 1.14, rpm 4.18 and createrepo_c; with a few fixes (rpm's
database in /var/lib/rpm, dnf's `local` plugin off, a releasever, /etc/yum.repos.d, yum -> dnf-3)
they run the same commands as on RHEL and SLES. The repository is built with rpmbuild, signed with a
throw-away key (packages with rpmsign, repomd.xml detached) and indexed with createrepo_c. Its packages:

- vt-app requires `vt-lib >= 1.1` (1.0, 1.1 and 1.2 exist), `(vt-tls-a or vt-tls-b)`, the file
  `/usr/bin/vt-helper`, the virtual `vt-mta` (vt-mta-exim and vt-mta-postfix provide it), vt-base
  (installed in the fixture image) and `vt-keep >= 1.0` (the repository has 1.0; the "newer" image
  has 2.0 installed from outside the repository);
- vt-broken requires vt-missing, which nothing provides.

Images are tagged with a hash of this recipe, built once and reused while present.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
from docker.errors import ImageNotFound
from docker.models.containers import Container as DockerContainer

from builder.container import Container
from tests.conftest import write_recipe

REPO_DIR = "/srv/vmapp-test/repo"  # the recipe's `file://` baseurl, inside the fixture images
KEY_PATH = "/srv/vmapp-test/key.asc"
EXTRA_DIR = "/srv/vmapp-test/extra"  # packages outside the repository (vt-keep 2.0)

_RPM_FIXES = (
    "mkdir -p /etc/rpm && echo '%_dbpath /var/lib/rpm' > /etc/rpm/macros && rpm --initdb"  # libzypp reads /var/lib/rpm
)
DOCKERFILES = {
    "dnf": f"""FROM debian:12
RUN apt-get -q update && apt-get -q install -y --no-install-recommends dnf dnf-plugins-core rpm createrepo-c file \\
      gpg gpg-agent && rm -rf /var/lib/apt/lists/*
RUN {_RPM_FIXES} \\
 && sed -i 's/^enabled *=.*/enabled = false/' /etc/dnf/plugins/local.conf \\
 && mkdir -p /etc/dnf/vars /etc/yum.repos.d && echo 9 > /etc/dnf/vars/releasever && ln -sf dnf-3 /usr/bin/yum
""",
    "zypper": f"""FROM debian:12
RUN apt-get -q update && apt-get -q install -y --no-install-recommends zypper rpm file gpg \\
    && rm -rf /var/lib/apt/lists/*
RUN {_RPM_FIXES}
""",
}

# name, version, spec lines (Requires/Provides), files to ship in /usr/bin (name -> what it prints)
PACKAGES: list[tuple[str, str, list[str], dict[str, str]]] = [
    (
        "vt-app",
        "1.0",
        [
            "Requires: vt-lib >= 1.1",
            "Requires: (vt-tls-a or vt-tls-b)",
            "Requires: /usr/bin/vt-helper",
            "Requires: vt-mta",
            "Requires: vt-base",
            "Requires: vt-keep >= 1.0",
        ],
        {"vt-app": "vt-app 1.0"},
    ),
    ("vt-lib", "1.0", [], {}),
    ("vt-lib", "1.1", [], {}),
    ("vt-lib", "1.2", [], {}),
    ("vt-tls-a", "1.0", ["Requires: vt-base"], {}),  # one requirement: zypper prints it on one line
    ("vt-tls-b", "1.0", [], {}),
    ("vt-helper", "1.0", [], {"vt-helper": "helper"}),
    ("vt-mta-exim", "1.0", ["Provides: vt-mta"], {}),
    ("vt-mta-postfix", "1.0", ["Provides: vt-mta"], {}),
    ("vt-base", "1.0", [], {}),
    ("vt-keep", "1.0", [], {}),
    ("vt-keep", "2.0", [], {}),
    ("vt-broken", "1.0", ["Requires: vt-missing"], {}),
]
OUTSIDE_REPO = {("vt-keep", "2.0")}


def spec(name: str, version: str, lines: list[str], binaries: dict[str, str]) -> str:
    install = [
        "mkdir -p %{buildroot}/usr/share/vmapp-test %{buildroot}/usr/bin",
        f"echo {name}-{version} > %{{buildroot}}/usr/share/vmapp-test/{name}",
    ]
    files = [f"/usr/share/vmapp-test/{name}"]
    for binary, prints in binaries.items():
        install.append(f"printf '#!/bin/sh\\necho {prints}\\n' > %{{buildroot}}/usr/bin/{binary}")
        install.append(f"chmod 755 %{{buildroot}}/usr/bin/{binary}")
        files.append(f"/usr/bin/{binary}")
    header = [
        f"Name: {name}",
        f"Version: {version}",
        "Release: 1",
        f"Summary: vmapp-build test package {name}",
        "License: MIT",
        "BuildArch: noarch",
        "AutoReqProv: no",  # only the declared requirements (no /bin/sh from the scripts' shebangs)
        *lines,
    ]
    body = ["%description", f"Test package {name} for vmapp-build.", "%install", *install, "%files", *files]
    return "\n".join(header + body) + "\n"


BUILD_REPO = f"""set -e
export GNUPGHOME=/tmp/gnupg
mkdir -p -m 700 "$GNUPGHOME" {REPO_DIR} {EXTRA_DIR}
gpg -q --batch --passphrase '' --quick-gen-key 'vmapp-build test <test@vmapp.invalid>' rsa2048 sign never
gpg --armor --export test@vmapp.invalid > {KEY_PATH}
cd /tmp/specs
for s in *.spec; do rpmbuild -bb --quiet --define '_topdir /tmp/rb' "$s"; done
rpmsign --addsign --define '__gpg /usr/bin/gpg' --define '_gpg_name test@vmapp.invalid' \\
  /tmp/rb/RPMS/noarch/*.rpm >/dev/null
{" ".join(f"mv /tmp/rb/RPMS/noarch/{n}-{v}-1.noarch.rpm {EXTRA_DIR}/;" for n, v in sorted(OUTSIDE_REPO))}
mv /tmp/rb/RPMS/noarch/*.rpm {REPO_DIR}/
createrepo_c -q {REPO_DIR}
gpg --batch --yes --detach-sign --armor -u test@vmapp.invalid {REPO_DIR}/repodata/repomd.xml
"""


def recipe_hash() -> str:
    text = repr((DOCKERFILES, PACKAGES, OUTSIDE_REPO, BUILD_REPO))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
        return True
    except ImageNotFound:
        return False


def tools_image(client: docker.DockerClient, family: str) -> str:
    """`vmapp-test/<family>:12`: debian:12 with the family's real tools; rebuilt when the recipe changes."""
    tag = f"vmapp-test/{family}:12"
    label = recipe_hash()
    try:
        if client.images.get(tag).labels.get("io.vmapp-test.recipe") == label:
            return tag
    except ImageNotFound:
        pass
    client.images.build(
        fileobj=io.BytesIO(DOCKERFILES[family].encode()), tag=tag, rm=True, labels={"io.vmapp-test.recipe": label}
    )
    return tag


def _tar(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _run(container: DockerContainer, script: str) -> None:
    code, output = container.exec_run(["sh", "-c", script])
    assert isinstance(output, bytes)  # not streamed
    assert code == 0, f"{script}\n{output.decode(errors='replace')}"


def repository_archive(client: docker.DockerClient) -> bytes:
    """A tar of /srv/vmapp-test (the signed repository, the key, the packages outside it), built once."""
    tag = f"vmapp-test/rpm-repo:12-{recipe_hash()}"
    if not _exists(client, tag):
        specs = {f"specs/{n}-{v}.spec": spec(n, v, lines, bins) for n, v, lines, bins in PACKAGES}
        # tethered (builder.container): it cannot outlive pytest; unlabelled, since it is committed
        with Container(client, tools_image(client, "dnf"), "image", labelled=False) as box:
            box.handle.put_archive("/tmp", _tar(specs))
            _run(box.handle, BUILD_REPO)
            box.handle.commit(*tag.split(":"))
    container = client.containers.create(tag)
    try:
        stream, _ = container.get_archive("/srv/vmapp-test")
        return b"".join(stream)
    finally:
        container.remove(force=True)


def fixture_image(client: docker.DockerClient, family: str, newer: bool = False) -> str:
    """The family's tools, the repository under /srv/vmapp-test, vt-base installed (and with `newer`,
    vt-keep 2.0 too); no repository configured: the recipe brings it."""
    tag = f"vmapp-test/{family}-{'newer' if newer else 'fixture'}:12-{recipe_hash()}"
    if _exists(client, tag):
        return tag
    archive = repository_archive(client)
    with Container(client, tools_image(client, family), "image", labelled=False) as box:
        container = box.handle
        container.put_archive("/srv", archive)
        install = [f"{REPO_DIR}/vt-base-1.0-1.noarch.rpm"] + (
            [f"{EXTRA_DIR}/vt-keep-2.0-1.noarch.rpm"] if newer else []
        )
        # rpm runs with --nosignature: the key is imported by the build (prepare), not by the image
        _run(container, f"rpm -i --force-debian --nosignature {' '.join(install)}")
        container.commit(*tag.split(":"))
    return tag


def extract_key(client: docker.DockerClient, image: str, dest: Path, source: str = KEY_PATH) -> Path:
    """Copy a test repository's public key out of an image, for the recipe's `key`."""
    container = client.containers.create(image)
    try:
        stream, _ = container.get_archive(source)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.extractfile(source.rsplit("/", 1)[1])
            assert member is not None
            dest.write_bytes(member.read())
    finally:
        container.remove(force=True)
    return dest


def vt_recipe(
    client: docker.DockerClient, family: str, directory: Path, url: str = f"file://{REPO_DIR}", name: str = "vt.yaml"
) -> tuple[str, Path]:
    """The family's fixture image, and a recipe of vt-app from `url` with that image's key, written in
    `directory`: what most RPM tests start from."""
    image = fixture_image(client, family)
    key = extract_key(client, image, directory / "key.asc")
    return image, write_recipe(directory, recipe_text(["vt-app"], key, url), name)


def recipe_text(packages: list[str], key: Path, url: str = f"file://{REPO_DIR}", version: str = "1.0.0") -> str:
    return (
        f"name: vt\nversion: {version}\ndescription: vmapp-build RPM test application\nlinux:\n"
        f"  packages: [{', '.join(packages)}]\n  check: vt-app\n"
        f"  repositories:\n    - name: vmapp-test\n      url: {url}\n      key: {key}\n"
    )


# -- repositories for the signature checks (tests/test_rpm_signatures.py) -------------------------
# Their own hash, so changing them rebuilds only the `-sigs` images, never the shared ones above.
SIG_DIR = "/srv/vmapp-sig"
SIG_KEYS = {"mixed": f"{SIG_DIR}/mixed.asc", "other": f"{SIG_DIR}/other.asc"}
# repository -> package -> who signs it ("mixed", "other", or "" for nobody). `mixed`'s metadata is
# signed with its own key, as a real repository's is; `image-*` are the image's own repositories.
SIG_REPOS: dict[str, dict[str, str]] = {
    "mixed": {"vt-good": "mixed", "vt-wrongkey": "other", "vt-unsigned": ""},
    "other": {"vt-other": "other"},
    "image-plain": {"vt-plain": ""},  # gpgcheck=0 in the image: unsigned is what its owner chose
    "image-signed": {"vt-image-good": "mixed", "vt-image-unsigned": ""},  # gpgcheck=1, key mixed
}
_IMAGE_REPO_FILES = {
    "image-plain": "[image-plain]\nname=image-plain\nbaseurl=file://{dir}/image-plain\nenabled=1\ngpgcheck=0\n",
    "image-signed": "[image-signed]\nname=image-signed\nbaseurl=file://{dir}/image-signed\nenabled=1\ngpgcheck=1\n"
    "gpgkey=file://{dir}/mixed.asc\n",
}
_SIG_METADATA_KEY = {"mixed": "mixed", "other": "other", "image-signed": "mixed"}  # image-plain: unsigned

BUILD_SIG_REPOS = f"""set -e
export GNUPGHOME=/tmp/gnupg-sig
mkdir -p -m 700 "$GNUPGHOME"
for k in mixed other; do
  gpg -q --batch --passphrase '' --quick-gen-key "vmapp-build $k <$k@vmapp.invalid>" rsa2048 sign never
  gpg --armor --export "$k@vmapp.invalid" > {SIG_DIR}/$k.asc
done
cd /tmp/sigspecs
for s in *.spec; do rpmbuild -bb --quiet --define '_topdir /tmp/rbs' "$s"; done
sign() {{ rpmsign --addsign --define '__gpg /usr/bin/gpg' --define "_gpg_name $1@vmapp.invalid" "$2" >/dev/null; }}
"""


def _sig_build_script() -> str:
    lines = [BUILD_SIG_REPOS]
    for repo, packages in SIG_REPOS.items():
        lines.append(f"mkdir -p {SIG_DIR}/{repo}")
        for name, signer in packages.items():
            rpm = f"/tmp/rbs/RPMS/noarch/{name}-1.0-1.noarch.rpm"
            if signer:
                lines.append(f"sign {signer} {rpm}")
            lines.append(f"mv {rpm} {SIG_DIR}/{repo}/")
        lines.append(f"createrepo_c -q {SIG_DIR}/{repo}")
        if repo in _SIG_METADATA_KEY:
            user = f"{_SIG_METADATA_KEY[repo]}@vmapp.invalid"
            lines.append(f"gpg --batch --yes --detach-sign --armor -u {user} {SIG_DIR}/{repo}/repodata/repomd.xml")
    return "\n".join(lines) + "\n"


def _sig_hash() -> str:
    return hashlib.sha256(repr((_sig_build_script(), _IMAGE_REPO_FILES, recipe_hash())).encode()).hexdigest()[:10]


def signature_image(client: docker.DockerClient, family: str) -> str:
    """The fixture image plus the signature test repositories under /srv/vmapp-sig, and two of them
    configured as the image's own repositories (the image trusts the `mixed` key, as a vendor's)."""
    tag = f"vmapp-test/{family}-sigs:12-{_sig_hash()}"
    if _exists(client, tag):
        return tag
    specs = {f"sigspecs/{name}.spec": spec(name, "1.0", [], {}) for packages in SIG_REPOS.values() for name in packages}
    builder = client.containers.run(tools_image(client, "dnf"), ["sleep", "infinity"], detach=True, init=True)
    try:
        builder.put_archive("/tmp", _tar(specs))
        _run(builder, f"mkdir -p {SIG_DIR}")
        _run(builder, _sig_build_script())
        stream, _ = builder.get_archive(SIG_DIR)
        archive = b"".join(stream)
    finally:
        builder.remove(force=True)
    repos_dir = "/etc/yum.repos.d" if family == "dnf" else "/etc/zypp/repos.d"
    repo_files = {f"{name}.repo": text.format(dir=SIG_DIR) for name, text in _IMAGE_REPO_FILES.items()}
    container = client.containers.run(fixture_image(client, family), ["sleep", "infinity"], detach=True, init=True)
    try:
        container.put_archive("/srv", archive)
        _run(container, f"mkdir -p {repos_dir}")
        container.put_archive(repos_dir, _tar(repo_files))
        _run(container, f"rpm --import {SIG_KEYS['mixed']}")  # the vendor key the image trusts
        container.commit(*tag.split(":"))
    finally:
        container.remove(force=True)
    return tag


@contextmanager
def served_repository(client: docker.DockerClient, name: str) -> Iterator[DockerContainer]:
    """The test RPM repository over http, port 80 of a container of ours named `name` (its IP address in
    attrs; its log lists every request), removed after."""
    server = client.containers.run(
        fixture_image(client, "dnf"),
        ["python3", "-m", "http.server", "80", "--directory", "/srv/vmapp-test"],
        name=name,
        detach=True,
    )
    try:
        server.reload()
        yield server
    finally:
        server.remove(force=True)
