"""`vmapp-build simulate` on debian:12 with no network: real tarball builds (update with and without an
update string, removal) and small probe builds whose commands write down what the VM looked like.

A probe build is what a build directory is (manifest.json and the package) with hand-written command
strings: they log their directory, the package's bytes and the configuration into /root/log, or fail.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from builder.errors import RecipeError
from builder.lifecycle import EXTENSION_DIR
from builder.manifest import SCHEMA
from builder.pipeline import build
from builder.plan import make_plan
from builder.recipe import load_recipe
from builder.simulate import GoalStateReport, load_plan, simulate
from tests.conftest import DISTRO, run_cli, write_recipe
from tests.test_tarball import HELLO, make_tarball, recipe_text

LOG = "/root/log"
# the probe's install: its directory, its package's bytes, its configuration (when any), in the log
PROBE = (
    'echo "{op} $APP $(pwd) pkg=$(cat ./$APP.pkg) cfg=$(cat ./$CFG 2>/dev/null)" >>/root/log; echo out; echo err >&2'
)
# what the VM's download directories look like: mode, path (the last goal state's probe prints it)
INSPECT = (
    f"find {EXTENSION_DIR} -printf '%m %p\\n' | sort; cat {LOG}; "
    f"find {EXTENSION_DIR} -name '*.gz' -exec sha256sum {{}} +"
)


def probe_build(
    root: Path,
    app: str,
    version: str,
    install: str = "",
    remove: str = "",
    update: str = "",
    image: str = "debian:12",
    family: str = "apt",
    distro: str = DISTRO,
    config: str = "",
) -> Path:
    """A build directory with these command strings and a package holding `<app> <version>`."""
    directory = root / app / version / distro
    directory.mkdir(parents=True)
    (directory / f"{app}.pkg").write_text(f"{app} {version}")
    env = f"APP={app} CFG={config or app + '_config'}; " if family != "windows" else ""
    commands = {
        "install": install or env + PROBE.format(op="install"),
        "remove": remove or env + PROBE.format(op="remove"),
    }
    if update:
        commands["update"] = update
    manifest: dict[str, Any] = {
        "schema": SCHEMA,
        "application": {"name": app, "version": version},
        "distro": {"name": distro, "family": family},
        "image": {"name": image, "id": None},
        "packageFileName": f"{app}.pkg",
        "commands": commands,
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def write_plan(root: Path, goal_states: list[dict[str, Any]], name: str = "plan.yaml") -> Path:
    path = root / name
    path.write_text(yaml.safe_dump({"goalStates": goal_states}))
    return path


def outcomes(report: GoalStateReport) -> list[tuple[str, str, str]]:
    return [(o.app, o.operation, o.result) for p in report.result.passes for o in p.outcomes]


def inspection(reports: list[GoalStateReport]) -> list[str]:
    """The last command's stdout: the inspect probe's listing and log."""
    return reports[-1].commands[-1].stdout.splitlines()


def inspect_state(root: Path) -> dict[str, Any]:
    build_dir = probe_build(root, "zz-inspect", "1.0.0", install=INSPECT)
    return {"build": str(build_dir.relative_to(root))}


def test_a_failing_middle_app_skips_exactly_the_higher_orders(
    docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    apps = {name: {"build": str(probe_build(tmp_path, name, "1.0.0").relative_to(tmp_path))} for name in "acde"}
    failing = probe_build(tmp_path, "b", "1.0.0", install="echo broken >&2; exit 7")
    entries = [
        {**apps["a"], "order": 1},
        {"build": str(failing.relative_to(tmp_path)), "order": 2, "treatFailureAsDeploymentFailure": True},
        {**apps["d"], "order": 2},
        {**apps["c"], "order": 3},
        apps["e"],
    ]
    plan = write_plan(tmp_path, [{"applications": entries}, {"applications": [*entries, inspect_state(tmp_path)]}])
    proc = run_cli("simulate", plan, "--json")
    assert proc.returncode == 4, proc.stderr
    assert "goal state 1 reported error" in proc.stderr
    first, second = json.loads(proc.stdout)
    assert first["status"] == "error"
    assert [(a["app"], a["result"]) for a in first["passes"][0]["applications"]] == [
        ("a", "success"),
        ("b", "failed"),
        ("d", "success"),
        ("c", "skipped"),
        ("e", "success"),
    ]
    failed = next(c for c in first["commands"] if c["app"] == "b")
    assert failed["exit_code"] == 7 and failed["stderr"] == "broken\n"
    # the same goal state again: nothing is retried (b failed, c skipped, at these versions)
    assert second["status"] == "success"
    assert [a["app"] for a in second["passes"][0]["applications"]] == ["zz-inspect"]
    log = [line.split()[1] for line in second["commands"][-1]["stdout"].splitlines() if line.startswith("install ")]
    assert log == ["a", "d", "e"]


@pytest.fixture(scope="module")
def hello_builds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """hello 1.0.0, 2.0.0 and 3.0.0 as real tarball builds (into /usr/local/hello); 3.0.0 without an
    update string, as a version published with install and remove only."""
    root = tmp_path_factory.mktemp("hello")
    for n in (1, 2, 3):
        sha = make_tarball(root / f"hello{n}.tar.gz", {"hello/bin/hello": HELLO.format(v=n), f"hello/only-{n}": "x"})
        recipe = write_recipe(root, recipe_text(f"{n}.0.0", f"hello{n}.tar.gz", sha), f"hello{n}.yaml")
        build(make_plan(load_recipe(recipe), DISTRO, root / "dist"))
    without_update(root / "dist/hello/3.0.0" / DISTRO)
    return root


def without_update(build_dir: Path) -> None:
    """The build as a version published with install and remove strings only."""
    manifest = build_dir / "manifest.json"
    document = json.loads(manifest.read_text())
    del document["commands"]["update"]
    manifest.write_text(json.dumps(document))


def test_updates_removal_files_and_modes(docker_client: docker.DockerClient, hello_builds: Path) -> None:
    root = hello_builds
    (root / "license.txt").write_text("licensed")
    (root / "probe.conf").write_text("probe settings")
    hello = {n: {"build": f"dist/hello/{n}.0.0/{DISTRO}"} for n in (1, 2, 3)}
    named = {"build": str(probe_build(root, "named", "1.0.0", config="named.conf").relative_to(root))}
    named |= {"configurationReference": "probe.conf", "configFileName": "named.conf"}
    check = "/usr/local/hello/bin/hello; ls /usr/local/hello"
    states = [
        {"applications": [{**hello[1], "configurationReference": "license.txt"}, named]},
        {"applications": [hello[2]]},  # update string; `named` is removed
        {"applications": [hello[3]]},  # no update string: RemoveForUpdate, then install
        {"applications": [probe_build_entry(root, "check", "1.0.0", check)]},  # hello is removed
        {"applications": [inspect_state(root)]},
    ]
    reports = simulate(load_plan(write_plan(root, states)), docker_client)
    assert [r.status for r in reports] == ["success"] * 5
    assert outcomes(reports[1]) == [("named", "remove", "success"), ("hello", "update", "success")]
    assert outcomes(reports[2]) == [("hello", "remove-for-update", "success"), ("hello", "install", "success")]
    rfu = reports[2].commands[0]
    assert rfu.workdir == f"{EXTENSION_DIR}/hello/2.0.0" and rfu.operation == "remove-for-update"
    assert outcomes(reports[3]) == [("hello", "remove", "success"), ("check", "install", "failed")]
    assert "No such file" in reports[3].commands[-1].stderr  # remove took /usr/local/hello out
    listing = inspection(reports)
    # `stat -c '%a %n'` lines only: the listing also holds sha256sum lines, whose hash may start with a digit
    modes = {line.split()[1]: line.split()[0] for line in listing if re.fullmatch(r"[0-7]{3,4} /\S+", line)}
    base = f"{EXTENSION_DIR}/hello"
    # older directories stay; the removed version's goes; the config arrives as <app>_config
    assert modes[f"{base}/1.0.0"] == "700" and modes[f"{base}/2.0.0"] == "700" and f"{base}/3.0.0" not in modes
    assert modes[f"{base}/1.0.0/hello_config"] == "700" and modes[f"{base}/1.0.0/hello.tar.gz"] == "700"
    assert f"{base}/1.0.0/stdout" in modes and f"{base}/1.0.0/stderr" in modes
    assert f"{EXTENSION_DIR}/named" in modes and f"{EXTENSION_DIR}/named/1.0.0" not in modes
    assert f"{EXTENSION_DIR}/named/1.0.0" in " ".join(line for line in listing if line.startswith("install named"))
    assert "cfg=probe settings" in next(line for line in listing if line.startswith("install named"))
    # RemoveForUpdate: 2.0.0's directory holds 3.0.0's bytes in 2.0.0s directory
    package = root / "dist/hello/3.0.0" / DISTRO / "hello.tar.gz"
    digest = hashlib.sha256(package.read_bytes()).hexdigest()
    assert f"{digest}  {base}/2.0.0/hello.tar.gz" in listing


def test_a_hostile_config_file_name_arrives_as_it_is(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    """configFileName with a space, %, &, quotes and $( ): saved under exactly that name, no shell between."""
    name = "my app %PATH% & 'it' \"q\" $(touch pwned).conf"
    (tmp_path / "settings.conf").write_text("value=1\n")
    directory = probe_build(tmp_path, "cfg", "1.0.0", install=f"cat -- {shlex.quote(name)}; ls", remove="true")
    entry = {"build": str(directory.relative_to(tmp_path)), "configurationReference": "settings.conf"}
    (report,) = simulate(
        load_plan(write_plan(tmp_path, [{"applications": [entry | {"configFileName": name}]}])), docker_client
    )
    assert report.status == "success", report.commands[0].stderr
    assert report.commands[0].stdout.startswith("value=1\n")
    listing = report.commands[0].stdout.splitlines()
    assert name in listing and "pwned" not in listing  # the file, and no command substitution ran


def probe_build_entry(root: Path, app: str, version: str, install: str) -> dict[str, Any]:
    return {"build": str(probe_build(root, app, version, install=install).relative_to(root))}


def test_remove_for_update_sees_the_new_bytes_under_the_old_name(
    docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    old = probe_build(tmp_path, "p", "1.0.0")
    new = probe_build(tmp_path, "p", "2.0.0")
    states = [{"applications": [{"build": str(d.relative_to(tmp_path))}]} for d in (old, new)]
    reports = simulate(
        load_plan(write_plan(tmp_path, [*states, {"applications": [inspect_state(tmp_path)]}])), docker_client
    )
    log = [line for line in inspection(reports) if line.startswith(("install", "remove"))]
    assert log == [
        f"install p {EXTENSION_DIR}/p/1.0.0 pkg=p 1.0.0 cfg=",
        f"remove p {EXTENSION_DIR}/p/1.0.0 pkg=p 2.0.0 cfg=",
        f"install p {EXTENSION_DIR}/p/2.0.0 pkg=p 2.0.0 cfg=",
        f"remove p {EXTENSION_DIR}/p/2.0.0 pkg=p 2.0.0 cfg=",  # the inspect goal state removes p
    ]
    assert reports[0].commands[0].stdout == "out\n" and reports[0].commands[0].stderr == "err\n"


def test_reboots_rerun_and_none(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    count = 'echo run >>/root/{app}.runs; test "$(wc -l </root/{app}.runs)" -ge 2 || exit 3'
    rerun = probe_build(tmp_path, "rerun", "1.0.0", install=count.format(app="rerun"))
    none = probe_build(tmp_path, "none", "1.0.0", install=count.format(app="none"))
    entries = [
        {
            "build": str(rerun.relative_to(tmp_path)),
            "order": 1,
            "scriptBehaviorAfterReboot": "Rerun",
            "reboot": {"times": 2},
        },
        {"build": str(none.relative_to(tmp_path)), "order": 2, "reboot": True, "treatFailureAsDeploymentFailure": True},
    ]
    look = probe_build_entry(tmp_path, "look", "1.0.0", "wc -l /root/rerun.runs /root/none.runs")
    plan = write_plan(tmp_path, [{"applications": entries}, {"applications": [*entries, look]}])
    first, second = simulate(load_plan(plan), docker_client)
    assert outcomes(first) == [
        ("rerun", "install", "reboot"),
        ("rerun", "install", "reboot"),
        ("rerun", "install", "success"),
        ("none", "install", "reboot"),
    ]
    assert [p.rebooted for p in first.result.passes] == [True, True, True, False]
    assert first.status == "success"  # None: done, although its first run would have failed (exit 3)
    assert [c.exit_code for c in first.commands] == [3, 0, 0, 3]
    assert outcomes(second) == [("look", "install", "success")]  # nothing reruns
    assert second.commands[0].stdout.split()[:4] == ["3", "/root/rerun.runs", "1", "/root/none.runs"]


def test_bad_plans_name_the_file_and_the_key(tmp_path: Path) -> None:
    good = str(probe_build(tmp_path, "a", "1.0.0").relative_to(tmp_path))
    cases = [
        ({"goalStates": [{"applications": [{"build": "nowhere"}]}]}, "goalStates[0].applications[0].build"),
        ({"goalStates": [{"applications": [{"build": good, "reboot": {"times": 4}}]}]}, ".reboot.times"),
        ({"goalStates": [{"applications": [{"build": good, "oder": 1}]}]}, "goalStates[0].applications[0].oder"),
        ({"goalStates": [{"applications": [{"build": good}], "reboots": [{"app": "a", "during": "boot"}]}]}, ".during"),
        ({"goalStates": [{"applications": [{"build": good, "scriptBehaviorAfterReboot": "Retry"}]}]}, "Behavior"),
        ({"goalState": []}, "goalState"),
    ]
    for document, key in cases:
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump(document))
        with pytest.raises(RecipeError) as caught:
            load_plan(path)
        assert str(path) in str(caught.value) and key in str(caught.value)
    proc = run_cli("simulate", tmp_path / "bad.yaml")
    assert proc.returncode == 2 and "unknown key" in proc.stderr


def test_the_table_and_strict(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    """A failure without treatFailureAsDeploymentFailure: Azure reports success (exit 0); --strict exits 4."""
    entries = [{"build": str(probe_build(tmp_path, "t", "1.0.0", install="exit 5").relative_to(tmp_path))}]
    plan = write_plan(tmp_path, [{"applications": entries}, {"applications": []}])
    proc = run_cli("simulate", plan)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "goal state 1: success"
    assert lines[1].split() == ["pass", "application", "version", "operation", "result"]
    assert lines[2].split() == ["1", "t", "1.0.0", "install", "failed", "exit", "code", "5"]
    assert lines[3] == "goal state 2: success" and lines[5].split()[1:5] == ["t", "1.0.0", "remove", "success"]
    strict = run_cli("simulate", plan, "--strict")
    assert strict.returncode == 4 and "goal state 1 had a failed application" in strict.stderr


@pytest.fixture(scope="module")
def jq_builds(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """jqsim 1.0.0 and 1.0.1: real apt builds of jq (with libjq1 and libonig5); 1.0.1 without an update
    string, so the update is RemoveForUpdate through apt, with 1.0.1's bundle in 1.0.0's directory."""
    root = tmp_path_factory.mktemp("jqsim")
    for version in ("1.0.0", "1.0.1"):
        text = f"name: jqsim\nversion: {version}\nlinux:\n  packages: [jq]\n  check: jq --version\n"
        build(make_plan(load_recipe(write_recipe(root, text, f"jq-{version}.yaml")), DISTRO, root / "dist"))
    without_update(root / "dist/jqsim/1.0.1" / DISTRO)
    return root


def test_apt_install_remove_for_update_and_remove(docker_client: docker.DockerClient, jq_builds: Path) -> None:
    root = jq_builds
    jq = {v: {"build": f"dist/jqsim/{v}/{DISTRO}", "order": 1} for v in ("1.0.0", "1.0.1")}
    look = "jq --version; dpkg-query -W -f '${db:Status-Status}\\n' jq libonig5 2>&1 | sort -u"
    use = {**probe_build_entry(root, "use", "1.0.0", look), "order": 2}
    states = [
        {"applications": [jq["1.0.0"], use]},
        {"applications": [jq["1.0.1"], use]},
        {"applications": [probe_build_entry(root, "after", "1.0.0", look)]},  # jqsim and use are removed
    ]
    installed, updated, removed = simulate(load_plan(write_plan(root, states)), docker_client)
    assert outcomes(installed) == [("jqsim", "install", "success"), ("use", "install", "success")]
    assert installed.commands[1].stdout.startswith("jq-1.6") and "installed" in installed.commands[1].stdout.split()
    assert outcomes(updated) == [("jqsim", "remove-for-update", "success"), ("jqsim", "install", "success")]
    assert [c.workdir for c in updated.commands] == [f"{EXTENSION_DIR}/jqsim/1.0.0", f"{EXTENSION_DIR}/jqsim/1.0.1"]
    assert [o.operation for o in outcomes_of(removed)] == ["remove", "remove", "install"]
    assert removed.commands[-1].exit_code == 0  # `after` ran; jq itself is gone:
    assert "not found" in removed.commands[-1].stderr and "installed" not in removed.commands[-1].stdout.split()


def outcomes_of(report: GoalStateReport) -> list[Any]:
    return [o for p in report.result.passes for o in p.outcomes]
