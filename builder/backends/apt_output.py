"""apt's words: the lines of apt's output the apt backend reads (repository failures, the solver's
simulation, the download's file list) and the sources line it writes for a recipe's repository."""

from __future__ import annotations

import re

from builder.backends.base import Resolved
from builder.backends.repository import Repository

REPO_FAILURE = re.compile(
    r"^(?:W|E): .*(?:Failed to fetch|NO_PUBKEY|not signed|does not have a Release file|"
    r"Release file .* is not valid|BADSIG|EXPKEYSIG|Could not resolve|Unable to connect|"
    r"404\s+Not Found|The following signatures couldn't be verified).*$",
    re.MULTILINE,
)
# apt-get --simulate's line for each package it would fetch: `Inst NAME[:ARCH] [OLD] (VERSION ORIGINS [ARCH])`.
_SIMULATED = re.compile(
    r"^Inst (?P<name>[^\s:]+)(?::\S+)? (?:\[[^\]]*\] )?\((?P<version>\S+) .*\[(?P<arch>[^\]]+)\]\)", re.MULTILINE
)
# apt-get --print-uris's line for each file the download would fetch: `'URL' FILE SIZE HASH` (the hash from
# the signed index; apt prints its best one, MD5 or none on bookworm, unless Acquire::ForceHash says SHA256).
_PRINTED_URI = re.compile(
    r"^'[^']*' (?P<file>\S+) (?P<size>\d+) ?(?:SHA256:(?P<sha256>[0-9a-f]{64})|\S*)$", re.MULTILINE
)


_PROBLEMS = (
    (
        re.compile(r"NO_PUBKEY|BADSIG|EXPKEYSIG|is not signed|signatures couldn't be verified"),
        "its signature does not verify with the recipe's key",
        "the repository's `key` must be the public key that signs its InRelease/Release file "
        "(apt names the key it wanted after NO_PUBKEY)",
    ),
    (
        re.compile(r"does not have a Release file"),
        "it has no Release file for this suite: nothing is there, or it is not an apt repository",
        "check the url (the directory holding dists/, or the flat repository itself) and the suite "
        "(a flat repository without dists/ uses suite: ./)",
    ),
    (
        re.compile(r"Could not connect|Could not resolve|Unable to connect|Connection (?:refused|timed out)|timed out"),
        "it cannot be reached from the build container",
        "check the url, and that the build container reaches it (DNS, proxy, firewall)",
    ),
)


def parse_simulation(output: str) -> frozenset[Resolved]:
    """apt-get --simulate's Inst lines -> (name, version, architecture), as the .deb files say them."""
    return frozenset((m["name"], m["version"], m["arch"]) for m in _SIMULATED.finditer(output))


def parse_print_uris(output: str) -> list[tuple[str, int, str | None]]:
    """apt-get --print-uris's lines -> (file name, size, sha256 or None): None when apt printed another
    hash or none, or the name would leave the download directory (nothing is fed for such a file)."""
    return [
        (m["file"], int(m["size"]), m["sha256"] if "/" not in m["file"] and m["file"] not in (".", "..") else None)
        for m in _PRINTED_URI.finditer(output)
    ]


def repo_problem(apt_lines: str) -> tuple[str, str]:
    """apt update's complaint about one repository, in words, with what to check next."""
    for pattern, reason, hint in _PROBLEMS:
        if pattern.search(apt_lines):
            return reason, hint
    return "apt cannot use it", "check the repository's URL, suite and signing key, and that the builder reaches it"


def apt_url(repo: Repository) -> str:
    """The repository's URL as apt prints it in its messages (file:///srv/repo/ -> file:/srv/repo)."""
    return re.sub(r"^file:/+", "file:/", repo.url.rstrip("/"))


def sources_line(repo: Repository, keyring: str) -> str:
    options = [f"signed-by={keyring}"]
    if repo.architectures:
        options.append("arch=" + ",".join(repo.architectures))
    return f"deb [{' '.join(options)}] {repo.url} {repo.suite} {' '.join(repo.components)}".rstrip() + "\n"
