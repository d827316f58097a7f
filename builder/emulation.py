"""Containers of another architecture (an arm64 build on an amd64 machine) run under qemu-user-static,
which the kernel starts for foreign binaries through a binfmt_misc handler. Nothing here starts qemu:
this checks, before a container starts, that the kernel will, and says how to fix it when not.

The handler must carry the F (fix binary) flag: the kernel opens the interpreter when the handler is
registered, so a container, whose root filesystem has no qemu, can use it (Debian's qemu-user-static
registers its handlers with F).
"""

from __future__ import annotations

from pathlib import Path

import docker

from builder.errors import EnvironmentProblem

BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
# Debian's name of an architecture -> the kernel's (uname -m, `docker info`'s Architecture).
MACHINES = {"amd64": "x86_64", "arm64": "aarch64"}
SETUP_HINT = (
    "run `make setup`, or `sh scripts/ensure-binfmt.sh` as root (it mounts binfmt_misc, installs Debian's "
    "qemu-user-static and binfmt-support, and registers the handlers); or build on an {arch} machine"
)


def engine_arch(client: docker.DockerClient) -> str:
    """The architecture the engine's kernel runs natively, in Debian's name (amd64, arm64)."""
    machine = str(client.info().get("Architecture", ""))
    return next((arch for arch, name in MACHINES.items() if name == machine), machine)


def handler_problem(arch: str, binfmt_dir: Path = BINFMT_DIR) -> str | None:
    """Why this kernel cannot run `arch` binaries in a container, or None when its handler is ready."""
    machine = MACHINES.get(arch, arch)
    handler = binfmt_dir / f"qemu-{machine}"
    if not (binfmt_dir / "register").exists():
        return f"binfmt_misc is not mounted on {binfmt_dir}"
    try:
        lines = handler.read_text().splitlines()
    except FileNotFoundError:
        return f"no {machine} handler is registered ({handler} does not exist)"
    except OSError as exc:
        return f"{handler} cannot be read: {exc.strerror}"
    if not lines or lines[0] != "enabled":
        return f"the {machine} handler {handler} is disabled"
    flags = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("flags:")), "")
    if "F" not in flags:
        return f"the {machine} handler {handler} lacks the F flag: containers cannot reach its interpreter"
    return None


def require_emulation(client: docker.DockerClient, arch: str, binfmt_dir: Path = BINFMT_DIR) -> None:
    """Fail with what to do when `arch` containers cannot run on the engine: neither its native
    architecture nor a registered qemu handler. A remote engine's kernel cannot be read from here: its
    containers are left to fail on their own ("exec format error")."""
    native = engine_arch(client)
    if arch == native or not is_local(client):
        return
    problem = handler_problem(arch, binfmt_dir)
    if problem is not None:
        raise EnvironmentProblem(
            f"{arch} containers run on this {native} engine under qemu-user-static, but {problem}",
            hint=SETUP_HINT.format(arch=arch),
        )


def is_local(client: docker.DockerClient) -> bool:
    """Whether the engine is on this machine's kernel: reached through its unix socket."""
    return str(client.api.base_url).startswith("http+docker://")
