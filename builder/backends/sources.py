"""Where a closure came from, for lock.json: each file's repository, and each repository's metadata
(apt's InRelease/Release, repomd.xml) as the refresh stored it. Read from the package managers' own
outputs and files, and parsed here; nothing is resolved again."""

from __future__ import annotations

import re
from dataclasses import replace

from builder.backends.base import Collected, Origin, RepositoryState
from builder.container import Container

APT_LISTS = "/var/lib/apt/lists"
# Where dnf, yum and zypper cache each repository's repomd.xml (also under an --installroot's root).
RPM_CACHES = ("/var/cache/dnf", "/var/cache/yum", "/var/cache/zypp/raw")

# Each Release file in apt's lists: "@@ FILE", its sha256sum line, then its header fields.
_APT_RELEASES = r"""
cd "$1" || exit 0
for f in *Release; do
    [ -f "$f" ] || continue
    printf '@@ %s\n' "$f"
    sha256sum <"$f"
    grep -E '^(Origin|Suite|Codename|Date):' "$f" || true
done
"""
# Each repomd.xml under the caches: "@@ PATH", its sha256sum line, then the file.
_REPOMDS = r"""
for root in "$@"; do
    [ -d "$root" ] || continue
    find "$root" -name repomd.xml -type f | sort | while read -r f; do
        printf '@@ %s\n' "$f"
        sha256sum <"$f"
        cat "$f"
        echo
    done
done
"""


def _sections(text: str) -> list[tuple[str, str, list[str]]]:
    """The "@@ NAME" sections of the scripts above: (name, sha256, following lines)."""
    found = []
    for chunk in text.split("@@ ")[1:]:
        name, _, body = chunk.partition("\n")
        lines = body.splitlines()
        digest = lines[0].split()[0] if lines and lines[0].strip() else ""
        found.append((name.strip(), digest, lines[1:]))
    return found


# -- apt --------------------------------------------------------------------------------------------


def apt_list_name(url: str) -> str:
    """The file name apt gives a URL in its lists (apt's URItoFileName): no scheme, "/" as "_"."""
    rest = url.split("://", 1)[1] if "://" in url else url.split(":", 1)[-1]
    return rest.replace("/", "_")


def parse_apt_policy(text: str) -> dict[tuple[str, str], list[tuple[str, str, str]]]:
    """`apt-cache policy NAME...` -> {(name, version): [(url, suite, architecture), ...]}, in apt's order
    (dpkg's status file, an installed copy, is left out)."""
    table: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    name = version = ""
    for line in text.splitlines():
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            name, version = line.rstrip()[:-1], ""
            continue
        line = line.replace("***", "   ")  # the installed version's mark
        parts = line.split()
        if len(parts) == 2 and line.startswith("     ") and parts[1].lstrip("-").isdigit():
            version = parts[0]
        elif len(parts) >= 3 and version and parts[0].lstrip("-").isdigit() and parts[-1] == "Packages":
            url, rest = parts[1], parts[2:-1]
            suite = rest[0] if len(rest) == 2 else "./"  # a flat repository prints no suite/component
            arch = rest[-1] if len(rest) == 2 else ""
            table.setdefault((name, version), []).append((url.rstrip("/"), suite, arch))
    return table


def parse_apt_releases(text: str) -> dict[str, dict[str, str]]:
    """The Release listing (_APT_RELEASES) -> {list file name: {sha256, Date, Suite, ...}}."""
    releases = {}
    for name, digest, lines in _sections(text):
        fields = {"sha256": digest}
        for line in lines:
            key, sep, value = line.partition(":")
            if sep and key in ("Origin", "Suite", "Codename", "Date"):
                fields.setdefault(key, value.strip())
        releases[name] = fields
    return releases


# `apt-cache policy`'s package files: " 500 URL SUITE/COMPONENT ARCH Packages", or " 500 URL ./ Packages".
_PACKAGE_FILE = re.compile(r"^\s*-?\d+ (\S+) (\S+) (?:\S+ )?Packages$", re.MULTILINE)


def parse_apt_package_files(text: str) -> set[tuple[str, str]]:
    """`apt-cache policy` (no package) -> every (URL, suite) apt refreshed: what its solver chose from."""
    return {
        (url.rstrip("/"), "./" if suite.startswith("./") else suite.split("/")[0])
        for url, suite in _PACKAGE_FILE.findall(text)
    }


def apt_release_for(url: str, dist: str, releases: dict[str, dict[str, str]]) -> tuple[str, dict[str, str]]:
    """The Release file apt stored for a repository's suite (./ for a flat one): (file name, its fields),
    or ("", {}) where apt keeps none (a file: repository is read in place)."""
    base = apt_list_name(url.rstrip("/") + "/")
    stem = f"{base}dists_{dist}_" if dist != "./" else base
    for metadata in ("InRelease", "Release"):
        if stem + metadata in releases:
            return metadata, releases[stem + metadata]
    return "", {}


def apt_sources(container: Container, collected: Collected) -> tuple[dict[str, Origin], tuple[RepositoryState, ...]]:
    """Each .deb's repository and suite (apt-cache policy), and the Release of every repository apt refreshed
    (the solver chose from all of them: `rebuild` tells an unchanged closure by their hashes)."""
    names = sorted({info.name for info in collected.packages.values()})
    policy = parse_apt_policy(container.run(["apt-cache", "policy", *names], "package origins").stdout) if names else {}
    script = ["sh", "-c", _APT_RELEASES, "sh", APT_LISTS]
    releases = parse_apt_releases(container.run(script, "repository releases").stdout)
    origins: dict[str, Origin] = {}
    used: dict[tuple[str, str], RepositoryState] = {}
    for file, info in sorted(collected.packages.items()):
        offered = policy.get((info.name, info.version), [])
        fitting = [o for o in offered if info.architecture in (o[2], "all") or not o[2]] or offered
        if not fitting:
            continue
        url, suite, _ = fitting[0]
        dist, _, component = suite.partition("/") if not suite.startswith("./") else ("./", "", "")
        origins[file] = Origin(url, dist, component or None)
        if (url, dist) not in used:
            used[(url, dist)] = _release_state(url, dist, *apt_release_for(url, dist, releases))
    listed = container.run(["apt-cache", "policy"], "package files").stdout
    for url, dist in parse_apt_package_files(listed) - used.keys():
        metadata, fields = apt_release_for(url, dist, releases)
        used[(url, dist)] = _release_state(url, dist, metadata, fields)
    return origins, tuple(used[k] for k in sorted(used))


def _release_state(url: str, dist: str, metadata: str, fields: dict[str, str]) -> RepositoryState:
    return RepositoryState(
        id=f"{url} {dist}",
        metadata=metadata or "Release",
        sha256=fields.get("sha256"),
        date=fields.get("Date"),
        url=url,
        suite=dist,
    )


# -- RPM: dnf, yum, zypper ----------------------------------------------------------------------------

CONTEXT = "repository metadata"
_HEX_SUFFIX = re.compile(r"-[0-9a-f]{16}$")  # dnf's cache directories: <repoid>-<hash>


def repomd_id(path: str) -> str:
    """The repository id of a cached repomd.xml (dnf: ID-HASH/repodata, yum: ID/, zypper: raw/ID/repodata)."""
    parts = path.split("/")[:-1]
    if parts and parts[-1] == "repodata":
        parts = parts[:-1]
    return _HEX_SUFFIX.sub("", parts[-1]) if parts else ""


def parse_repomds(text: str) -> dict[str, RepositoryState]:
    """The repomd listing (_REPOMDS) -> {repository id: its state}: <revision> and the newest <timestamp>."""
    states = {}
    for path, digest, lines in _sections(text):
        body = "\n".join(lines)
        revision = re.search(r"<revision>([^<]*)</revision>", body)
        stamps = [int(t) for t in re.findall(r"<timestamp>(\d+)</timestamp>", body)]
        repo = repomd_id(path)
        if repo and repo not in states:
            states[repo] = RepositoryState(
                id=repo,
                metadata="repomd.xml",
                sha256=digest or None,
                date=str(max(stamps)) if stamps else None,
                revision=revision.group(1) if revision else None,
            )
    return states


def repomds_argv(roots: tuple[str, ...]) -> list[str]:
    """Every repomd.xml in the package managers' caches under `roots`, with its sha256 (parse_repomds)."""
    return ["sh", "-c", _REPOMDS, "sh", *(f"{root.rstrip('/')}{cache}" for root in roots for cache in RPM_CACHES)]


def rpm_sources(
    container: Container,
    origins: dict[str, list[str]],
    roots: tuple[str, ...],
    urls: dict[str, str],
    listing: str | None = None,
) -> tuple[dict[str, Origin], tuple[RepositoryState, ...]]:
    """Each .rpm's repository (by file name, as the package manager reported it) and the state of
    those repositories' repomd.xml, read from the caches under `roots` (`listing`: repomds_argv's
    output, when it ran already); `urls`: the recipe's, by id."""
    states = parse_repomds(listing if listing is not None else container.run(repomds_argv(roots), CONTEXT).stdout)
    packages = {file: Origin(repos[0]) for file, repos in sorted(origins.items()) if repos}
    used = sorted({origin.repository for origin in packages.values()})
    found = [states.get(r, RepositoryState(r, "repomd.xml", None, None)) for r in used]
    return packages, tuple(replace(state, url=urls.get(state.id)) for state in found)
