"""What the RPM backends (dnf, yum, zypper) share: keys, repository files, rpm queries, versions.

Everything here runs the image's own rpm; nothing compares versions or reads headers in Python.
"""

from __future__ import annotations

import re
import shlex
from typing import NoReturn

from builder.backends.base import PackageInfo, Request
from builder.backends.repository import Repository, read_key
from builder.backends.rpm_parse import QUERY_FIELDS, QUERY_FORMAT, missing_requirements, parse_query, split_evr
from builder.container import Container
from builder.errors import BuildError, CommandFailed, InputError, PackageNotFound

RPM_DIR = "/var/cache/vmapp-build/rpms"
EMPTY_ROOT = "/var/lib/vmapp-build/empty-root"  # --full / --baseline: the rpm database the solver reads
BASELINE_RPMS = "/var/cache/vmapp-build/baseline-rpms"  # the baseline's packages, for their headers
KEY_DIR = "/etc/pki/rpm-gpg"
# rpm prints versions with these characters only; anything else never reaches a Lua string.
_VERSION_RE = re.compile(r"^[A-Za-z0-9._+~^]*$")


def check_rpm_request(request: Request) -> None:
    """What an RPM build cannot do (yet), said before any container starts."""
    if request.baseline.kind == "file" and request.baseline.format != "rpm":
        raise InputError(
            f"{request.baseline.source}: {request.distro} needs the VM's `rpm -qa` output as its baseline",
            hint="run `rpm -qa > baseline.txt` on the target VM and pass that file",
        )
    for repo in request.repositories:
        if repo.suite or repo.components:
            raise InputError(
                f"repository {repo.name}: {request.distro} uses {request.family}: an RPM repository is "
                f"a baseurl only (no suite or components)",
                hint="give url (the repository's baseurl, the directory holding repodata/) and key",
            )


def key_path(repo: Repository) -> str:
    """Where the build puts a recipe repository's key in the container."""
    return f"{KEY_DIR}/RPM-GPG-KEY-vmapp-{repo.name}"


def install_key(container: Container, repo: Repository) -> str:
    """Put the repository's key in /etc/pki/rpm-gpg and import it into the rpm database."""
    path = key_path(repo)
    container.put_bytes(read_key(repo), KEY_DIR, path.rsplit("/", 1)[1])
    container.run(
        ["rpm", "--import", path],
        f"import the signing key of repository {repo.name} ({repo.key})",
        hint="the key must be an armored or binary OpenPGP public key",
    )
    return path


def repo_file(repo: Repository, key_path: str, extra: dict[str, str] | None = None) -> bytes:
    """A .repo file (yum, dnf and zypper read the same format); packages are signature-checked."""
    fields = {
        "name": repo.name,
        "baseurl": repo.url,
        "enabled": "1",
        "gpgcheck": "1",
        "gpgkey": f"file://{key_path}",
        **(extra or {}),
    }
    return (f"[{repo.name}]\n" + "".join(f"{k}={v}\n" for k, v in fields.items())).encode()


# A shell function: `query_files FORMAT` prints `FILE<TAB>rpm -qp --qf FORMAT` for each .rpm in the
# current directory, read by one rpm process (one per file cost ~10 ms each). rpm globs its file
# arguments, splits them at spaces and expands macros in them (`%(...)` runs a command), so a name with
# anything but [A-Za-z0-9._+~^-] is queried through a symlink of a plain name. A file that gives no line
# (not an rpm, say) would shift the rest onto the wrong names: then it asks file by file. FORMAT gives one
# line per package (no arrays). Only headers are read: the signature check is rpm_signatures'.
QUERY_FILES = r"""
query_files() {
  q=$1
  set -- ./*.rpm
  [ -e "$1" ] || return 0
  qd=$(mktemp -d) || return 1
  i=0; n=$#
  for f; do
    f=${f#./}
    printf '%s\n' "$f" >>"$qd/names"
    case $f in
      *[!A-Za-z0-9._+~^-]*) i=$((i + 1)); ln -s "$PWD/$f" "$qd/$i.rpm" || return 1; set -- "$@" "$qd/$i.rpm" ;;
      *) set -- "$@" "./$f" ;;
    esac
  done
  shift "$n"
  if rpm -qp --nosignature --nodigest --qf "$q\n" "$@" >"$qd/out" 2>/dev/null </dev/null \
    && [ "$(wc -l <"$qd/out")" -eq "$n" ]; then
    paste "$qd/names" "$qd/out"
  else
    while IFS= read -r f; do
      printf '%s\t' "$f"
      rpm -qp --nosignature --nodigest --qf "$q\n" "$1" 2>/dev/null </dev/null || echo
      shift
    done <"$qd/names"
  fi
  rm -rf "$qd"
}
"""

# Each .rpm's file name, then its License tag and the query's fields (parse_query reads those from the
# end): the License rides between, for the SBOM; "(none)" is rpm's word for a header without one.
_DESCRIBE = QUERY_FILES + 'mkdir -p "$1" && cd "$1" && query_files "$2"'


def describe_argv(directory: str) -> list[str]:
    """What describe_rpms runs (a download of nothing made no directory: it is made, empty)."""
    return ["sh", "-c", _DESCRIBE, "sh", directory, "%{LICENSE}\t" + QUERY_FORMAT]


def describe_rpms(container: Container, directory: str) -> dict[str, PackageInfo]:
    """Each .rpm's name, EVR, arch and License tag, by file name, read with the image's own `rpm -qp`."""
    return parse_described(container.run(describe_argv(directory), "read package headers").stdout)


def parse_described(out: str) -> dict[str, PackageInfo]:
    """describe_argv's output -> {file name: PackageInfo}."""
    licenses = {
        parts[0]: "\t".join(parts[1 : -len(QUERY_FIELDS)]) for parts in (line.split("\t") for line in out.splitlines())
    }
    return {
        row["file"]: PackageInfo(
            row["name"],
            row["version"],
            row["arch"],
            {"License": lic} if (lic := licenses[row["file"]]) != "(none)" else {},
        )
        for row in parse_query(out)
        if "file" in row
    }


def flatten_rpms(container: Container, source: str, target: str) -> None:
    """Move every .rpm under `source` (zypper's cache nests them by repository and arch) to `target`."""
    script = 'mkdir -p "$2" && find "$1" -type f -name "*.rpm" -exec mv -f {} "$2"/ \\;'
    container.run(["sh", "-c", script, "sh", source, target], "collect downloaded packages")


def installed_rpms(container: Container) -> dict[str, str]:
    """The packages rpm has installed: {name:arch: EVR} (several versions of one, e.g. kernels, joined)."""
    out = container.run(["rpm", "-qa", "--qf", QUERY_FORMAT + "\\n"], "list installed packages").stdout
    state: dict[str, list[str]] = {}
    for row in parse_query(out):
        if row["name"] == "gpg-pubkey":  # keys, not packages
            continue
        state.setdefault(f"{row['name']}:{row['arch']}", []).append(row["version"])
    return {name: " ".join(sorted(versions)) for name, versions in state.items()}


def rpm_is_older(container: Container, version: str, than: str) -> bool:
    """rpm's own ordering: epochs as numbers, then rpmvercmp on version, then on release.

    Version and release are compared separately because `rpm.vercmp` takes a full EVR only since
    rpm 4.16; on plain segments old and new rpm agree (RHEL 7's 4.11 as Debian's 4.18).
    """
    (e1, v1, r1), (e2, v2, r2) = split_evr(version), split_evr(than)
    if e1 != e2:
        return e1 < e2
    for part in (v1, r1, v2, r2):
        if not _VERSION_RE.match(part):
            raise BuildError(f"cannot compare the RPM versions {version!r} and {than!r}")
    lua = f'%{{lua: print(rpm.vercmp("{v1}", "{v2}"), rpm.vercmp("{r1}", "{r2}"))}}'
    out = container.run(["rpm", "--eval", lua], f"compare versions {version} and {than}").stdout.split()
    if len(out) != 2:
        raise BuildError(f"rpm --eval gave no comparison of {version!r} and {than!r}: {shlex.join(out)}")
    by_version, by_release = (int(x) for x in out)
    return by_version < 0 or (by_version == 0 and by_release < 0)


def has_command(container: Container, name: str) -> bool:
    return container.run(["sh", "-c", 'command -v "$1"', "sh", name], f"look for {name}", check=False).exit_code == 0


def rpm_spec(package: str) -> str:
    """A recipe's `NAME=VERSION` as dnf and yum spell it (`NAME-VERSION`); zypper takes `=` as is."""
    name, sep, version = package.partition("=")
    return f"{name}-{version}" if sep else package


def raise_resolution_error(
    tool: str, request: Request, where: str, failed: tuple[list[str], int, str], missing: list[str], repos: list[str]
) -> NoReturn:
    """A solver failure as the user needs it: the unknown package, or what nothing provides, with the
    repositories that were searched; otherwise the command and its output."""
    argv, code, output = failed
    searched = f"searched repositories: {', '.join(repos) or 'none enabled'}"
    if missing:
        raise PackageNotFound(
            f"package {', '.join(missing)} not found {where}; {searched}",
            hint=f"check the spelling with `{tool} search`, or add the repository that has it "
            "to the recipe's linux.repositories",
        )
    asked = " ".join(request.packages)
    unresolved = missing_requirements(output)
    if unresolved:
        lines = [f"{needer} needs {req}, which no repository provides" for req, needer in unresolved]
        raise BuildError(
            f"{tool} cannot resolve {asked} {where}:\n  " + "\n  ".join(lines) + f"\n{searched}",
            hint="add the repository that provides it to the recipe's linux.repositories, "
            "or build in an image whose repositories have it (--image)",
        )
    raise CommandFailed(argv, code, output, f"{tool} cannot resolve {asked} {where}")


def raise_locked_gone(where: str, gone: list[tuple[str, str]]) -> NoReturn:
    """--locked: the lock's versions (name, version) the repositories no longer offer, as apt says it."""
    raise BuildError(
        f"locked versions are gone from the repositories {where}: {', '.join(f'{n} {v}' for n, v in gone)}",
        hint="rebuild without --locked to take the repositories' current versions",
    )


def make_empty_root(container: Container) -> str:
    """For --full: a root whose rpm database holds nothing but the repositories' signing keys, so the
    solver resolves the whole closure. Returns the release version the solver must be told."""
    script = (
        'mkdir -p "$1" && rpm --root "$1" --initdb'
        ' && for k in /etc/pki/rpm-gpg/*; do if [ -f "$k" ]; then rpm --root "$1" --import "$k"; fi; done'
    )
    container.run(["sh", "-c", script, "sh", EMPTY_ROOT], "empty package state for --full")
    # What dnf and yum would detect themselves from the image: its vars, else system-release's provide.
    detect = (
        "cat /etc/dnf/vars/releasever 2>/dev/null || cat /etc/yum/vars/releasever 2>/dev/null"
        " || rpm -q --whatprovides 'system-release(releasever)' --qf '[%{PROVIDENAME} %{PROVIDEVERSION}\\n]'"
        " | sed -n 's/^system-release(releasever) //p'"
    )
    return container.run(["sh", "-c", detect], "release version", check=False).stdout.strip().split("\n")[0]


def register_baseline(container: Container, directory: str) -> None:
    """Record the baseline's packages in the empty root's database from their headers (--justdb: no
    file is written, no script runs), so the solver sees the VM's state. Packages no repository has
    any more stay unknown: the solver may then bundle them again, which the VM's newer copy outlives."""
    script = (
        'root=$1; cd "$2" && set -- ./*.rpm && if [ -e "$1" ]; then'
        ' rpm --root "$root" -i --justdb --nodeps --noscripts --notriggers --ignoresize "$@"; fi'
    )
    container.run(["sh", "-c", script, "sh", EMPTY_ROOT, directory], "register the baseline's packages")


class RpmBackend:
    """What the dnf/yum and zypper backends share: the plan checks, and rpm as the package state."""

    suffix = ".rpm"

    def __init__(self, request: Request) -> None:
        check_rpm_request(request)
        self.request = request
        self.where = request.where

    @staticmethod
    def installed_packages(container: Container) -> dict[str, str]:
        return installed_rpms(container)

    @staticmethod
    def is_older(container: Container, version: str, than: str) -> bool:
        return rpm_is_older(container, version, than)


def nevra(info: PackageInfo) -> str:
    """A package's `name-epoch:version-release.arch` (epoch 0 spelled out), as repoquery prints it."""
    evr = info.version
    return f"{info.name}-{evr if ':' in evr else '0:' + evr}.{info.architecture}"
