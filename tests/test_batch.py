"""dnf's commands in one exec (builder.backends.batch), run for real in the dnf fixture image: each
command's output and exit code are those of the command run alone; a failed gate stops the batch;
values reach the commands as they are; an image whose dnf is not a Python script runs each command
in an exec of its own."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from builder.backends.batch import Command, run_batch
from builder.container import Container
from tests.rpm_images import REPO_DIR, fixture_image

HOSTILE = json.loads(Path("/work/shared/data/hostile-strings.json").read_text())["strings"]
REPO_FILE = f"[t]\nname=t\nbaseurl=file://{REPO_DIR}\ngpgcheck=0\n"
# A dnf that is not a Python script (as dnf5's is a binary): it notes each call, then runs the real one.
WRAPPER = '#!/bin/sh\necho "$*" >> /tmp/wrapper.log\nexec /usr/bin/dnf "$@"\n'


@pytest.fixture(scope="module")
def dnf_box(docker_client: docker.DockerClient) -> Iterator[Container]:
    """A container of the dnf fixture image with the test repository configured."""
    with Container(docker_client, fixture_image(docker_client, "dnf"), "test") as box:
        box.put_bytes(REPO_FILE.encode(), "/etc/yum.repos.d", "t.repo")
        yield box


QUERIES = [
    ["dnf", "-q", "deplist", "vt-app"],
    ["dnf", "-q", "repoquery", "--requires", "--resolve", "--recursive", "vt-app"],
    ["dnf", "install", "--assumeno", "vt-app"],  # exit 1 after a solved transaction
    ["dnf", "-q", "deplist", "no-such-package"],
]


def test_each_command_as_it_runs_alone(dnf_box: Container) -> None:
    """One import, the same answers: stdout, stderr and exit code of each, as separate execs give them."""
    commands = [Command(["dnf", "-q", "-y", "makecache"], "refresh", gate=True)]
    commands += [Command(argv, " ".join(argv)) for argv in QUERIES]
    commands.append(Command(["sh", "-c", "echo out; echo err >&2; exit 3"], "a plain command"))
    batched = run_batch(dnf_box, commands)
    assert [r.argv for r in batched] == [c.argv for c in commands]
    for command, result in zip(commands, batched, strict=True):
        alone = dnf_box.run(command.argv, command.context, check=False)
        assert (result.exit_code, _timeless(result.stdout), result.stderr) == (
            alone.exit_code,
            _timeless(alone.stdout),
            alone.stderr,
        )
    assert batched[2].stdout.strip() and batched[3].exit_code == 1
    assert batched[-1].stdout == "out\n" and batched[-1].stderr == "err\n" and batched[-1].exit_code == 3


def _timeless(text: str) -> str:
    """dnf's output without the line that says how long ago the metadata was checked."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("Last metadata expiration check"))


# The first command of a batch: a dnf one makes it the Python driver's; else the sh driver runs it.
FIRST = {"python": ["dnf", "-q", "--version"], "sh": ["true"]}


@pytest.mark.parametrize("driver", sorted(FIRST))
def test_a_failed_gate_stops_the_batch(dnf_box: Container, driver: str) -> None:
    after = f"/tmp/ran-after-the-gate-{driver}"
    commands = [
        Command(FIRST[driver], "first"),
        Command(["sh", "-c", "exit 4"], "gate", gate=True),
        Command(["touch", after], "after"),
    ]
    results = run_batch(dnf_box, commands)
    assert [r.exit_code for r in results] == [0, 4]
    assert dnf_box.run(["test", "-e", after], "look", check=False).exit_code == 1


@pytest.mark.parametrize("driver", sorted(FIRST))
def test_values_reach_the_commands_as_they_are(dnf_box: Container, driver: str) -> None:
    """Quotes, %, &, $, newlines, the sh driver's own frame and non-ASCII are each one argument,
    unchanged, and each output exact; a command killed by a signal reports 128 + n, a missing
    program 127."""
    words = [s for s in HOSTILE if "\0" not in s] + ["\n@@vmapp-build-batch-x@@ 0\n", "-n", "--", ""]
    results = run_batch(
        dnf_box,
        [
            Command(FIRST[driver], "first"),
            Command(["sh", "-c", "printf '%s\\0' \"$@\"", "sh", *words], "echo"),
            Command(["sh", "-c", "kill -KILL $$"], "killed"),
            Command(["no-such-program-vmapp"], "missing"),
        ],
    )
    assert results[1].stdout.split("\0")[:-1] == words and results[1].stderr == ""
    assert results[2].exit_code == 128 + signal.SIGKILL
    assert results[3].exit_code == 127 and "no-such-program-vmapp" in results[3].stderr


def test_a_dnf_that_is_not_python_runs_each_command_through_it(docker_client: docker.DockerClient) -> None:
    """Where `dnf` is not a Python script, the sh driver runs each command through that dnf, with the
    same results."""
    with Container(docker_client, fixture_image(docker_client, "dnf"), "test") as box:
        box.put_bytes(REPO_FILE.encode(), "/etc/yum.repos.d", "t.repo")
        box.put_bytes(WRAPPER.encode(), "/usr/local/bin", "dnf", mode=0o755)
        commands = [Command(["dnf", "-q", "-y", "makecache"], "refresh", gate=True)]
        commands += [Command(argv, " ".join(argv)) for argv in QUERIES]
        results = run_batch(box, commands)
        calls = box.run(["cat", "/tmp/wrapper.log"], "calls").stdout.splitlines()
        assert calls == [" ".join(c.argv[1:]) for c in commands]
        assert [r.exit_code for r in results] == [0, 0, 0, 1, 0]  # deplist of nothing is no error
        assert "vt-lib" in results[1].stdout


@pytest.mark.parametrize("driver", sorted(FIRST))
def test_verbose_echoes_each_command_not_the_driver(
    dnf_box: Container, driver: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """VMAPP_BUILD_VERBOSE shows the commands a batch runs, as they would be echoed alone."""
    dnf_box.verbose = True
    try:
        run_batch(dnf_box, [Command(FIRST[driver], "first"), Command(["echo", "a b"], "echo")])
    finally:
        dnf_box.verbose = False
    err = capsys.readouterr().err
    assert f"+ {' '.join(FIRST[driver])}\n+ echo 'a b'\n" in err
    assert "import json" not in err and "mark=$1" not in err
