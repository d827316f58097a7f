"""The markers of the tests that need an outside service (tests/conftest.py): an unmarked test reaches neither.

So `make test-fast` (`-m "not docker and not azurite"`) passes without an engine or npm, and a test that
needs either but lacks its marker fails here too rather than passing where the service happens to run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.azurite import running_azurite
from tests.conftest import UNREACHABLE_ENGINE, run_cli


def test_an_unmarked_test_sees_no_engine_nor_do_its_subprocesses(tmp_path: Path) -> None:
    assert os.environ["DOCKER_HOST"] == UNREACHABLE_ENGINE  # docker.from_env in this process reads it too
    result = run_cli("recipe", "jq", "--distro", "debian-12", "--out", tmp_path / "dist")
    assert result.returncode == 5 and UNREACHABLE_ENGINE in result.stderr, result.stderr


def test_an_unmarked_test_cannot_start_azurite(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="mark it `azurite`"), running_azurite(tmp_path):
        pass
    assert not any(tmp_path.iterdir())  # not even its log: nothing was started
