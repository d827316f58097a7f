"""Reading the user's YAML files (recipes, gallery settings, VM plans) with errors that name the
file; the checks of their fields are in builder.fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from builder.errors import RecipeError


def read_yaml(path: Path, what: str) -> Any:
    """The parsed document; `what` names it in a read error ("the recipe", "the VM plan")."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RecipeError(path, "", f"not valid YAML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(path, "", f"cannot read {what}: {exc}") from exc
