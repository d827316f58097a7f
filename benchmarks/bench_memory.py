"""The bundler's and the copy-out's peak memory (`bench_apt.py --memory`): bundle at least 500 MB of
incompressible files with builder.bundle.write_tar_gz in a fresh child process and print its peak RSS
against the budget; then stream a large file out of a container with Container.copy_files_out, also
in a child, and print that peak too."""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import docker
from docker.errors import DockerException, ImageNotFound

from builder.container import LABEL
from builder.engine import connect

MiB = 1024 * 1024
MB = 1000 * 1000


# Children run in a fresh interpreter that imports only what the measured code needs, so the
# peak is the bundler's, not this script's (docker-py and all). VmHWM is the process's peak RSS.
_HWM = """
def hwm():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
"""

_BUNDLE_CHILD = (
    _HWM
    + """
import json, sys, time
from pathlib import Path
from builder.bundle import write_tar_gz
from builder.files import sha256_file
target, files = Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]
baseline = hwm()
t0 = time.perf_counter()
hashes = [sha256_file(f) for f in files]  # the pipeline hashes every file before bundling
t1 = time.perf_counter()
seen = [0]
def progress(n):
    seen[0] += n
index = "".join(f"Package: p{i}\\nFilename: ./{f.name}\\nSHA256: {h}\\n\\n"
                for i, (f, h) in enumerate(zip(files, hashes)))
write_tar_gz(target, files, {"Packages": index.encode()}, progress)
t2 = time.perf_counter()
sha256_file(target)  # and the package itself, for the manifest
t3 = time.perf_counter()
print(json.dumps({"baseline": baseline, "peak": hwm(), "hash_in": t1 - t0, "bundle": t2 - t1,
                  "hash_out": t3 - t2, "progress_bytes": seen[0]}))
"""
)

_COPY_CHILD = (
    _HWM
    + """
import json, sys, time
from pathlib import Path
from builder.container import Container
from builder.engine import connect
dest, size_mb, image, purpose = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
client = connect()
with Container(client, image, purpose, network=False) as c:
    c.run(["sh", "-c", f"mkdir -p /tmp/big && head -c {size_mb}M /dev/urandom > /tmp/big/big_1.0_amd64.deb"],
          "make a large file")
    baseline = hwm()
    t0 = time.perf_counter()
    files = c.copy_files_out("/tmp/big", dest, ".deb")
    seconds = time.perf_counter() - t0
    peak = hwm()
print(json.dumps({"baseline": baseline, "peak": peak, "seconds": seconds,
                  "bytes": sum(f.stat().st_size for f in files)}))
"""
)


def _run_child(code: str, argv: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=1800, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def make_random_files(directory: Path, total_mib: int) -> list[Path]:
    """Incompressible files named like .debs: one of half the total (whole-file buffering would
    show), the rest in 16 MiB pieces."""
    directory.mkdir(parents=True)
    sizes = [total_mib // 2]
    rest = total_mib - sizes[0]
    while rest > 0:
        sizes.append(min(16, rest))
        rest -= sizes[-1]
    files = []
    for i, mib in enumerate(sizes):
        path = directory / f"bench-pkg{i:02d}_1.0-1_amd64.deb"
        with open(path, "wb") as f:
            for _ in range(mib):
                f.write(os.urandom(MiB))
        files.append(path)
    return files


def _mb(n: float) -> str:
    return f"{n / MB:.1f} MB"


def measure_bundle(work: Path, memory_mb: int, budget_mb: float) -> None:
    """write_tar_gz (and the hashes around it) on incompressible files, in a fresh child."""
    files = make_random_files(work / "debs", memory_mb)
    total = sum(f.stat().st_size for f in files)
    target = work / "bundle.tar.gz"
    r = _run_child(_BUNDLE_CHILD, [str(target), *map(str, files)])
    children_maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
    out_size = target.stat().st_size
    with tarfile.open(target, "r:gz") as tar:
        members = len(tar.getnames())
    ok = r["progress_bytes"] == total and members == len(files) + 1
    verdict = "within" if r["peak"] <= budget_mb * MB else "OVER"
    largest = _mb(files[0].stat().st_size)
    print(f"bundle: {_mb(total)} of incompressible data in {len(files)} files (largest {largest})")
    print(
        f"  write_tar_gz: {r['bundle']:.2f}s ({total / MB / r['bundle']:.0f} MB/s) -> {_mb(out_size)}, "
        f"{members} members, contents check {'ok' if ok else 'FAILED'}"
    )
    print(
        f"  sha256 of the inputs {r['hash_in']:.2f}s ({total / MB / r['hash_in']:.0f} MB/s), "
        f"of the package {r['hash_out']:.2f}s"
    )
    print(
        f"  peak RSS (VmHWM) {_mb(r['peak'])}: interpreter and imports {_mb(r['baseline'])}, "
        f"bundling added {_mb(r['peak'] - r['baseline'])}"
    )
    # An upper bound only: Linux keeps the pre-exec high-water mark, i.e. this script's own RSS
    # when subprocess forked (vfork) the child.
    print(f"  getrusage(RUSAGE_CHILDREN).ru_maxrss {_mb(children_maxrss)} (upper bound: counts this script's RSS)")
    print(f"  budget {budget_mb:.0f} MB: {verdict} budget")
    target.unlink()


def measure_copy_out(
    client: docker.DockerClient, work: Path, args: argparse.Namespace, budget_mb: float, purpose: str
) -> bool:
    """Container.copy_files_out streaming one large file out, in a fresh child; False without the image."""
    try:
        client.images.get(args.image)
    except ImageNotFound:
        print(f"error: image {args.image!r} is not present locally; copy-out not measured", file=sys.stderr)
        return False
    dest = work / "copied"
    dest.mkdir()
    c = _run_child(_COPY_CHILD, [str(dest), str(args.memory_mb), args.image, purpose])
    verdict = "within" if c["peak"] <= budget_mb * MB else "OVER"
    print(
        f"copy-out: Container.copy_files_out streamed {_mb(c['bytes'])} (one file) in {c['seconds']:.2f}s "
        f"({c['bytes'] / MB / c['seconds']:.0f} MB/s)"
    )
    print(
        f"  peak RSS (VmHWM) {_mb(c['peak'])}: interpreter, docker-py and container start "
        f"{_mb(c['baseline'])}, copy-out added {_mb(c['peak'] - c['baseline'])}; "
        f"budget {budget_mb:.0f} MB: {verdict} budget"
    )
    return True


def run_memory(args: argparse.Namespace, budget_mb: float, purpose: str) -> int:
    work = Path(tempfile.mkdtemp(prefix="vmapp-bench-mem-", dir=args.workdir))
    client: docker.DockerClient | None = None
    try:
        measure_bundle(work, args.memory_mb, budget_mb)
        if not args.skip_copy_out:
            client = connect()
            if not measure_copy_out(client, work, args, budget_mb, purpose):
                return 1
        left = [f"temp file {p}" for p in work.rglob(".vmapp-build-*")]
        if client is not None:
            mine = client.containers.list(all=True, filters={"label": f"{LABEL}.purpose={purpose}"})
            left += [f"container {ctr.name}" for ctr in mine]
        print(f"left behind: {', '.join(left) if left else 'nothing (no io.vmapp-build container, no .vmapp-build-*)'}")
        return 1 if left else 0
    finally:
        if client is not None:
            try:
                for ctr in client.containers.list(all=True, filters={"label": f"{LABEL}.purpose={purpose}"}):
                    ctr.remove(force=True, v=True)
            except DockerException as exc:
                print(f"warning: could not clean up copy-out containers: {exc}", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
