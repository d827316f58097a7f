"""Closures larger than one package: split into ordered applications `<app>-part1` ... `<app>-partN`.

Azure takes at most 2 GB per package (or the build's --max-package-size). A closure above that is
cut by files, never by dependencies: the earlier parts only carry package files, which their install
strings keep in a store beside the ledgers (LEDGER_ROOT/.parts/<app>/, outside every download
directory: those outlive removal and may hold another version's bytes). The last part is the build
itself, with the whole closure's index: its install string joins the stored files to its own and runs
the one install the package manager would run for the unsplit bundle, so the install order is the
package manager's and the ledger is the application's (`<app>`), as without a split.

On the VM the parts take orders 1..N (a failure skips the higher ones, so the last never installs from
a partial set); removing them, in any order, leaves the VM as before: the last part's remove is the
application's, and an earlier part's only deletes its stored file.

Layout of a split build, in dist/<app>/<version>/<distro>/: the last part (manifest with `split`),
parts/<app>-partK/ for each earlier part (a whole build directory each), and vm-plan.yaml, the
`vmapp-build simulate` plan installing them in order (its comment lists each part's order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from builder.errors import LimitError
from builder.render import LEDGER_ROOT, Commands, render

PARTS_DIR = "parts"
VM_PLAN = "vm-plan.yaml"
TAR_BLOCK = 512
TAR_RECORD = 10240
# gzip over incompressible data (.debs, .rpms) stores it: about 5 bytes per 16 KiB block, and the tar
# headers it does compress; 1/500 leaves room for that and for anything else the estimate misses.
GZIP_MARGIN = 500
SLACK = 64 * 1024


@dataclass(frozen=True)
class Sized:
    """A file to bundle, by name and size."""

    name: str
    size: int


def part_app(app: str, index: int) -> str:
    """Azure's name of part `index` (1-based)."""
    return f"{app}-part{index}"


def store_dir(app: str, ledger_root: str = LEDGER_ROOT) -> str:
    return f"{ledger_root}/.parts/{app}"


def store_path(app: str, index: int, ledger_root: str = LEDGER_ROOT) -> str:
    """Where part `index`'s install keeps its package on the VM, for the last part's install."""
    return f"{store_dir(app, ledger_root)}/part{index}.tar.gz"


def estimate(sizes: Sequence[int], extra: int = 0) -> int:
    """An upper estimate of the tar.gz (builder.bundle) of files of these sizes plus `extra` bytes of
    index: each member a header and its blocks, the end marker, the record, gzip's stored blocks."""
    raw = sum(TAR_BLOCK + -(-s // TAR_BLOCK) * TAR_BLOCK for s in sizes) + TAR_BLOCK + extra + 2 * TAR_BLOCK
    raw = -(-raw // TAR_RECORD) * TAR_RECORD
    return raw + raw // GZIP_MARGIN + SLACK


def fits(files: Sequence[Sized], extra: int, limit: int) -> bool:
    """Whether one package holds them all (`extra`: the index members' bytes)."""
    return estimate([f.size for f in files], extra) <= limit


def group_files(files: Sequence[Sized], extra: int, limit: int, where: str) -> list[list[Sized]]:
    """The files in parts each within `limit`, filled in name order (the same inputs, the same parts);
    the last part also holds the index (`extra` bytes). A single file that no part can hold is an
    error: a package file cannot be split."""
    room = limit - estimate([], extra)
    too_big = [f for f in files if estimate([f.size]) - estimate([]) > room]
    if too_big:
        shown = ", ".join(f"{f.name} is too large: size = {f.size}" for f in too_big)
        raise LimitError(
            f"{where} breaks Azure's limits: a package file cannot be split across parts, and {shown} "
            f"(a part of at most {limit} bytes holds {room} bytes of it)",
            hint="raise --max-package-size (Azure's maximum is 2 GB), or leave that package out of the recipe",
        )
    groups: list[list[Sized]] = [[]]
    for f in sorted(files, key=lambda f: f.name):
        if groups[-1] and not fits([*groups[-1], f], extra, limit):
            groups.append([])
        groups[-1].append(f)
    return groups


def carrier_commands(app: str, version: str, index: int, count: int, package_file: str) -> Commands:
    """The strings of an earlier part: keep its package in the store; remove deletes only that."""
    context = {
        "root": LEDGER_ROOT,
        "store_dir": store_dir(app),
        "parts_dir": f"{LEDGER_ROOT}/.parts",
        "store": store_path(app, index),
        "part_app": part_app(app, index),
        "last_app": part_app(app, count),
        "version": version,
        "package_file": package_file,
    }
    install = render("split/install.sh.j2", **context)
    return Commands(install=install, remove=render("split/remove.sh.j2", **context), update=install)


def stored_parts(app: str, sha256s: Sequence[str]) -> list[dict[str, str]]:
    """What the last part's install reads of the earlier ones (templates/_parts.sh.j2)."""
    last = part_app(app, len(sha256s) + 1)
    return [
        {"app": part_app(app, i), "store": store_path(app, i), "sha256": sha, "last": last}
        for i, sha in enumerate(sha256s, 1)
    ]


def split_section(app: str, index: int, count: int) -> dict[str, Any]:
    """The manifest's `split`: which part this is, and every part's application, directory and order
    (the directory relative to the last part's, where the build's manifest is)."""
    return {
        "application": app,
        "part": index,
        "count": count,
        "parts": [
            {"application": part_app(app, i), "order": i, "directory": part_directory(app, i, count)}
            for i in range(1, count + 1)
        ],
    }


def part_directory(app: str, index: int, count: int) -> str:
    return "." if index == count else f"{PARTS_DIR}/{part_app(app, index)}"


def vm_plan(split: dict[str, Any], version: str) -> str:
    """The `vmapp-build simulate` plan (builder.simulate.plan) of a VM taking every part in order: the
    split build's entry stands for its parts, at orders 1..N, which the comment lists as a VM's
    applicationProfile must."""
    lines = [f"# {split['application']} {version}: a closure split into {split['count']} applications, in this order:"]
    lines += [f"#   order {p['order']}: {p['application']} ({p['directory']})" for p in split["parts"]]
    lines.append("# `vmapp-build simulate vm-plan.yaml` installs them all in a container, offline.")
    document = {"goalStates": [{"applications": [{"build": ".", "order": 1}]}]}
    return "\n".join(lines) + "\n" + yaml.safe_dump(document, sort_keys=False)


def part_directories(directory: Path, manifest: dict[str, Any]) -> list[Path]:
    """The build directories of a split build's parts, in order; [directory] when it is not split."""
    split = manifest.get("split")
    if not split:
        return [directory]
    return [directory / p["directory"] for p in split["parts"]]
