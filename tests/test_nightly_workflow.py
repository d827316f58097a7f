"""The nightly workflow (.github/workflows/nightly.yml) and the Makefile's catalogue targets: actionlint
and shellcheck pass on the workflow, values reach its scripts only through env, its matrix and publish
scripts really do their job, and `make package`/`make nightly` quote their values and build only once.

No GitHub: actionlint and shellcheck are the test extra's binaries, the scripts run under bash here the
way a runner runs them (`bash -e -o pipefail`). Only the Makefile's builds need the engine.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "nightly.yml"
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = BIN / name if (BIN / name).exists() else shutil.which(name)
    assert found, f"{name} is missing: make venv installs it (the test extra)"
    return str(found)


def actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    argv = [tool("actionlint"), "-oneline", "-shellcheck", tool("shellcheck"), "-pyflakes", "", str(path)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def workflow() -> dict[Any, Any]:
    document: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return document


def steps(document: dict[Any, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job, step) for job, spec in document["jobs"].items() for step in spec["steps"]]


def test_actionlint_and_shellcheck_pass() -> None:
    proc = actionlint(WORKFLOW)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ('--distro "$DISTRO" --out', "--distro $DISTRO --out", "SC2086"),  # an unquoted value
        ("needs: matrix\n", "needs: matrixx\n", "matrixx"),  # a job that does not exist
        ("fromJSON(needs.matrix.outputs.matrix)", "fromJSON(needs.matrix.outputs.matrx)", "matrx"),
    ],
)
def test_a_broken_workflow_fails_actionlint(tmp_path: Path, old: str, new: str, complaint: str) -> None:
    text = WORKFLOW.read_text()
    assert old in text
    broken = tmp_path / "nightly.yml"
    broken.write_text(text.replace(old, new, 1))
    proc = actionlint(broken)
    assert proc.returncode == 1
    assert complaint in proc.stdout


def test_no_expression_inside_run_scripts() -> None:
    """`${{ }}` in a script is pasted into its text before bash reads it: a recipe path with `"` or `$(`
    would become shell. Every value goes through env: instead."""
    for job, step in steps(workflow()):
        if "run" in step:
            assert "${{" not in step["run"], f"{job}: {step.get('name', step['run'])}"


def test_matrix_values_reach_the_build_through_env() -> None:
    build = workflow()["jobs"]["build"]
    assert build["env"]["RECIPE"] == "${{ matrix.recipe }}"
    assert build["env"]["DISTRO"] == "${{ matrix.distro }}"
    assert build["strategy"] == {"fail-fast": False, "matrix": "${{ fromJSON(needs.matrix.outputs.matrix) }}"}
    (rebuild,) = [s["run"] for _, s in steps({"jobs": {"build": build}}) if "vmapp-build rebuild" in s.get("run", "")]
    assert '--distro "$DISTRO"' in rebuild
    assert rebuild.rstrip().endswith('-- "$RECIPE"')  # after --: a path starting with - is no option


def test_shape_triggers_permissions_pins() -> None:
    document = workflow()
    on: dict[str, Any] = document[True]  # YAML 1.1 reads a bare `on` as true
    assert on["schedule"][0]["cron"]
    assert set(on["workflow_dispatch"]["inputs"]) == {"recipes", "distros", "version-policy"}
    assert on["workflow_dispatch"]["inputs"]["version-policy"]["options"] == ["patch", "date"]
    assert document["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in document["jobs"].values())
    assert list(document["jobs"]) == ["matrix", "build", "publish"]
    for job, step in steps(document):
        if "uses" in step:
            assert re.fullmatch(r"actions/[a-z-]+@v[0-9]+", step["uses"]), f"{job}: {step['uses']}"


def test_lock_cache_restores_the_newest_state_of_the_entry() -> None:
    build = workflow()["jobs"]["build"]
    (cache,) = [s["with"] for s in build["steps"] if s.get("uses", "").startswith("actions/cache@")]
    entry = "${{ matrix.app }}-${{ matrix.directory }}-"  # no '/' (debian-12/arm64: debian-12-arm64)
    assert cache["key"] == f"vmapp-locks-{entry}${{{{ github.run_id }}}}"
    assert cache["restore-keys"].strip() == f"vmapp-locks-{entry}"
    assert cache["path"].splitlines() == [
        "${{ env.OUT }}/${{ matrix.app }}/*/${{ matrix.directory }}/lock.json",
        "${{ env.OUT }}/${{ matrix.app }}/*/${{ matrix.directory }}/manifest.json",
    ]


def test_publish_is_gated_on_secrets_in_a_step() -> None:
    publish = workflow()["jobs"]["publish"]
    assert "secrets." not in publish["if"]  # not allowed there: the gate step reads them from env
    gate, *rest = publish["steps"]
    assert gate["id"] == "gate"
    assert all(step["if"] == "steps.gate.outputs.publish == 'true'" for step in rest)
    assert "--create" in rest[-1]["run"]


def run_step(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """A run: script as a runner runs it: bash -e -o pipefail, the job's env, the venv on PATH."""
    full_env = {**os.environ, **env, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    argv = ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script]
    return subprocess.run(argv, env=full_env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def matrix_script() -> str:
    (script,) = [str(s["run"]) for _, s in steps(workflow()) if s.get("id") == "matrix"]
    return script


@pytest.mark.parametrize(
    ("recipes", "distros", "args"),
    [
        ("", "", []),
        ("  jq   myapp-msi ", "debian-12 windows", ["--distro", "debian-12", "--distro", "windows", "jq", "myapp-msi"]),
    ],
)
def test_matrix_step_writes_the_matrix_output(tmp_path: Path, recipes: str, distros: str, args: list[str]) -> None:
    output = tmp_path / "github_output"
    proc = run_step(matrix_script(), {"RECIPES": recipes, "DISTROS": distros, "GITHUB_OUTPUT": str(output)}, ROOT)
    assert proc.returncode == 0, proc.stderr
    name, _, value = output.read_text().rstrip("\n").partition("=")
    assert name == "matrix"
    expected = subprocess.run(
        [sys.executable, "-m", "builder", "matrix", "--json", *args], capture_output=True, text=True, check=True
    )
    assert json.loads(value) == json.loads(expected.stdout)


def test_matrix_step_fails_on_a_bad_input(tmp_path: Path) -> None:
    output = tmp_path / "github_output"
    proc = run_step(matrix_script(), {"RECIPES": "jq nope", "DISTROS": "", "GITHUB_OUTPUT": str(output)}, ROOT)
    assert proc.returncode == 2
    assert "no recipe named 'nope'" in proc.stderr
    assert not output.exists()  # no matrix: the build job does not start


def publish_script() -> str:
    return str(workflow()["jobs"]["publish"]["steps"][-1]["run"])


def write_report(root: Path, entries: list[dict[str, str]]) -> None:
    root.mkdir(parents=True)
    (root / "report.json").write_text(json.dumps({"schema": 1, "policy": "patch", "entries": entries}))


def entry(app: str, distro: str, status: str, new: str) -> dict[str, str]:
    return {"recipe": app, "app": app, "distro": distro, "status": status, "old_version": "1.0.0", "new_version": new}


def run_publish(tmp_path: Path, stand_in_body: str, gallery_yaml: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The publish job's script under bash, with `vmapp-build` a stand-in running `stand_in_body`
    (it appends to $CALLS): the completed process and the calls file."""
    stand_in = tmp_path / "bin" / "vmapp-build"
    stand_in.parent.mkdir()
    stand_in.write_text(f"#!/bin/sh\n{stand_in_body}\n")
    stand_in.chmod(0o755)
    calls = tmp_path / "calls"
    env = {
        "CALLS": str(calls),
        "RUNNER_TEMP": str(tmp_path),
        "VMAPP_GALLERY": gallery_yaml,
        "PATH": f"{stand_in.parent}{os.pathsep}{os.environ['PATH']}",
    }
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", publish_script()],
        env={**os.environ, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc, calls


def test_publish_step_publishes_only_the_versions_built(tmp_path: Path) -> None:
    """The artifacts as download-artifact lays them out (one directory per entry); `vmapp-build` is a
    stand-in here that records its arguments: Azure is not reachable, publish has its own tests."""
    artifacts = tmp_path / "artifacts"
    write_report(artifacts / "build-jq-debian-12", [entry("jq", "debian-12", "built", "1.0.1")])
    write_report(artifacts / "build-jq-debian-11", [entry("jq", "debian-11", "unchanged", "")])
    write_report(artifacts / "build-git-debian-12", [entry("git", "debian-12", "failed", "")])
    write_report(artifacts / "build-myapp-msi-windows", [entry("myapp-msi", "windows", "built", "1.0.3")])
    gallery_yaml = "name: g\nresource_group: rg\nlocation: westeurope\n"
    proc, calls = run_publish(tmp_path, 'printf "%s\\n" "$*" >> "$CALLS"', gallery_yaml)
    assert proc.returncode == 0, proc.stderr
    gallery = tmp_path / "gallery.yaml"
    assert sorted(calls.read_text().splitlines()) == [
        f"publish artifacts/build-jq-debian-12/jq/1.0.1/debian-12 --gallery {gallery} --create",
        f"publish artifacts/build-myapp-msi-windows/myapp-msi/1.0.3/windows --gallery {gallery} --create",
    ]
    assert gallery.read_text() == gallery_yaml + "\n"
    assert "published 2 new version(s)" in proc.stdout


def test_publish_step_goes_on_after_a_failure_and_fails_at_the_end(tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    write_report(artifacts / "build-git-debian-12", [entry("git", "debian-12", "built", "1.0.1")])
    write_report(artifacts / "build-jq-debian-12", [entry("jq", "debian-12", "built", "1.0.1")])
    fails_for_git = 'printf "%s\\n" "$2" >> "$CALLS"\ncase "$2" in *git*) exit 3;; esac'
    proc, calls = run_publish(tmp_path, fails_for_git, "name: g\n")
    assert proc.returncode == 1
    assert calls.read_text().splitlines() == [
        "artifacts/build-git-debian-12/git/1.0.1/debian-12",
        "artifacts/build-jq-debian-12/jq/1.0.1/debian-12",
    ]
    assert "::error::publish failed: git 1.0.1 debian-12" in proc.stdout
    assert "published 1 new version(s)" in proc.stdout


def make_names() -> list[str]:
    """Hostile strings make can carry on its command line: `$` is make's own expansion, a line break
    ends a recipe line, and make strips an assignment's leading blanks."""
    strings: list[str] = json.loads(Path("/work/shared/data/hostile-strings.json").read_text())["strings"]
    return [s for s in strings if s.strip() and not s[0].isspace() and not set(s) & {"$", "\n", "\r", "\0"}]


def test_makefile_quotes_every_value_it_passes(tmp_path: Path) -> None:
    """`make -n` prints the rebuild command as the shell will get it: each value comes back as one word."""
    for value in make_names():
        variables = [f"RECIPE={value}", f"DISTRO={value}", f"OUT={value}", f"POLICY={value}", f"JOBS={value}"]
        proc = subprocess.run(
            ["make", "-n", "--no-print-directory", "package", *variables],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        (line,) = [line for line in proc.stdout.splitlines() if " rebuild " in line]
        argv = shlex.split(line)
        assert argv[1:] == [
            "rebuild",
            *("--out", value, "--version-policy", value, "--jobs", value),
            *("--distro", value, "--", value),
        ], value


def make(target: str, *variables: str) -> dict[str, Any]:
    """A Makefile target as a user runs it; its report.json."""
    proc = subprocess.run(
        ["make", "--no-print-directory", target, *variables], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = Path(next(v for v in variables if v.startswith("OUT=")).removeprefix("OUT="))
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


def statuses(report: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(e["app"], e["status"], e["new_version"]) for e in report["entries"]]


def test_make_package_and_nightly_build_once_then_nothing(docker_client: docker.DockerClient, tmp_path: Path) -> None:
    """A second run builds nothing; nor does a run on an output root holding only the last build's lock
    and manifest, the state the workflow's cache restores."""
    out = tmp_path / "out dir"
    first = make("package", f"OUT={out}", "RECIPE=jq", "DISTRO=debian-12")
    assert statuses(first) == [("jq", "built", "1.0.0")]
    again = make("nightly", f"OUT={out}", "RECIPES=jq", "DISTROS=debian-12")
    assert statuses(again) == [("jq", "unchanged", None)]
    cached = tmp_path / "cached"
    (cached / "jq" / "1.0.0" / "debian-12").mkdir(parents=True)
    for name in ("lock.json", "manifest.json"):
        shutil.copy(out / "jq" / "1.0.0" / "debian-12" / name, cached / "jq" / "1.0.0" / "debian-12" / name)
    from_cache = make("package", f"OUT={cached}", "RECIPE=jq", "DISTRO=debian-12")
    assert statuses(from_cache) == [("jq", "unchanged", None)]
    assert sorted(p.name for p in (cached / "jq").iterdir()) == ["1.0.0"]
