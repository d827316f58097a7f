"""Benchmark the host caches: a warm build of one recipe (every package in the package cache, the
image's refreshed lists in a layer) against the plain cold manual path (benchmarks/bench_manual.py),
in one run.

First a cold vmapp-build into an empty cache (it fills the cache and refreshes the lists); then
--rounds rounds, each a warm vmapp-build and a cold manual path, alternating which goes first.
Printed: each timing; the median warm build (the closure memo's: no container) as a ratio of the
median manual path, against the target (at most 0.3); the same for a warm build that solves again (its
memo deleted first: the lists layer and the cached packages only); the cold build against the manual
path (what filling the caches costs); the cache's hit rate and bytes downloaded per build (its
statistics); the manual path's own phases; and the machine's load.

    .venv/bin/python benchmarks/bench_cache.py [--recipe git] [--distro debian-12] [--rounds 3]
        [--fail-above 0.3]

Exit codes: 0 done (whatever the ratio), 1 a warm build was not all hits or the bundles differ,
2 the ratio is above --fail-above.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker

from benchmarks.bench_manual import BENCH_LABEL, Sample, time_manual  # repo root: on sys.path (make venv)
from builder.cache import PackageCache, human
from builder.closure_memo import DIRECTORY as MEMOS
from builder.engine import connect
from builder.lists import ListsLayers
from builder.pipeline import build
from builder.plan import BuildPlan, make_plan
from builder.recipe import load_recipe

TARGET_RATIO = 0.3


def time_build(
    client: docker.DockerClient, recipe: str, distro: str, out: Path, cache: PackageCache, lists: ListsLayers
) -> Sample:
    """One in-process vmapp-build with the cache and lists layers: its wall time and package."""
    plan = make_plan(load_recipe(recipe), distro, out)
    start = time.perf_counter()
    result = build(plan, client, cache=cache, lists=lists)
    return Sample(time.perf_counter() - start, result.package)


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {key: after[key] - before.get(key, 0) for key in after}


def _cache_line(what: str, stats: dict[str, int]) -> str:
    looked_up = stats["hits"] + stats["misses"]
    rate = f"{100 * stats['hits'] / looked_up:.0f}%" if looked_up else "-"
    per_build = stats["bytes_fetched"] // max(1, stats["builds"])
    return (
        f"{what}: {stats['builds']} builds, hit rate {rate} ({stats['hits']} of {looked_up} files), "
        f"downloaded {human(per_build)} per build"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="git")
    parser.add_argument("--distro", default="debian-12")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fail-above", type=float, default=None)
    args = parser.parse_args()
    client = connect()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        root = Path(tmp)
        cache = PackageCache(root / "cache")
        # TTL 0: the cold build refreshes the lists (as the manual path does) and keeps them for this run.
        lists = ListsLayers(ttl=0)
        cold = time_build(client, args.recipe, args.distro, root / "cold", cache, lists)
        print(f"cold vmapp-build, empty cache:  {cold.seconds:7.2f} s")
        after_cold = cache.info().stats
        warm: list[Sample] = []
        solved: list[Sample] = []
        manual: list[Sample] = []
        plan = make_plan(load_recipe(args.recipe), args.distro, root / "plan")
        assert isinstance(plan, BuildPlan)
        run_id = uuid.uuid4().hex[:8]
        for n in range(args.rounds):
            order = ["warm", "solved", "manual"] if n % 2 == 0 else ["manual", "solved", "warm"]
            for which in order:
                if which == "warm":
                    warm.append(time_build(client, args.recipe, args.distro, root / f"warm{n}", cache, lists))
                elif which == "solved":  # the memo forgotten: a container, the solver, every package cached
                    for memo in (cache.directory / MEMOS).glob("*.json"):
                        memo.unlink()
                    solved.append(time_build(client, args.recipe, args.distro, root / f"solved{n}", cache, lists))
                else:
                    manual.append(time_manual(client, plan.image, plan, root / f"manual{n}", run_id))
            print(
                f"round {n + 1}: warm vmapp-build {warm[-1].seconds:7.2f} s   solved again {solved[-1].seconds:7.2f} s"
                f"   cold manual {manual[-1].seconds:7.2f} s"
            )
        warm_stats = _delta(after_cold, cache.info().stats)
        same = all(s.package.read_bytes() == cold.package.read_bytes() for s in warm + solved)
    leftovers = client.containers.list(all=True, filters={"label": f"{BENCH_LABEL}={run_id}"})
    ratio = statistics.median(s.seconds for s in warm) / statistics.median(s.seconds for s in manual)
    manual_median = statistics.median(s.seconds for s in manual)
    print(f"\nratio warm vmapp-build / cold manual path: {ratio:.3f}  (target <= {TARGET_RATIO})")
    solved_ratio = statistics.median(s.seconds for s in solved) / statistics.median(s.seconds for s in manual)
    print(f"ratio warm, closure solved again (lists layer, every package cached) / cold manual: {solved_ratio:.3f}")
    print(f"ratio cold vmapp-build (filling the cache) / cold manual path: {cold.seconds / manual_median:.3f}")
    print(_cache_line("cold build", after_cold))
    print(_cache_line("warm builds", warm_stats))
    phases = {name: statistics.median(s.phases.get(name, 0.0) for s in manual) for name in manual[0].phases}
    print("manual path's phases (median): " + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items()))
    print(
        f"  a warm build skips the download ({phases.get('download', 0):.2f} s) "
        f"and the refresh ({phases.get('refresh', 0):.2f} s)"
    )
    print(f"load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after ({os.cpu_count()} CPUs)")
    if not same:
        print("bench_cache: a warm build's bundle differs from the cold one's", file=sys.stderr)
    if warm_stats["misses"] or leftovers:
        print("bench_cache: a warm build missed the cache, or the manual path left containers", file=sys.stderr)
    if not same or warm_stats["misses"] or leftovers:
        return 1
    if args.fail_above is not None and ratio > args.fail_above:
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
