"""Parsers for apt's and dpkg's output: control paragraphs, dependency fields, `apt-cache depends`.

Pure functions, tested on output recorded from the real tools (tests/data/apt).
"""

from __future__ import annotations

import re
from typing import Any

_REL_RE = re.compile(r"^\s*(?P<name>[^\s(\[<]+)\s*(?:\((?P<op><<|<=|=|>=|>>|<|>)\s*(?P<ver>[^)\s]+)\s*\))?")


def parse_paragraphs(text: str) -> list[dict[str, str]]:
    """Split deb822 text (`apt show`, `dpkg-deb -f`, Packages) into ordered field dicts.

    Continuation lines are kept with their leading space, so a paragraph can be written back exactly.
    """
    paragraphs: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                paragraphs.append(current)
            current, last = {}, ""
        elif line[0] in " \t" and last:
            current[last] += "\n" + line
        elif ":" in line and not line.startswith(("WARNING:", "N:", "W:", "E:")):
            key, _, value = line.partition(":")
            last = key.strip()
            current[last] = value.strip()
    if current:
        paragraphs.append(current)
    return paragraphs


def format_paragraph(fields: dict[str, str]) -> str:
    # a value that starts on the next line (`Conffiles:`) is written back without a trailing space
    return "".join(f"{k}:{v}\n" if not v or v.startswith("\n") else f"{k}: {v}\n" for k, v in fields.items())


def parse_relations(field: str) -> list[list[dict[str, str]]]:
    """`a (>= 1), b | c:any` -> [[{name: a, op: >=, version: 1}], [{name: b}, {name: c:any}]]."""
    groups = []
    for group in field.split(","):
        if not group.strip():
            continue
        alternatives = []
        for alt in group.split("|"):
            match = _REL_RE.match(alt)
            if not match:
                continue
            rel = {"name": match["name"]}
            if match["op"]:
                rel["op"], rel["version"] = match["op"], match["ver"]
            alternatives.append(rel)
        groups.append(alternatives)
    return groups


def parse_apt_show(text: str) -> list[dict[str, Any]]:
    """The documented discovery (`apt show PKG`): each package's Depends and Pre-Depends."""
    result = []
    for para in parse_paragraphs(text):
        if "Package" not in para:
            continue
        entry: dict[str, Any] = {"package": para["Package"], "version": para.get("Version", "")}
        for key in ("Pre-Depends", "Depends", "Recommends"):
            if key in para:
                entry[key.lower()] = parse_relations(para[key])
                entry[key.lower() + "_line"] = para[key]
        result.append(entry)
    return result


def parse_depends_tree(text: str) -> dict[str, Any]:
    """`apt-cache depends --recurse` -> {"packages": {pkg: [[alt, ...], ...]}, "virtual": [...]}.

    Each dependency group is a list of alternatives (`|Depends:` continues a group); a virtual
    alternative (`<name>`) carries the providers apt lists under it. The tree over-approximates the
    closure (every alternative is followed), so it is a report, never the bundle's contents.
    """
    packages: dict[str, list[list[dict[str, Any]]]] = {}
    virtual: list[str] = []
    current: list[list[dict[str, Any]]] | None = None
    continues = False
    last: dict[str, Any] | None = None
    for line in text.splitlines():
        if not line.strip():
            continue
        # apt-cache prints an alternative as " |Depends: x": the '|' sits in the indentation column
        indent = len(line) - len(line.lstrip(" |"))
        body = line.strip()
        if indent == 0:
            if body.startswith("<") and body.endswith(">"):
                virtual.append(body[1:-1])
                current = None
            else:
                current = packages.setdefault(body, [])
            continues, last = False, None
        elif indent == 2 and current is not None:
            alt_continues = body.startswith("|")
            kind, _, target = body.lstrip("|").partition(":")
            target = target.strip()
            alt: dict[str, Any] = {"type": kind, "name": target.strip("<>")}
            if target.startswith("<"):
                alt["virtual"] = True
                alt["providers"] = []
            if continues and current:
                current[-1].append(alt)
            else:
                current.append([alt])
            continues, last = alt_continues, alt
        elif indent >= 4 and last is not None and last.get("virtual"):
            last["providers"].append(body)
    return {"packages": packages, "virtual": sorted(set(virtual))}


def unknown_packages(output: str) -> list[str]:
    """Package names apt says it cannot locate or has no candidate for (not virtual ones)."""
    names = re.findall(r"Unable to locate package (\S+)", output)
    names += re.findall(r"Package '?([^'\s]+)'? has no installation candidate", output)
    names += [f"{pkg}={ver}" for ver, pkg in re.findall(r"Version '([^']+)' for '([^']+)' was not found", output)]
    return [n for n in dict.fromkeys(names) if n not in virtual_providers(output)]


def virtual_providers(output: str) -> dict[str, list[str]]:
    """`Package X is a virtual package provided by:` blocks -> {X: [provider, ...]}."""
    found: dict[str, list[str]] = {}
    for match in re.finditer(r"Package (\S+) is a virtual package provided by:\n((?:  \S.*\n?)+)", output):
        found[match[1]] = [line.split()[0] for line in match[2].splitlines() if line.strip()]
    return found
