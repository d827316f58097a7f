"""Benchmark a rebuild where nothing changed against a cold build of the same catalogue, in one run.

The catalogue is --recipe (at least 3) x --distro (at least 2). Cold: `vmapp-build rebuild` into an
empty output root (every entry built, and verified unless --no-verify). Unchanged: the same command
again over that root, --rounds times; every entry must report "unchanged". Printed: each timing, and
the median unchanged run as a ratio of the cold run, against the target (at most 0.2). Then once more
with every lock's repository hashes spoiled, as when a repository moved but no package of the closure
did (Debian's security suite, most nights): the check then refreshes and asks the solver. The cold run
is also timed without verification (--no-verify) when asked with --also-no-verify, so the ratio to a
build alone is printed too.

Both are the real command line in a child process (interpreter start included), on the real
repositories: the unchanged run's cost is the check (recipe, strings, the repositories' metadata by
hash, and the solver after a refresh when the metadata moved).

    .venv/bin/python benchmarks/bench_rebuild.py [--recipe jq --recipe curl --recipe git]
        [--distro debian-12 --distro debian-11] [--rounds 3] [--also-no-verify] [--fail-above 0.2]

Exit codes: 0 done (whatever the ratio), 1 an entry failed or a run was not all unchanged, 2 the ratio
is above --fail-above.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 0.2
VMAPP_BUILD = [str(Path(sys.executable).parent / "vmapp-build")]  # the venv's console script


def run(recipes: list[str], distros: list[str], out: Path, *flags: str) -> tuple[float, list[dict[str, object]]]:
    """One `vmapp-build rebuild` in a child process: its wall time and its report's entries."""
    argv = [*VMAPP_BUILD, "rebuild", *recipes, *(f"--distro={d}" for d in distros), "--out", str(out), *flags]
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"bench_rebuild: {' '.join(argv)} exited with {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    entries: list[dict[str, object]] = json.loads((out / "report.json").read_text())["entries"]
    return elapsed, entries


def _spoil_repository_hashes(out: Path) -> None:
    for lock in out.glob("*/*/*/lock.json"):
        document = json.loads(lock.read_text())
        for repo in document["repositories"]:
            repo["sha256"] = "0" * 64
        lock.write_text(json.dumps(document))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", action="append", dest="recipes")
    parser.add_argument("--distro", action="append", dest="distros")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--also-no-verify", action="store_true")
    parser.add_argument("--fail-above", type=float, default=None)
    args = parser.parse_args()
    recipes = args.recipes or ["jq", "curl", "git"]
    distros = args.distros or ["debian-12", "debian-11"]
    if len(recipes) < 3 or len(distros) < 2:
        parser.error("the catalogue is at least 3 recipes x 2 distros")

    with tempfile.TemporaryDirectory(prefix="bench-rebuild-") as tmp:
        out = Path(tmp) / "dist"
        cold, entries = run(recipes, distros, out)
        print(f"cold rebuild (build + verify) of {len(entries)} entries: {cold:8.2f} s")
        bare = None
        if args.also_no_verify:
            bare, _ = run(recipes, distros, Path(tmp) / "bare", "--no-verify")
            print(f"cold rebuild (build only, --no-verify):        {bare:8.2f} s")
        unchanged = []
        for round_ in range(1, args.rounds + 1):
            elapsed, entries = run(recipes, distros, out)
            statuses = {str(e["status"]) for e in entries}
            print(f"unchanged rebuild, round {round_}: {elapsed:8.2f} s  ({', '.join(sorted(statuses))})")
            if statuses != {"unchanged"}:
                print("bench_rebuild: an entry was not unchanged", file=sys.stderr)
                return 1
            unchanged.append(elapsed)
        _spoil_repository_hashes(out)
        solver, entries = run(recipes, distros, out)
        reasons = {str(e["reason"]) for e in entries}
        print(f"unchanged rebuild, metadata moved:  {solver:8.2f} s  ({', '.join(sorted(reasons))})")
    median = statistics.median(unchanged)
    ratio = median / cold
    print(f"\nratio unchanged / cold: {ratio:.3f}  (target <= {TARGET_RATIO})")
    print(f"ratio unchanged, metadata moved (the solver's way) / cold: {solver / cold:.3f}")
    print(f"load average (1, 5, 15 min) at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if bare is not None:
        print(f"ratio unchanged / cold build only: {median / bare:.3f}")
    if args.fail_above is not None and ratio > args.fail_above:
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
