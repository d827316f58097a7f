"""Benchmark `--jobs`: `vmapp-build rebuild` over 4 recipes for one distro, serially (`--jobs 1`) and
with `--jobs 2`, then once more with `--jobs 4` for the peak RSS of the whole run, in one run.

`rebuild` is the command whose `--jobs` spreads recipes (`recipe --jobs` spreads one recipe's distros).
Each run is the real command line in a child process (interpreter start included) into a fresh output
root, so every entry is built (`--no-verify` unless --verify: the builds' throughput is measured), with
its own fresh `--cache-dir`: every mode starts cold (or, with --warm, from its own copy of one cache
filled by an untimed run first), so no mode feeds another.

The default catalogue is git, curl, jq and tree (about 22, 4, 0.4 and 0.1 MB of .debs; tree from a
recipe written here), largest first: the pool takes entries in order, and a long one started last would
run alone. Printed: each run's wall time and peak RSS; where the CPU went meanwhile: the vmapp-build
process's CPU time (the GIL's share), its build containers' (cgroup cpuacct, sampled every 0.5 s with
the docker API, by the session label the child is given), how busy the host's CPUs were (/proc/stat:
other work on the host counts too) and how often a task waited for one (PSI, /proc/pressure/cpu); how
much of the run 1, 2, ... of its containers ran at once (a serial stage or a lock would show here); the
throughput ratio `--jobs 1` / `--jobs 2` against the target (at least 1.6); the peak RSS at `--jobs 4`
against the budget (under 200 MB); each mode's cache hit rate and bytes downloaded per build; the load
average before and after.

The peak RSS is os.wait4's ru_maxrss for the child: the largest RSS of the vmapp-build process and of
any process it waited for (it starts none), bounded below by this script's own RSS at the spawn (printed).

    .venv/bin/python benchmarks/bench_jobs.py [--recipe git --recipe curl ...] [--distro debian-12]
        [--warm] [--verify] [--fail-below 1.6]

Exit codes: 0 done (whatever the figures), 1 an entry failed, 2 the ratio is below --fail-below or the
peak RSS is at or above the budget while --fail-below is given.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import docker

from builder.container import LABEL, SESSION_ENV

TARGET_RATIO = 1.6
RSS_BUDGET_MB = 200
MB = 1000 * 1000
VMAPP_BUILD = [str(Path(sys.executable).parent / "vmapp-build")]  # the venv's console script
DEFAULT_RECIPES = ["git", "curl", "jq", "tree.yaml"]  # tree.yaml: written into the run's directory
TREE_RECIPE = """name: tree
version: 1.0.0
description: tree, the directory listing
linux:
  packages: [tree]
  check: tree --version
"""


@dataclass
class Run:
    """One `vmapp-build rebuild`: its wall time, its process's CPU and peak RSS, the machine's CPU use."""

    jobs: int
    seconds: float
    cpu_seconds: float  # the vmapp-build process's user + system time
    maxrss: int  # bytes
    busy: float  # the machine's CPUs busy during the run, 0..1 (every process on the host)
    pressure: float  # the share of the run's time some task on the host waited for a CPU (PSI), 0..1
    container_cpu: float  # the run's build containers' CPU time (cgroup cpuacct, sampled)
    containers: int
    overlap: dict[int, float]  # the share of the run's samples with at least N of its containers running
    cache: Path
    statuses: list[str]
    cache_before: dict[str, int]  # the cache's statistics before the run (a warm cache has some)


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat's first line."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _cpu_pressure() -> int:
    """Microseconds some task on the host has waited for a CPU since boot (/proc/pressure/cpu); 0 without PSI."""
    try:
        with open("/proc/pressure/cpu") as f:
            return int(f.readline().rsplit("total=", 1)[1])
    except (OSError, IndexError, ValueError):
        return 0


def _cgroup_cpu(container_id: str) -> float | None:
    """A container's CPU seconds so far, from its cgroup (v1 cgroupfs or systemd, or v2); None if not found."""
    v1 = [
        f"/sys/fs/cgroup/cpuacct/docker/{container_id}/cpuacct.usage",
        f"/sys/fs/cgroup/cpuacct/system.slice/docker-{container_id}.scope/cpuacct.usage",
    ]
    for path in v1:
        try:
            return int(Path(path).read_text()) / 1e9
        except (OSError, ValueError):
            pass
    for path in (
        f"/sys/fs/cgroup/docker/{container_id}/cpu.stat",
        f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/cpu.stat",
    ):
        try:
            stat = dict(line.split() for line in Path(path).read_text().splitlines())
            return int(stat["usage_usec"]) / 1e6
        except (OSError, ValueError, KeyError):
            pass
    return None


class ContainerCpu:
    """Samples the CPU time of the containers of one session (label io.vmapp-build.session) every
    `period` seconds while a run lasts; a container's last sample before its removal is what counts
    (so up to `period` seconds of its CPU may be missed)."""

    def __init__(self, client: docker.DockerClient, session: str, period: float = 0.5) -> None:
        self._client, self._session, self._period = client, session, period
        self.seconds: dict[str, float] = {}
        self.alive: list[int] = []  # the session's containers at each sample: did the builds overlap?
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> ContainerCpu:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self._period):
            found = self._client.api.containers(filters={"label": f"{LABEL}.session={self._session}"}, quiet=True)
            self.alive.append(len(found))
            for item in found:
                used = _cgroup_cpu(item["Id"])
                if used is not None:
                    self.seconds[item["Id"]] = max(used, self.seconds.get(item["Id"], 0.0))


def cache_stats(cache: Path) -> dict[str, int]:
    """The cache's statistics (nothing for a cache not made yet)."""
    if not cache.exists():
        return {}
    from builder.cache import PackageCache  # imported only for a warm cache: this script stays small

    return PackageCache(cache).info().stats


def run(
    client: docker.DockerClient, recipes: list[str], distro: str, jobs: int, root: Path, cache: Path, verify: bool
) -> Run:
    """One `vmapp-build rebuild --jobs N` in a child process, waited for with os.wait4 for its rusage,
    its containers' CPU time sampled meanwhile."""
    before = cache_stats(cache)
    session = f"bench-jobs-{uuid.uuid4().hex[:8]}"
    out = root / f"out-jobs{jobs}"
    argv = [
        *VMAPP_BUILD,
        "rebuild",
        *recipes,
        f"--distro={distro}",
        f"--out={out}",
        f"--jobs={jobs}",
        f"--cache-dir={cache}",
        "--verify" if verify else "--no-verify",
    ]
    log = root / f"jobs{jobs}.log"
    busy0, total0 = _cpu_jiffies()
    pressure0 = _cpu_pressure()
    start = time.monotonic()
    with open(log, "wb") as output, ContainerCpu(client, session) as sampled:
        proc = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, env=os.environ | {SESSION_ENV: session})
        _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - start
    pressure = (_cpu_pressure() - pressure0) / 1e6 / elapsed
    proc.returncode = os.waitstatus_to_exitcode(status)  # wait4 reaped it: tell Popen
    busy1, total1 = _cpu_jiffies()
    if proc.returncode != 0:
        sys.exit(f"bench_jobs: {' '.join(argv)} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
    entries = json.loads((out / "report.json").read_text())["entries"]
    return Run(
        jobs,
        elapsed,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss * 1024,  # KiB on Linux
        (busy1 - busy0) / max(1, total1 - total0),
        pressure,
        sum(sampled.seconds.values()),
        len(sampled.seconds),
        {n: sum(a >= n for a in sampled.alive) / max(1, len(sampled.alive)) for n in range(1, jobs + 1)},
        cache,
        [str(e["status"]) for e in entries],
        before,
    )


def cache_line(r: Run) -> str:
    """The run's hit rate and bytes downloaded per build, from the cache's statistics."""
    from builder.cache import human

    after = cache_stats(r.cache)
    stats = {key: value - r.cache_before.get(key, 0) for key, value in after.items()}
    looked_up = stats["hits"] + stats["misses"]
    rate = f"{100 * stats['hits'] / looked_up:.0f}%" if looked_up else "-"
    per_build = stats["bytes_fetched"] // max(1, stats["builds"])
    return (
        f"{stats['builds']} builds, hit rate {rate} ({stats['hits']} of {looked_up} files), "
        f"downloaded {human(per_build)} ({per_build} bytes) per build"
    )


def describe(r: Run, parent_rss: int) -> None:
    """A run's wall time, entries and peak RSS; then who used the CPUs meanwhile."""
    statuses = ", ".join(sorted(set(r.statuses)))
    print(
        f"--jobs {r.jobs}: {r.seconds:7.2f} s, {len(r.statuses)} entries ({statuses}); "
        f"peak RSS {r.maxrss / MB:.1f} MB (this script: {parent_rss / MB:.1f} MB)"
    )
    ours = (r.cpu_seconds + r.container_cpu) / r.seconds
    print(
        f"  CPU: vmapp-build {r.cpu_seconds:.2f} s, its {r.containers} containers {r.container_cpu:.2f} s "
        f"(together {ours:.2f} of {os.cpu_count()} CPUs on average); the host's CPUs {100 * r.busy:.0f}% busy, "
        f"a task waiting for a CPU {100 * r.pressure:.0f}% of the time"
    )
    shares = ", ".join(f">= {n}: {100 * share:.0f}%" for n, share in r.overlap.items())
    print(f"  containers running at once (share of the run): {shares}")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", action="append", dest="recipes", help="Repeat; default: git curl jq tree.")
    parser.add_argument("--distro", default="debian-12")
    parser.add_argument("--warm", action="store_true", help="Each mode starts from a copy of one filled cache.")
    parser.add_argument("--verify", action="store_true", help="Verify each build too (rebuild's default).")
    parser.add_argument("--fail-below", type=float, default=None)
    args = parser.parse_args()
    client = docker.from_env()
    print(f"load average (1, 5, 15 min) before: {_load()}  ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        root = Path(tmp)
        (root / "tree.yaml").write_text(TREE_RECIPE)
        recipes = [str(root / r) if r == "tree.yaml" else r for r in args.recipes or DEFAULT_RECIPES]
        print(
            f"catalogue: {', '.join(Path(r).stem for r in recipes)} for {args.distro}, "
            f"{'warm' if args.warm else 'cold'} cache, {'build and verify' if args.verify else 'build only'}"
        )
        filled = root / "cache-filled"
        if args.warm:
            (root / "fill").mkdir()
            run(client, recipes, args.distro, 1, root / "fill", filled, args.verify)
        runs: list[Run] = []
        for jobs in (1, 2, 4):
            cache = root / f"cache-jobs{jobs}"
            if args.warm:
                shutil.copytree(filled, cache)
            parent_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            r = run(client, recipes, args.distro, jobs, root, cache, args.verify)
            runs.append(r)
            describe(r, parent_rss)
        serial, two, four = runs
        ratio = serial.seconds / two.seconds
        print(f"\nthroughput --jobs 2 / --jobs 1: {ratio:.2f}x  (target >= {TARGET_RATIO}x)")
        print(f"throughput --jobs 4 / --jobs 1: {serial.seconds / four.seconds:.2f}x")
        verdict = "within" if four.maxrss < RSS_BUDGET_MB * MB else "OVER"
        print(f"peak RSS at --jobs 4: {four.maxrss / MB:.1f} MB  (budget < {RSS_BUDGET_MB} MB: {verdict})")
        for r in runs:
            print(f"cache, --jobs {r.jobs}: {cache_line(r)}")
    print(f"load average (1, 5, 15 min) after: {_load()}")
    if any(s == "failed" for r in runs for s in r.statuses):
        return 1
    if args.fail_below is not None and (ratio < args.fail_below or verdict == "OVER"):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
