"""Parsers for the RPM family's output: dnf/yum deplist, zypper info, rpm --qf, solver errors.

Pure functions, tested on output recorded from the real tools (tests/data/rpm). They read reports;
the resolving is always the package manager's own solver.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

# Fields `rpm -qp --qf` / `rpm -qa --qf` print, tab-separated, one package per line.
QUERY_FIELDS = ("name", "epoch", "version", "release", "arch")
QUERY_FORMAT = "\t".join(f"%{{{f.upper()}}}" for f in QUERY_FIELDS)

_REQ_RE = re.compile(r"^(?P<name>\S+?)\s*(?:(?P<op><=|>=|=|<|>)\s*(?P<version>\S+))?$")
# dnf prints NEVRA (`vt-lib-1.2-1.noarch`, `bash-0:5.1-2.el9.x86_64`); yum 3 prints `name.arch [epoch:]ver-rel`.
_NEVRA_RE = re.compile(r"^(?P<name>.+)-(?P<evr>(?:\d+:)?[^-:\s]+-[^-\s]+)\.(?P<arch>[^.\s]+)$")
_YUM_NA_EVR_RE = re.compile(r"^(?P<name>.+)\.(?P<arch>[^.\s]+) (?P<evr>\S+)$")


def classify_requirement(text: str) -> dict[str, str]:
    """One RPM requirement: `(a or b)` is rich, `/bin/sh` a file, else NAME [OP VERSION]."""
    text = text.strip()
    if text.startswith("("):
        return {"requirement": text, "kind": "rich"}
    if text.startswith("/"):
        return {"requirement": text, "kind": "file"}
    match = _REQ_RE.match(text)
    if not match:
        return {"requirement": text, "kind": "other"}
    req = {"requirement": text, "kind": "name", "name": match["name"]}
    if match["op"]:
        req.update(kind="versioned", op=match["op"], version=match["version"])
    return req


def parse_package_label(text: str) -> dict[str, str]:
    """`vt-lib-1.2-1.noarch` (dnf) or `libicu.x86_64 50.2-4.el7_7` (yum 3) -> {name, version, arch}."""
    text = text.strip()
    match = _YUM_NA_EVR_RE.match(text) or _NEVRA_RE.match(text)
    if not match:
        return {"name": text, "version": "", "arch": ""}
    evr = match["evr"]
    if evr.startswith("0:"):
        evr = evr[2:]
    return {"name": match["name"], "version": evr, "arch": match["arch"]}


def parse_deplist(text: str) -> list[dict[str, Any]]:
    """`dnf deplist` / `yum deplist` -> [{package, name, version, arch, dependencies: [...]}].

    Each dependency keeps its requirement text, its kind (rich, file, versioned, name) and every
    provider the tool listed: a report of the alternatives, not a choice among them.
    """
    packages: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    dep: dict[str, Any] | None = None
    for line in text.splitlines():
        body = line.strip()
        if body.startswith("package:"):
            label = body.partition(":")[2].strip()
            current = {"package": label, **parse_package_label(label), "dependencies": []}
            packages.append(current)
            dep = None
        elif body.startswith("dependency:") and current is not None:
            dep = {**classify_requirement(body.partition(":")[2]), "providers": []}
            current["dependencies"].append(dep)
        elif body.startswith("provider:") and dep is not None:
            dep["providers"].append(body.partition(":")[2].strip())
    return packages


def parse_zypper_info(text: str) -> list[dict[str, Any]]:
    """`zypper info --requires` -> [{package, version, arch, repository, requires: [...]}].

    `Requires : [N]` is followed by N indented lines; a single requirement is printed on the same
    line without `[N]`; `---` means none.
    """
    packages: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    in_requires = False
    for line in text.splitlines():
        if line.startswith("Information for package "):
            current = {"package": line[len("Information for package ") :].rstrip(":").strip(), "requires": []}
            packages.append(current)
            in_requires = False
            continue
        if current is None:
            continue
        if in_requires and line.startswith((" ", "\t")) and line.strip():
            current["requires"].append(classify_requirement(line))
            continue
        in_requires = False
        key, sep, value = line.partition(":")
        if not sep or line.startswith((" ", "\t")):
            continue
        key, value = key.strip(), value.strip()
        if key == "Requires":
            if re.fullmatch(r"\[\d+\]", value):
                in_requires = True
            elif value and value != "---":
                current["requires"].append(classify_requirement(value))
        elif key in ("Version", "Arch", "Repository", "Name"):
            current[key.lower()] = value
    return packages


def zypper_unknown_packages(output: str) -> list[str]:
    """Names zypper says it has no package or provider for."""
    names = re.findall(r"^package '([^']+)' not found\.?$", output, re.MULTILINE)
    names += re.findall(r"No provider of '([^']+)' found", output)
    return list(dict.fromkeys(names))


def dnf_unknown_packages(output: str) -> list[str]:
    """Names dnf (`Unable to find a match`, `No match for argument`) or yum 3 (`No package X available`) lacks."""
    names: list[str] = []
    for match in re.findall(r"Unable to find a match: (.+)$", output, re.MULTILINE):
        names += match.split()
    names += re.findall(r"No match for argument: (\S+)", output)
    names += re.findall(r"No package (\S+) available", output)
    return list(dict.fromkeys(names))


def missing_requirements(output: str) -> list[tuple[str, str]]:
    """`nothing provides X needed by Y` (dnf, yum 3 and zypper) -> [(X, Y)], Y as a package label."""
    found = []
    for req, needer in re.findall(
        r"nothing provides '?(.+?)'? needed by (?:the to be installed )?(\S+)", output, re.MULTILINE
    ):
        found.append((req.strip(), needer.strip()))
    # yum 3: "Error: Package: powershell-7.1.3-1.rhel.7.x86_64 (prod)\n           Requires: libicu"
    for needer, req in re.findall(r"Error: Package: (\S+).*\n\s+Requires: (.+)$", output, re.MULTILINE):
        found.append((req.strip(), needer.strip()))
    return list(dict.fromkeys(found))


def parse_query(text: str) -> list[dict[str, str]]:
    """Lines of `rpm -q --qf QUERY_FORMAT` (optionally prefixed with `FILE\\t`) -> dicts.

    Version is EVR as the tools print it: `[epoch:]version-release`.
    """
    rows = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < len(QUERY_FIELDS):
            continue
        file = parts[0] if len(parts) > len(QUERY_FIELDS) else ""
        name, epoch, version, release, arch = parts[-len(QUERY_FIELDS) :]
        evr = f"{version}-{release}"
        if epoch not in ("", "(none)", "0"):
            evr = f"{epoch}:{evr}"
        row = {"name": name, "version": evr, "arch": arch}
        if file:
            row["file"] = file
        rows.append(row)
    return rows


def split_evr(evr: str) -> tuple[int, str, str]:
    """`1:2.0-3` -> (1, "2.0", "3"); a missing epoch is 0, a missing release empty."""
    epoch, _, rest = evr.rpartition(":") if ":" in evr else ("0", "", evr)
    version, _, release = rest.partition("-")
    return int(epoch or 0), version, release


def parse_repoquery_tree(text: str) -> list[dict[str, str]]:
    """`repoquery --recursive --resolve --qf '%{name}.%{arch} %{evr}'` -> [{name, version, arch}]."""
    rows = []
    for line in text.splitlines():
        match = _YUM_NA_EVR_RE.match(line.strip())
        if match:
            rows.append({"name": match["name"], "version": match["evr"], "arch": match["arch"]})
    return rows


# -- signatures ------------------------------------------------------------------------------------
# The signature headers of a package file; `(none)` where absent. rpm 4.11 (RHEL 7) knows them all.
SIGNATURE_QUERY = "%{RSAHEADER:pgpsig}|%{DSAHEADER:pgpsig}|%{SIGPGP:pgpsig}|%{SIGGPG:pgpsig}"


@dataclass(frozen=True)
class SignatureRow:
    """One package's signature check: its file, rpmkeys' exit code and verbose output, and the key
    IDs of the signatures it carries (none: unsigned)."""

    file: str
    exit_code: int
    key_ids: tuple[str, ...]
    detail: str


def parse_signature_rows(text: str) -> list[SignatureRow]:
    """Lines of `FILE<TAB>RC<TAB>SIGNATURE_QUERY output<TAB>rpmkeys -Kv output` -> rows."""
    rows = []
    for line in text.splitlines():
        parts = line.split("\t", 3)
        if len(parts) != 4 or not parts[1].isdigit():
            continue
        file, code, signatures, detail = parts
        ids = re.findall(r"Key ID ([0-9a-fA-F]+)", signatures)
        rows.append(SignatureRow(file, int(code), tuple(dict.fromkeys(i.lower() for i in ids)), detail))
    return rows


# The label repoquery prints for a downloaded package, the same one `rpm -qp` gives its file.
NEVRA_FORMAT = "%{name}-%{epoch}:%{version}-%{release}.%{arch}"


def parse_origins(text: str) -> dict[str, list[str]]:
    """`repoquery --qf 'NEVRA_FORMAT\\t%{repoid}'` -> {nevra: [repository, ...]} (installed ones left out)."""
    origins: dict[str, list[str]] = {}
    for line in text.splitlines():
        nevra, sep, repo = line.strip().partition("\t")
        repo = repo.strip()
        if sep and repo and not repo.startswith("@") and repo != "installed":
            origins.setdefault(nevra.replace("(none):", "0:"), []).append(repo)
    return origins


def parse_config_dump(text: str) -> dict[str, bool]:
    """`dnf config-manager --dump '*'` (or yum 3's `yum-config-manager '*'`) -> {repository: gpgcheck}."""
    checks: dict[str, bool] = {}
    repo = None
    for line in text.splitlines():
        header = re.fullmatch(r"=+ repo: (\S+) =+", line.strip())
        if header:
            repo = header[1]
        elif repo and (value := re.fullmatch(r"gpgcheck\s*=\s*(\S+)", line.strip())):
            checks[repo] = value[1].lower() in ("1", "true", "yes", "on")
    return checks


def parse_zypper_repos_xml(text: str) -> dict[str, bool]:
    """`zypper --xmlout repos` -> {alias: checks package signatures (gpgcheck or pkg_gpgcheck)}."""
    checks = {}
    for tag in re.findall(r"<repo\s[^>]*>", text):
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', tag))
        if "alias" in attrs:
            checks[attrs["alias"]] = "1" in (attrs.get("gpgcheck"), attrs.get("pkg_gpgcheck"))
    return checks


def dnf_signature_failures(output: str) -> list[tuple[str, str]]:
    """dnf's refusals of a package's signature (dnf checks them after a download) -> [(package, reason)]."""
    found = [(p, "not signed") for p in re.findall(r"^Package (\S+?)(?:\.rpm)? is not signed", output, re.M)]
    wrong_key = r"(?:are already installed but they are not correct|didn't help, wrong key).*?Failing package is: (\S+)"
    found += [(p, "signed with a key that is not the repository's") for p in re.findall(wrong_key, output, re.S)]
    for package, why in re.findall(r"Public key for (\S+?)(?:\.rpm)? is not (installed|trusted)", output):
        found.append((package, f"signed with a key that is not {why}"))
    found += [
        (p, "cannot be read (corrupt?)") for p in re.findall(r"Problem opening package (\S+?)(?:\.rpm)?$", output, re.M)
    ]
    return list(dict.fromkeys(found))


def zypper_signature_failures(output: str) -> list[tuple[str, str, str]]:
    """libzypp's `PKG (REPO): Signature verification failed [N-TEXT]` -> [(package, repository, reason)]."""
    reasons = {"4": "signed with a key that is not the repository's", "6": "not signed"}
    pattern = r"^(\S+) \(([^)]+)\): Signature verification failed \[(\d+)-([^\]]*)\]"
    found = [(p, repo, reasons.get(n, text)) for p, repo, n, text in re.findall(pattern, output, re.M)]
    return list(dict.fromkeys(found))


# -- the solver's transaction, for resolve (what a download would fetch, nothing downloaded) ------
# The transaction table's sections whose packages a download-only run fetches: dnf 4 and yum 3 name
# them differently; removals, skipped packages and module/group lines (other columns) are left out.
_FETCHED_SECTIONS = {
    "Installing",
    "Upgrading",
    "Reinstalling",
    "Downgrading",
    "Installing dependencies",
    "Installing weak dependencies",
    "Installing group/module packages",
    "Updating",  # yum 3
    "Installing for dependencies",
    "Updating for dependencies",
}


def parse_transaction(text: str) -> frozenset[tuple[str, str, str]]:
    """The transaction table of `dnf install --assumeno` (or yum 3's) -> {(name, EVR, arch)}."""
    return frozenset((row[0], row[2], row[1]) for row in transaction_rows(text))


def parse_transaction_origins(text: str) -> dict[str, list[str]]:
    """The transaction table (of a download without -q, too) -> {nevra: [its repository]}, the NEVRA
    spelled as parse_origins' (epoch 0 written out)."""
    origins = {}
    for name, arch, evr, repo, *_ in transaction_rows(text):
        origins[f"{name}-{evr if ':' in evr else '0:' + evr}.{arch}"] = [repo]
    return origins


def transaction_rows(text: str) -> list[list[str]]:
    """The transaction table's rows of fetched packages: [NAME, ARCH, EVR, REPOSITORY, SIZE...].

    A row starts with one space: ` NAME ARCH [EPOCH:]VERSION-RELEASE REPOSITORY SIZE`. A value wider
    than its column pushes the rest of the row onto the next line, indented past it (dnf and yum
    size the columns for a terminal), and `     replacing  NAME.ARCH EVR` lines follow an obsoleting
    package: both start with more spaces. A line at column 0 ending in `:` opens a section; any
    other line at column 0 (rules, the summary) or a blank line closes it.
    """
    rows: list[list[str]] = []
    section: str | None = None
    for line in text.splitlines():
        body = line.strip()
        if not body or not line.startswith(" "):
            section = body[:-1] if body.endswith(":") else None
            continue
        if section not in _FETCHED_SECTIONS or body.startswith("replacing "):
            continue
        if line.startswith("  "):  # a wrapped row goes on
            if rows:
                rows[-1] += body.split()
            continue
        rows.append(body.split())
    return [row for row in rows if len(row) >= 4]


# The install-summary lists of `zypper --xmlout install --dry-run` whose packages a download fetches.
_ZYPPER_FETCHED = ("to-install", "to-upgrade", "to-downgrade", "to-reinstall", "to-change-arch", "to-change-vendor")


def parse_zypper_summary(text: str) -> frozenset[tuple[str, str, str]]:
    """`zypper --xmlout install --dry-run`'s install-summary -> {(name, edition, arch)} of its packages.

    The edition is libzypp's `[epoch:]version-release` (no epoch when it is 0), the form rpm's own
    query gives; `edition-old` (an upgrade's installed version) is not what is fetched.
    """
    root = ElementTree.fromstring(text[text.find("<?xml") :] if "<?xml" in text else text)
    found = set()
    for summary in root.iter("install-summary"):
        for section in summary:
            if section.tag not in _ZYPPER_FETCHED:
                continue
            for solvable in section.iter("solvable"):
                if solvable.get("type", "package") == "package":
                    found.add((solvable.get("name", ""), solvable.get("edition", ""), solvable.get("arch", "")))
    return frozenset(found)


def xml_stream_text(text: str) -> str:
    """zypper's --xmlout stream as the plain messages it carries (for the solver-error parsers)."""
    return html.unescape(re.sub(r"<[^>]*>", "", text))
