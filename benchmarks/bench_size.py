"""Benchmark how a build's cost grows with its closure's size: 3 recipes of about 5, 50 and 500 MB of
.debs on debian-12, each built once by vmapp-build (cold: a fresh, empty package cache) and once by the
plain manual path (benchmarks/bench_manual.py), alternating which goes first, in one run.

The recipes (closures measured with `apt-get install --print-uris --no-install-recommends` in debian:12):
curl (16 .debs, about 4 MB, shipped), gcc (25 .debs, about 46 MB) and a polyglot toolchain, openjdk-17
jdk-headless, rustc, clang, gfortran, golang-go, llvm-dev, gdb, cmake and valgrind (162 .debs, about
500 MB); the last two are recipes written here. Printed: per recipe the .debs and MB of the closure (from
vmapp-build's manifest), each path's seconds and seconds per MB, their ratio and the phases that grow
with size; then, per path, the least-squares line seconds = fixed + slope x MB over the 3 recipes (the
fixed cost per build, and the marginal cost per MB); the machine's load before and after.

vmapp-build runs in-process (its phases timed as bench_apt.py times them); both paths include container
start and removal. Network: deb.debian.org, from inside the containers (about 1.1 GB in all).

    .venv/bin/python benchmarks/bench_size.py [--distro debian-12] [--only curl --only gcc ...]

Exit codes: 0 done, 1 a container was left behind (or an error).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import docker

import builder.closure
import builder.pipeline
from benchmarks.bench_apt import instrumented  # repo root: on sys.path (make venv)
from benchmarks.bench_manual import BENCH_LABEL, Sample, time_manual
from builder.cache import PackageCache
from builder.engine import connect
from builder.manifest import load_manifest
from builder.plan import BuildPlan, make_plan
from builder.recipe import load_recipe

MB = 1000 * 1000
TOOLCHAIN = [
    "openjdk-17-jdk-headless",
    "rustc",
    "clang",
    "gfortran",
    "golang-go",
    "llvm-dev",
    "gdb",
    "cmake",
    "valgrind",
]
RECIPES = {  # name: the recipe's YAML (None: the shipped recipe)
    "curl": None,
    "gcc": "name: gcc\nversion: 1.0.0\ndescription: the GNU C compiler\nlinux:\n  packages: [gcc]\n",
    "toolchain": (
        "name: toolchain\nversion: 1.0.0\ndescription: Java, Rust, C, Fortran and Go toolchains\n"
        f"linux:\n  packages: [{', '.join(TOOLCHAIN)}]\n"
    ),
}
# The phases that grow with the closure, in each path's terms (bench_apt.py's and bench_manual.py's).
VMAPP_PHASES = ["download", "describe", "hash", "copy-out", "bundle", "cache keep", "other"]
MANUAL_PHASES = ["download", "index", "bundle", "copy-out"]


def time_cold(client: docker.DockerClient, plan: BuildPlan, cache: PackageCache, started: list[str]) -> Sample:
    """One in-process vmapp-build into an empty package cache, its phases timed (bench_apt.py's, plus
    the cache's keep: storing what was downloaded, which grows with the closure)."""
    phases: dict[str, float] = defaultdict(float)
    name = "keep"  # builder.closure's own name for builder.cache.keep (not exported: reached by name)
    keep = getattr(builder.closure, name)

    def timed_keep(*args: Any, **kwargs: Any) -> Any:
        mark = time.perf_counter()
        try:
            return keep(*args, **kwargs)
        finally:
            phases["cache keep"] += time.perf_counter() - mark

    setattr(builder.closure, name, timed_keep)
    try:
        with instrumented(phases, started):
            start = time.perf_counter()
            result = builder.pipeline.build(plan, client, cache=cache)
            seconds = time.perf_counter() - start
    finally:
        setattr(builder.closure, name, keep)
    phases["other"] = seconds - sum(phases.values())
    return Sample(seconds, result.package, dict(phases))


def closure(build_dir: Path) -> tuple[int, int]:
    """The closure's .debs and bytes, from the build's manifest."""
    _, manifest = load_manifest(build_dir)
    packages = manifest["packages"]
    return len(packages), sum(int(p["size"]) for p in packages)


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """The least-squares line through (MB, seconds): (fixed seconds, seconds per MB)."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / var if var else 0.0
    return mean_y - slope * mean_x, slope


def _phases(sample: Sample, names: list[str]) -> str:
    return ", ".join(f"{name} {sample.phases.get(name, 0.0):.1f}" for name in names)


def measure(
    client: docker.DockerClient, name: str, distro: str, root: Path, first: str, run_id: str, started: list[str]
) -> tuple[int, int, Sample, Sample]:
    """One recipe by both paths, `first` first: its .debs, bytes, vmapp-build's and the manual path's samples."""
    spec = name
    if RECIPES[name] is not None:
        spec = str(root / f"{name}.yaml")
        Path(spec).write_text(str(RECIPES[name]))
    plan = make_plan(load_recipe(spec), distro, root / f"vmapp-{name}")
    if not isinstance(plan, BuildPlan) or plan.tarball:
        raise SystemExit(f"bench_size times package closures; {name} for {distro} is not one")
    samples: dict[str, Sample] = {}
    for which in (first, "manual" if first == "vmapp" else "vmapp"):
        if which == "vmapp":
            samples[which] = time_cold(client, plan, PackageCache(root / f"cache-{name}"), started)
        else:
            samples[which] = time_manual(client, plan.image, plan, root / f"manual-{name}", run_id)
    debs, size = closure(samples["vmapp"].package.parent)
    return debs, size, samples["vmapp"], samples["manual"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--distro", default="debian-12")
    parser.add_argument("--only", action="append", choices=list(RECIPES), help="Repeat; default: all three.")
    args = parser.parse_args()
    client = connect()
    run_id = uuid.uuid4().hex[:8]
    started: list[str] = []
    rows: list[tuple[str, int, int, Sample, Sample]] = []
    print(f"load average (1, 5, 15 min) before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="bench-size-") as tmp:
        for n, name in enumerate(args.only or list(RECIPES)):
            first = "vmapp" if n % 2 == 0 else "manual"
            debs, size, vmapp, manual = measure(client, name, args.distro, Path(tmp), first, run_id, started)
            rows.append((name, debs, size, vmapp, manual))
            print(
                f"{name:<10} {debs:4d} .debs {size / MB:7.1f} MB: vmapp-build (cold cache) {vmapp.seconds:7.2f} s "
                f"({vmapp.seconds / (size / MB):.3f} s/MB), manual {manual.seconds:7.2f} s "
                f"({manual.seconds / (size / MB):.3f} s/MB), ratio {vmapp.seconds / manual.seconds:.2f} "
                f"({first} first)"
            )
            print(f"  vmapp-build phases (s): {_phases(vmapp, VMAPP_PHASES)}")
            print(f"  manual phases (s):      {_phases(manual, MANUAL_PHASES)}")
    if len(rows) > 1:
        lines = {
            "vmapp-build (cold cache)": fit([(size / MB, vmapp.seconds) for _, _, size, vmapp, _ in rows]),
            "manual path": fit([(size / MB, manual.seconds) for _, _, size, _, manual in rows]),
        }
        for label, (fixed, slope) in lines.items():
            print(f"{label:<25} seconds ~ {fixed:6.2f} + {slope:.4f} x MB  ({1 / slope if slope else 0:.1f} MB/s)")
    print(f"load average (1, 5, 15 min) after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    left = [str(c.name) for c in client.containers.list(all=True, filters={"label": f"{BENCH_LABEL}={run_id}"})]
    left += [n for n in started if client.containers.list(all=True, filters={"name": n})]
    if left:
        print(f"bench_size: containers left behind: {', '.join(left)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
