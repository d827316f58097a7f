"""Benchmark vmapp-build's apt path against the plain manual path, and the bundler's peak memory.

Default mode: in one run and the same image, time a whole vmapp-build build (container start and
removal included) and the manual path doing the same work (a container, `apt-get update`,
`apt-get install --download-only`, a `Packages` index written with `dpkg-deb -f`, `tar czf`, copy
the tarball out, remove the container). The two alternate for --rounds rounds; the medians, their
ratio and a per-phase breakdown are printed against the target ratio (at most 1.15).

--memory: bundle at least 500 MB of incompressible files with builder.bundle.write_tar_gz in a
fresh child process and print its peak RSS against the 150 MB budget; then stream a large file out
of a container with Container.copy_files_out, also in a child, and print that peak too.

Both modes then check that no container labelled io.vmapp-build and no `.vmapp-build-*` temp file
was left behind. Exit codes: 0 done (whatever the ratio), 1 something was left behind, 2 the ratio
is above --fail-above.

    .venv/bin/python benchmarks/bench_apt.py [--rounds 3] [--recipe git] [--image debian:12]
    .venv/bin/python benchmarks/bench_apt.py --memory [--memory-mb 520]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import docker
from docker.errors import ImageNotFound

import builder.closure
import builder.container
import builder.pipeline
from benchmarks.bench_manual import BENCH_LABEL, Sample, time_manual  # repo root: on sys.path (make venv)
from builder.container import leftover_containers
from builder.engine import connect
from builder.plan import BuildPlan, make_plan
from builder.recipe import Recipe, load_recipe

TARGET_RATIO = 1.15
RSS_BUDGET_MB = 150.0
COPY_PURPOSE = "benchcopy"  # Container purpose of the --memory copy-out child (label io.vmapp-build.purpose)
MiB = 1024 * 1024
MB = 1000 * 1000

# Phases in table order; vmapp-build's come from timing its functions, the manual path's from its steps.
PHASES = ["image", "start", "refresh", "discover: apt-get -s", "discover: apt show", "discover: apt-cache"]
PHASES += ["download", "describe", "index", "hash", "copy-out", "bundle", "remove", "other-exec", "other"]


# -- vmapp-build ----------------------------------------------------------------------------------


def _classify(argv: list[str]) -> str:
    """Which phase a command vmapp-build runs in its container belongs to."""
    if argv[:1] == ["apt-get"] and "update" in argv:
        return "refresh"
    if argv[:1] == ["apt-get"] and "--download-only" in argv:
        return "download"
    if argv[:1] == ["apt-get"] and "-s" in argv:
        return "discover: apt-get -s"
    if argv[:1] == ["apt"]:
        return "discover: apt show"
    if argv[:1] == ["apt-cache"]:
        return "discover: apt-cache"
    if argv[:1] == ["mkdir"]:
        return "download"
    if argv[:1] == ["sh"]:
        return "describe"
    return "other-exec"


@contextmanager
def instrumented(phases: dict[str, float], started: list[str]) -> Iterator[None]:
    """Time vmapp-build's own functions while a build runs in-process; everything is restored after.

    The names of the containers it starts go to `started`, so the leftover check can be exact even
    when other processes use the same engine."""
    saved: list[tuple[object, str, Any]] = []

    def wrap(owner: object, name: str, label: Callable[[tuple[Any, ...]], str]) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                phases[label(args)] += time.perf_counter() - start

        saved.append((owner, name, original))
        setattr(owner, name, timed)

    def record_start(args: tuple[Any, ...]) -> str:
        started.append(args[0].name)
        return "start"

    cls = builder.container.Container
    try:
        wrap(builder.closure, "ensure_image", lambda a: "image")
        wrap(cls, "__enter__", record_start)
        wrap(cls, "remove", lambda a: "remove")
        wrap(cls, "run", lambda a: _classify(list(a[1])))
        wrap(cls, "copy_files_out", lambda a: "copy-out")
        wrap(builder.closure, "sha256_file", lambda a: "hash")
        wrap(builder.closure, "write_tar_gz", lambda a: "bundle")
        yield
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


def time_vmapp(client: docker.DockerClient, plan: BuildPlan, started: list[str]) -> Sample:
    phases: dict[str, float] = defaultdict(float)
    with instrumented(phases, started):
        start = time.perf_counter()
        result = builder.pipeline.build(plan, client)
        seconds = time.perf_counter() - start
    phases["other"] = seconds - sum(phases.values())
    return Sample(seconds, result.package, dict(phases))


def time_vmapp_cli(recipe: str, distro: str, image: str, out_root: Path) -> Sample:
    """The CLI as a user runs it (interpreter start-up and imports included); no phase breakdown."""
    argv = [sys.executable, "-m", "builder", "recipe", recipe, "--distro", distro, "--out", str(out_root)]
    argv += ["--image", image]
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    package = next(out_root.rglob("*.tar.gz"))
    return Sample(seconds, package)


# -- reporting ------------------------------------------------------------------------------------


def debs_in(package: Path) -> dict[str, int]:
    with tarfile.open(package, "r:gz") as tar:
        return {m.name.removeprefix("./"): m.size for m in tar if m.name.endswith(".deb")}


def has_index(package: Path) -> bool:
    with tarfile.open(package, "r:gz") as tar:
        return any(m.name.removeprefix("./") == "Packages" for m in tar)


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:8.2f}s"


def leftovers(client: docker.DockerClient, work: Path, names: list[str] | None, before: set[str]) -> list[str]:
    """What the tool left behind: its containers (labelled io.vmapp-build), temp files in the output.

    With `names` (the containers this run's builds started) the check is exact; without them it is
    every labelled container that appeared since `before`, which may include another process's."""
    labelled = set(leftover_containers(client))
    suspects = labelled & set(names) if names is not None else labelled - before
    found = [f"container {name}" for name in sorted(suspects)]
    found += [f"temp file {p}" for p in sorted(work.rglob(".vmapp-build-*"))]
    return found


def _apt_plan(recipe: Recipe, distro: str, out_root: Path, image: str) -> BuildPlan:
    """The manual path is apt's: a Windows target has nothing to compare against."""
    plan = make_plan(recipe, distro, out_root, image=image)
    if not isinstance(plan, BuildPlan):
        raise SystemExit(f"bench_apt times a Linux (apt) build; {distro} is a {type(plan).__name__}")
    return plan


def _rounds(
    client: docker.DockerClient, args: argparse.Namespace, work: Path, run_id: str, started: list[str]
) -> tuple[list[Sample], list[Sample], list[str]]:
    """The alternating rounds: vmapp-build's samples, the manual path's, and each round's order."""
    recipe = load_recipe(args.recipe)
    vmapp: list[Sample] = []
    manual: list[Sample] = []
    orders: list[str] = []
    for r in range(args.rounds):
        # Alternate which goes first, so warm-up (page cache, the mirror's cache) favours neither.
        order = ["vmapp-build", "manual"] if r % 2 == 0 else ["manual", "vmapp-build"]
        orders.append(" then ".join(order))
        for which in order:
            if which == "manual":
                plan = _apt_plan(recipe, args.distro, work / f"manual-{r + 1}", args.image)
                sample = time_manual(client, args.image, plan, work / f"manual-{r + 1}", run_id)
                manual.append(sample)
            elif args.cli:
                sample = time_vmapp_cli(args.recipe, args.distro, args.image, work / f"vmapp-{r + 1}")
                vmapp.append(sample)
            else:
                plan = _apt_plan(recipe, args.distro, work / f"vmapp-{r + 1}", args.image)
                sample = time_vmapp(client, plan, started)
                vmapp.append(sample)
            print(f"round {r + 1}/{args.rounds} {which:<12} {sample.seconds:7.2f}s", file=sys.stderr, flush=True)
    return vmapp, manual, orders


def _report_ratio(
    args: argparse.Namespace, vmapp: list[Sample], manual: list[Sample], orders: list[str], load_before: float
) -> float:
    """Each round's times and the medians' ratio, against the target."""
    print(f"\nrecipe {args.recipe} on {args.distro}, image {args.image}, {args.rounds} rounds")
    mode = "CLI subprocess" if args.cli else "in-process pipeline.build"
    print(f"vmapp-build: {mode}; manual: docker-py + apt-get + dpkg-deb -f + tar czf + get_archive")
    load_after, cpus = os.getloadavg()[0], os.cpu_count() or 1
    busy = "  (busy host: timings are noisy)" if load_before > cpus / 2 or load_after > cpus else ""
    print(f"load average (1 min) {load_before:.2f} before, {load_after:.2f} after, {cpus} CPUs{busy}\n")
    print(f"{'round':<8}{'order':<28}{'vmapp-build':>12}{'manual':>12}{'ratio':>8}")
    for i, (v, m) in enumerate(zip(vmapp, manual, strict=True)):
        print(f"{i + 1:<8}{orders[i]:<28}{_secs(v.seconds):>12}{_secs(m.seconds):>12}{v.seconds / m.seconds:8.2f}")
    v_med = statistics.median(s.seconds for s in vmapp)
    m_med = statistics.median(s.seconds for s in manual)
    ratio = v_med / m_med
    print(f"{'median':<36}{_secs(v_med):>12}{_secs(m_med):>12}{ratio:8.2f}")
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    print(f"\nratio vmapp-build/manual (medians): {ratio:.3f}; target <= {TARGET_RATIO}: {verdict} the target")
    return ratio


def _report_phases(vmapp: list[Sample], manual: list[Sample]) -> None:
    print(f"\nmedian per phase{'':<12}{'vmapp-build':>12}{'manual':>12}")
    for phase in [*PHASES, "other-exec"]:
        v_vals = [s.phases[phase] for s in vmapp if phase in s.phases]
        m_vals = [s.phases[phase] for s in manual if phase in s.phases]
        if not v_vals and not m_vals:
            continue
        v_p = statistics.median(v_vals) if v_vals else None
        m_p = statistics.median(m_vals) if m_vals else None
        print(f"  {phase:<26}{_secs(v_p):>12}{_secs(m_p):>12}")


def _report_work(vmapp: list[Sample], manual: list[Sample]) -> None:
    """That both paths bundled the same files, with an index."""
    v_debs, m_debs = debs_in(vmapp[-1].package), debs_in(manual[-1].package)
    same = "yes" if v_debs == m_debs else "NO"
    indexed = has_index(vmapp[-1].package) and has_index(manual[-1].package)
    print(
        f"\nsame work: vmapp-build bundled {len(v_debs)} .debs ({sum(v_debs.values()) / MB:.1f} MB), "
        f"manual {len(m_debs)} ({sum(m_debs.values()) / MB:.1f} MB); same files: {same}; "
        f"Packages index in both: {'yes' if indexed else 'NO'}"
    )
    print(
        f"tarballs: vmapp-build {vmapp[-1].package.stat().st_size / MB:.1f} MB, "
        f"manual {manual[-1].package.stat().st_size / MB:.1f} MB"
    )


def run_timing(args: argparse.Namespace) -> int:
    client = connect()
    try:
        client.images.get(args.image)  # never pull: the benchmark compares against a local image
    except ImageNotFound:
        print(f"error: image {args.image!r} is not present locally", file=sys.stderr)
        return 1
    run_id = uuid.uuid4().hex[:10]
    before = set(leftover_containers(client))
    work = Path(tempfile.mkdtemp(prefix="vmapp-bench-", dir=args.workdir))
    load_before = os.getloadavg()[0]
    started: list[str] = []  # vmapp-build's containers (in-process mode)
    try:
        vmapp, manual, orders = _rounds(client, args, work, run_id, started)
        ratio = _report_ratio(args, vmapp, manual, orders, load_before)
        if not args.cli:
            _report_phases(vmapp, manual)
        _report_work(vmapp, manual)
        left = leftovers(client, work, None if args.cli else started, before)
        if not args.cli:
            print(f"vmapp-build containers started: {len(started)}")
        print(f"left behind: {', '.join(left) if left else 'nothing (no io.vmapp-build container, no .vmapp-build-*)'}")
        if left:
            return 1
        if args.fail_above is not None and ratio > args.fail_above:
            print(f"ratio {ratio:.3f} is above --fail-above {args.fail_above}", file=sys.stderr)
            return 2
        return 0
    finally:
        for c in client.containers.list(all=True, filters={"label": f"{BENCH_LABEL}={run_id}"}):
            c.remove(force=True, v=True)
        shutil.rmtree(work, ignore_errors=True)


def _terminate(signum: int, frame: FrameType | None) -> NoReturn:
    raise SystemExit(128 + signum)  # so the finally blocks remove containers and temp dirs


def main() -> int:
    signal.signal(signal.SIGTERM, _terminate)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--recipe", default="git", help="recipe name or path (default: git)")
    parser.add_argument("--distro", default="debian-12", help="target release the recipe is built for")
    parser.add_argument("--image", default="debian:12", help="local image both paths run in (never pulled)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of each path (default: 3)")
    parser.add_argument("--fail-above", type=float, metavar="RATIO", help="exit 2 when the ratio is above RATIO")
    parser.add_argument("--cli", action="store_true", help="time the vmapp-build CLI as a subprocess")
    parser.add_argument("--workdir", type=Path, help="where temp dirs go (default: the system temp dir)")
    parser.add_argument("--memory", action="store_true", help="measure the bundler's peak RSS instead")
    parser.add_argument("--memory-mb", type=int, default=520, help="MiB of test files for --memory (default: 520)")
    parser.add_argument("--skip-copy-out", action="store_true", help="--memory: skip the copy-out measurement")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.memory and args.memory_mb * MiB < 500 * MB:
        print(f"note: {args.memory_mb} MiB is below the 500 MB the budget is stated for", file=sys.stderr)
    if args.memory:
        from benchmarks.bench_memory import run_memory

        return run_memory(args, RSS_BUDGET_MB, COPY_PURPOSE)
    return run_timing(args)


if __name__ == "__main__":
    sys.exit(main())
