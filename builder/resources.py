"""Where the shipped templates and recipes are, from a wheel or from a source checkout."""

from __future__ import annotations

from pathlib import Path

from builder.errors import EnvironmentProblem

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The `templates` or `recipes` directory.

    A wheel carries them inside the package (pyproject's force-include); an editable install or a
    plain checkout has them at the top of the repository, next to the package.
    """
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise EnvironmentProblem(
        f"the shipped {name!r} directory is missing from this installation ({_PACKAGE})",
        hint="reinstall vmapp-build from a wheel or an editable checkout",
    )
