"""The manual path bench_apt.py times vmapp-build against: what a user does by hand in the same image
(a container, `apt-get update`, `apt-get install --download-only`, a `Packages` index written with
`dpkg-deb -f`, `tar czf`, the tarball copied out as `docker cp` does, the container removed)."""

from __future__ import annotations

import shlex
import shutil
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import docker
from docker.models.containers import Container as DockerContainer

from builder.plan import BuildPlan
from builder.tarstream import IterReader

BENCH_LABEL = "vmapp-bench"  # the manual path's containers; deliberately not io.vmapp-build
MANUAL_DEB_DIR = "/tmp/debs"
MANUAL_BUNDLE = "/tmp/bundle.tar.gz"
MiB = 1024 * 1024


@dataclass
class Sample:
    """One timed run of either path: its seconds, its package and (when known) its phases."""

    seconds: float
    package: Path
    phases: dict[str, float] = field(default_factory=dict)


def _exec(container: DockerContainer, script: str) -> None:
    code, output = container.exec_run(["sh", "-c", script], environment={"DEBIAN_FRONTEND": "noninteractive"})
    if code != 0:
        text = output.decode(errors="replace") if isinstance(output, bytes) else str(output)
        raise RuntimeError(f"manual path: `{script}` exited {code}:\n{text[-3000:]}")


# The index as a user would write it without apt-utils or dpkg-dev: each control paragraph plus
# the fields apt needs for a flat repository (the same fields vmapp-build writes).
_INDEX_SCRIPT = r"""cd "$1" && for f in *.deb; do
  dpkg-deb -f "$f"
  printf 'Filename: ./%s\nSize: %s\nSHA256: %s\n\n' "$f" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -d' ' -f1)"
done > Packages"""


def time_manual(client: docker.DockerClient, image: str, plan: BuildPlan, out_dir: Path, run_id: str) -> Sample:
    phases: dict[str, float] = {}
    recommends = "--install-recommends" if plan.recommends else "--no-install-recommends"
    packages = " ".join(shlex.quote(p) for p in plan.packages)
    out_dir.mkdir(parents=True)
    target = out_dir / plan.package_file_name
    container: DockerContainer | None = None
    start = mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        phases[name] = now - mark
        mark = now

    try:
        container = client.containers.run(
            image,
            ["sleep", "infinity"],
            name=f"vmapp-bench-manual-{uuid.uuid4().hex[:10]}",
            labels={BENCH_LABEL: run_id},
            detach=True,
        )
        lap("start")
        _exec(container, "apt-get -q update")
        lap("refresh")
        _exec(
            container,
            f"mkdir -p {MANUAL_DEB_DIR}/partial && apt-get -q -y install --download-only {recommends} "
            f"-o Dir::Cache::archives={MANUAL_DEB_DIR} {packages}",
        )
        lap("download")
        _exec(container, f"sh -c {shlex.quote(_INDEX_SCRIPT)} sh {MANUAL_DEB_DIR}")
        lap("index")
        _exec(container, f"cd {MANUAL_DEB_DIR} && tar czf {MANUAL_BUNDLE} Packages *.deb")
        lap("bundle")
        stream, _ = container.get_archive(MANUAL_BUNDLE)  # what `docker cp` does
        with tarfile.open(fileobj=IterReader(stream), mode="r|") as tar:
            for member in tar:
                src = tar.extractfile(member)
                if src is not None:
                    with open(target, "wb") as out:
                        shutil.copyfileobj(src, out, MiB)
        lap("copy-out")
        container.remove(force=True, v=True)
        container = None
        lap("remove")
    finally:
        if container is not None:
            container.remove(force=True, v=True)
    return Sample(time.perf_counter() - start, target, phases)
