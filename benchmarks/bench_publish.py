"""Publish throughput and memory: vmapp-build's parallel block upload vs one stream, same file, same Azurite.

Starts Azurite on loopback (installing it into .cache/azurite when missing), writes a test file of
--size-mib (default 1900 MiB: a package near Azure's 2 GB limit; sparse, with a marker at every MiB so
a misplaced block would change its hash), then, in the same run and alternating which goes first:

- parallel: builder.azure.storage.upload_file (blocks staged in parallel, MD5 per block, commit, verify);
- single:   azure-storage-blob's own upload_blob with max_concurrency=1 (one stream).

Each upload runs in its own child process, so its peak RSS (from wait4) is its own. Prints the
times, the throughput ratio parallel/single of the medians, and each path's peak RSS. `--fail-above-rss MB`
exits 2 when the parallel upload's peak RSS is above MB.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MIB = 1024 * 1024


def child(mode: str, connection_string: str, path: Path, sha256: str, block_mib: int, concurrency: int) -> None:
    from azure.storage.blob import BlobServiceClient

    from builder.azure.storage import upload_file

    service = BlobServiceClient.from_connection_string(connection_string)
    container = service.get_container_client("bench")
    blob = container.get_blob_client(f"{mode}-{time.monotonic_ns()}/{path.name}")
    if mode == "parallel":
        upload_file(blob, path, sha256, block_size=block_mib * MIB, concurrency=concurrency)
    else:
        with open(path, "rb") as f:
            blob.upload_blob(f, length=path.stat().st_size, max_concurrency=1)
    if blob.get_blob_properties().size != path.stat().st_size:
        raise SystemExit("size mismatch")


def run_child(args: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one child process."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, __file__, "--child", *args])
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"child {args[0]} failed with {process.returncode}")
    return elapsed, usage.ru_maxrss / 1024  # Linux reports KiB


def write_marked(path: Path, size: int) -> str:
    with open(path, "wb") as f:
        f.truncate(size)
        for mib in range(0, size, MIB):
            f.seek(mib)
            f.write(f"block {mib // MIB:08d}".encode())
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 * MIB):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1900)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--block-mib", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--fail-above-rss", type=float, default=None, help="MiB")
    parser.add_argument("--child", nargs=6, metavar="ARG", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.child:
        mode, connection, path, sha, block, conc = ns.child
        child(mode, connection, Path(path), sha, int(block), int(conc))
        return

    from azure.storage.blob import BlobServiceClient

    from tests.azurite import running_azurite

    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "azurite").mkdir()
        package = tmp / "package.tar.gz"
        sha = write_marked(package, ns.size_mib * MIB)
        size = package.stat().st_size
        with running_azurite(tmp / "azurite") as azurite:
            BlobServiceClient.from_connection_string(azurite.connection_string).create_container("bench")
            common = [azurite.connection_string, str(package), sha, str(ns.block_mib), str(ns.concurrency)]
            times: dict[str, list[float]] = {"parallel": [], "single": []}
            rss: dict[str, float] = {"parallel": 0.0, "single": 0.0}
            for round_ in range(ns.rounds):
                order = ["parallel", "single"] if round_ % 2 == 0 else ["single", "parallel"]
                for mode in order:
                    seconds, peak = run_child([mode, *common])
                    times[mode].append(seconds)
                    rss[mode] = max(rss[mode], peak)
                    print(f"round {round_ + 1} {mode:<8} {seconds:7.2f} s  {size / MIB / seconds:8.1f} MiB/s  "
                          f"peak RSS {peak:6.1f} MiB", flush=True)  # fmt: skip
    parallel, single = statistics.median(times["parallel"]), statistics.median(times["single"])
    print(f"\nfile: {size / MIB:.0f} MiB; blocks of {ns.block_mib} MiB, {ns.concurrency} in parallel")
    rows = (("parallel (vmapp-build)", "parallel", parallel), ("single stream (SDK)", "single", single))
    for label, mode, median in rows:
        print(f"{label:<23} median {median:.2f} s = {size / MIB / median:.1f} MiB/s, peak RSS {rss[mode]:.1f} MiB")
    print(f"throughput ratio parallel/single: {single / parallel:.2f}")
    if ns.fail_above_rss is not None and rss["parallel"] > ns.fail_above_rss:
        print(f"FAIL: parallel upload peak RSS {rss['parallel']:.1f} MiB > {ns.fail_above_rss} MiB")
        sys.exit(2)


if __name__ == "__main__":
    main()
