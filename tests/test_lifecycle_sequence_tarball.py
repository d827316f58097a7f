"""`verify --lifecycle` for a tarball: three versions extracted into /opt/vendor/tool (which debian:12 lacks).
Its owner, who has no bundle file to install, writes a file into the target directory between steps: every
later install, update and remove must keep it, and each remove must leave nothing of any version."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from builder.lifecycle.run import verify_lifecycle
from builder.pipeline import build
from builder.plan import make_plan
from builder.recipe import load_recipe
from tests.conftest import DISTRO, write_recipe
from tests.test_tarball import HELLO, make_tarball

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def tool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tool 1.0.0, 1.1.0 and 2.0.0 in one --out root; the newest build's directory."""
    root = tmp_path_factory.mktemp("lifecycle-tarball")
    result = None
    for n, version in enumerate(["1.0.0", "1.1.0", "2.0.0"], 1):
        sha = make_tarball(root / f"tool-{version}.tar.gz", {"bin/tool": HELLO.format(v=n), f"share/only-{n}": "x"})
        text = (
            f"name: tool\nversion: {version}\nlinux:\n  check: /opt/vendor/tool/bin/tool\n"
            f'  tarball:\n    source: tool-{version}.tar.gz\n    sha256: "{sha}"\n    directory: /opt/vendor/tool\n'
        )
        result = build(make_plan(load_recipe(write_recipe(root, text, f"tool-{version}.yaml")), DISTRO, root / "dist"))
    assert result is not None
    return result.manifest.parent


def test_tarball_lifecycle_keeps_the_owners_file(tool: Path, docker_client: docker.DockerClient) -> None:
    report = verify_lifecycle(tool, client=docker_client)
    assert report.versions == ["1.0.0", "1.1.0", "2.0.0"]
    assert [r.outcome for r in report.rows] == ["ok"] * 11, report.table()
    owner = report.rows[4]
    assert owner.commands == ["owner writes /opt/vendor/tool/owner-file-of-vmapp-verify"]
    assert any("/opt/vendor/tool/owner-file-of-vmapp-verify" in n for n in report.notes), report.notes
