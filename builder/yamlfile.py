"""Reading the user's YAML files (recipes, gallery settings, VM plans) with errors that name the
file and the key: one reader and the structural checks every loader shares."""

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


def as_list(path: Path, key: str, raw: Any) -> list[Any]:
    if not isinstance(raw, list):
        raise RecipeError(path, key, f"expected a list, got {type(raw).__name__}")
    return raw


def no_unknown_keys(path: Path, key: str, data: dict[str, Any], allowed: set[str]) -> None:
    for name in data:
        if name not in allowed:
            where = f"{key}.{name}" if key else str(name)
            raise RecipeError(path, where, "unknown key", hint=f"allowed here: {', '.join(sorted(allowed))}")
