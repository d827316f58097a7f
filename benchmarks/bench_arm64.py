"""Benchmark an arm64 build (under qemu-user-static) against the amd64 build of the same recipe.

For each architecture, in one run: time a whole vmapp-build build of the recipe (in-process
`pipeline.build`: container start, apt's refresh, discovery and download, bundle, removal) for
debian-12 and for debian-12/arm64, and with --verify the offline install/check/remove after it. They
alternate (swapping which goes first) for --rounds; the medians and the arm64/amd64 ratio are printed.
Nothing is compared against a target: the ratio is what emulation costs on this machine.

The images are `make setup`'s: debian:12 and arm64v8/debian:12 (`vmapp-build image bootstrap
debian-12/arm64`). Both builds fetch from Debian's archive.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_arm64.py [--recipe jq] [--rounds 1] [--verify]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import docker

from builder.engine import connect
from builder.pipeline import build
from builder.plan import make_plan
from builder.recipe import load_recipe
from builder.verify import verify

TARGETS = {"amd64": "debian-12", "arm64": "debian-12/arm64"}


def time_build(client: docker.DockerClient, recipe: str, target: str, out: Path, then_verify: bool) -> float:
    """Seconds for one build of `recipe` for `target` (and its verify), into a fresh `out`."""
    plan = make_plan(load_recipe(recipe), target, out)
    start = time.perf_counter()
    result = build(plan, client)
    if then_verify:
        verify(plan.out_dir, client=client)
    seconds = time.perf_counter() - start
    files = result.document["sizes"]["files"]
    print(f"  {target:<16} {seconds:7.1f} s  ({files} packages, {result.document['package']['size']} bytes)")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="jq", help="a shipped recipe's name or a YAML path (default: jq)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--verify", action="store_true", help="time the offline verify too")
    args = parser.parse_args()
    client = connect()
    times: dict[str, list[float]] = {arch: [] for arch in TARGETS}
    with tempfile.TemporaryDirectory(prefix="vmapp-bench-arm64-") as work:
        for round_no in range(args.rounds):
            order = list(TARGETS) if round_no % 2 == 0 else list(reversed(TARGETS))
            print(f"round {round_no + 1}/{args.rounds}")
            for arch in order:
                out = Path(work) / f"{round_no}-{arch}"
                times[arch].append(time_build(client, args.recipe, TARGETS[arch], out, args.verify))
    amd64, arm64 = (statistics.median(times[arch]) for arch in TARGETS)
    what = "build and verify" if args.verify else "build"
    print(f"{args.recipe} {what}, median of {args.rounds}: amd64 {amd64:.1f} s, arm64 {arm64:.1f} s (qemu)")
    print(f"arm64/amd64 = {arm64 / amd64:.2f}")


if __name__ == "__main__":
    main()
