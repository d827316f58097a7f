"""Benchmark a closure larger than one Azure package: built, split into ordered parts, timed.

Builds `--packages` (default texlive-full, whose closure on debian-12 is over 2 GB of .debs) for
`--distro debian-12` with Azure's default limit (2 GB a package, or `--max-package-size`), in-process
(`pipeline.build`, container start and removal included), and prints each part (application, order,
package size, files), the total, and the wall-clock time; with `--verify`, also the time to install
every part in order in a network-less container and remove them all (builder.split.verify).

Needs the venv, a running Docker engine and the local image (`make setup`); the network is only the
image's apt mirror (deb.debian.org), from inside the build container. It downloads the whole closure
(several GB; the package cache, when configured, keeps it for the next run) and needs about three
times that on the output's filesystem while it bundles.

    .venv/bin/python benchmarks/bench_split.py [--packages texlive-full] [--max-package-size 2G] [--verify]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from builder.cli.options import parse_size
from builder.engine import connect
from builder.pipeline import build
from builder.plan import make_plan
from builder.recipe import load_recipe
from builder.split import part_directories
from builder.verify import verify


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packages", nargs="+", default=["texlive-full"])
    parser.add_argument("--distro", default="debian-12")
    parser.add_argument("--max-package-size", default=None, help="e.g. 500M (default: Azure's 2 GB)")
    parser.add_argument("--out", type=Path, default=None, help="where the build goes (default: a temp dir)")
    parser.add_argument("--verify", action="store_true", help="also install all parts offline and remove them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-split-") as temp:
        out = args.out or Path(temp) / "dist"
        recipe = Path(temp) / "big.yaml"
        recipe.write_text(
            "name: bench-split\nversion: 1.0.0\ndescription: a closure over one package\n"
            f"linux:\n  packages: {json.dumps(args.packages)}\n",
            encoding="utf-8",
        )
        limit = parse_size(args.max_package_size) if args.max_package_size else None
        plan = make_plan(load_recipe(recipe), args.distro, out, max_package_bytes=limit)
        client = connect()
        started = time.monotonic()
        result = build(plan, client)
        built = time.monotonic() - started
        _report(result.manifest.parent, plan.max_package_bytes, built)
        if args.verify:
            started = time.monotonic()
            verify(result.manifest.parent, client=client)
            print(f"verify: every part installed in order offline, then removed: {time.monotonic() - started:.0f} s")
    return 0


def _report(directory: Path, limit: int, seconds: float) -> None:
    manifest = json.loads((directory / "manifest.json").read_text())
    print(f"{' '.join(p['name'] for p in manifest['packages'][:3])} ...: {len(manifest['packages'])} packages")
    total = 0
    for part_dir in part_directories(directory, manifest):
        part = json.loads((part_dir / "manifest.json").read_text())
        size = part["package"]["size"]
        total += size
        order = part.get("split", {}).get("part", 1)
        files = part["sizes"]["files"]
        print(f"  order {order}: {part['application']['name']:<24} {size / 2**20:10.1f} MiB  {files:5d} files")
    print(f"total {total / 2**20:.1f} MiB in packages of at most {limit / 2**20:.0f} MiB; built in {seconds:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
