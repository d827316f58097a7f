"""Benchmark vmapp-build's dnf and zypper paths against the plain manual path, in the same image.

For each family, in one run: time a whole vmapp-build build (in-process `pipeline.build`, container
start and removal included) and the manual path doing the same work by hand in a container of the
same image: the repository file and `rpm --import`, refresh (`dnf makecache` / `zypper refresh`), the
solver's download (`dnf install --downloadonly --downloaddir` / `zypper --pkg-cache-dir install
--download-only`), `createrepo_c` (dnf; zypper's bundle is a plain directory), `tar czf`, the tarball
copied out with get_archive, the container removed. They alternate (swapping which goes first) for
--rounds; the medians and their ratio are printed against the target (at most 1.15).

The images and the signed test repository are the tests' (tests/rpm_images.py: Debian's real dnf,
zypper, rpm and createrepo_c; built from the local debian:12 on first use). No network is needed
beyond what building those images takes the first time.

    .venv/bin/python benchmarks/bench_rpm.py [--rounds 3] [--family dnf --family zypper] [--execs]

--execs prints the last vmapp-build build's container execs, each with its seconds: the fixed costs.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

import docker

from builder import container as container_module
from builder.engine import connect
from builder.pipeline import build
from builder.plan import make_plan
from builder.recipe import load_recipe
from tests.rpm_images import REPO_DIR, extract_key, fixture_image, recipe_text

TARGET_RATIO = 1.15
DISTRO = {"dnf": "rhel-9", "zypper": "sles-15"}
PACKAGES = ["vt-app"]

_MANUAL = {
    "dnf": f"""set -e
mkdir -p /etc/pki/rpm-gpg && cp /tmp/key.asc /etc/pki/rpm-gpg/k.asc
rpm --import /etc/pki/rpm-gpg/k.asc
printf '[t]\\nname=t\\nbaseurl=file://{REPO_DIR}\\ngpgcheck=1\\n' > /etc/yum.repos.d/t.repo
echo 'gpgkey=file:///etc/pki/rpm-gpg/k.asc' >> /etc/yum.repos.d/t.repo
dnf -q -y makecache
dnf -q -y --setopt=install_weak_deps=False install --downloadonly --downloaddir /tmp/rpms {" ".join(PACKAGES)}
cd /tmp/rpms && createrepo_c -q --no-database .
tar czf /tmp/bundle.tar.gz *.rpm repodata
""",
    "zypper": f"""set -e
rpm --import /tmp/key.asc
zypper -q -n addrepo --gpgcheck file://{REPO_DIR} t
zypper -q -n refresh
zypper -q -n --pkg-cache-dir /tmp/cache install --download-only --no-recommends {" ".join(PACKAGES)}
mkdir -p /tmp/rpms && find /tmp/cache -name '*.rpm' -exec mv {{}} /tmp/rpms/ \\;
cd /tmp/rpms && tar czf /tmp/bundle.tar.gz *.rpm
""",
}


def time_manual(client: docker.DockerClient, family: str, image: str, key: Path, out: Path) -> float:
    start = time.perf_counter()
    container = client.containers.run(
        image, ["sleep", "infinity"], detach=True, init=True, name=f"vmapp-bench-rpm-{uuid.uuid4().hex[:8]}"
    )
    try:
        with open(key, "rb") as f:
            info = tarfile.TarInfo("key.asc")
            data = f.read()
            info.size = len(data)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.addfile(info, io.BytesIO(data))
        container.put_archive("/tmp", buf.getvalue())
        code, output = container.exec_run(["sh", "-c", _MANUAL[family]])
        assert isinstance(output, bytes)  # not streamed
        if code != 0:
            raise RuntimeError(f"manual {family} path failed:\n{output.decode(errors='replace')}")
        stream, _ = container.get_archive("/tmp/bundle.tar.gz")
        with open(out, "wb") as f:
            for chunk in stream:
                f.write(chunk)
    finally:
        container.remove(force=True, v=True)
    return time.perf_counter() - start


def time_vmapp(client: docker.DockerClient, family: str, image: str, recipe: Path, out: Path) -> tuple[float, int]:
    plan = make_plan(load_recipe(recipe), DISTRO[family], out, image=image)
    start = time.perf_counter()
    result = build(plan, client)
    return time.perf_counter() - start, int(result.document["sizes"]["files"])


_execs: list[tuple[float, str]] = []


def _timed_execs() -> None:
    """Record each Container.run of the builds (seconds, what it did): the fixed costs, one by one."""
    run = container_module.Container.run

    def timed(self: container_module.Container, argv: list[str], context: str, *args: object, **kw: object) -> object:
        start = time.perf_counter()
        try:
            return run(self, argv, context, *args, **kw)  # type: ignore[arg-type]
        finally:
            _execs.append((time.perf_counter() - start, context))

    container_module.Container.run = timed  # type: ignore[assignment,method-assign]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--family", action="append", choices=sorted(DISTRO), help="default: both")
    parser.add_argument("--execs", action="store_true", help="print the last build's container execs")
    args = parser.parse_args()
    if args.execs:
        _timed_execs()
    client = connect()
    print(f"load average before: {_load()} on {os.cpu_count()} cores")
    work = Path(tempfile.mkdtemp(prefix="vmapp-bench-rpm-"))
    for family in args.family or sorted(DISTRO):
        image = fixture_image(client, family)  # built once (tests/rpm_images.py), reused while present
        key = extract_key(client, image, work / f"{family}.asc")
        recipe = work / f"{family}.yaml"
        recipe.write_text(recipe_text(PACKAGES, key))
        vmapp: list[float] = []
        manual: list[float] = []
        files = 0
        for r in range(args.rounds):
            order = ["vmapp", "manual"] if r % 2 == 0 else ["manual", "vmapp"]
            for which in order:
                out = work / f"{family}-{which}-{r}"
                if which == "vmapp":
                    _execs.clear()
                    seconds, files = time_vmapp(client, family, image, recipe, out)
                    vmapp.append(seconds)
                else:
                    out.mkdir()
                    manual.append(time_manual(client, family, image, key, out / "bundle.tar.gz"))
                print(
                    f"{family} round {r + 1} {which:<7} {(vmapp if which == 'vmapp' else manual)[-1]:6.2f}s",
                    file=sys.stderr,
                )
        for seconds, context in _execs:
            print(f"  exec {seconds:5.2f}s {context}")
        v, m = statistics.median(vmapp), statistics.median(manual)
        ratio = v / m
        verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
        print(
            f"{family} ({DISTRO[family]}, {image}, {files} packages): vmapp-build {v:.2f}s, manual {m:.2f}s, "
            f"ratio {ratio:.3f}; target <= {TARGET_RATIO}: {verdict}"
        )
    print(f"load average after: {_load()}")
    return 0


def _load() -> str:
    """The machine's 1, 5 and 15 minute load: the ratios mean little on a machine busy with other work."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
