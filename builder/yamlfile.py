"""Reading the user's YAML files (recipes, gallery settings, VM plans) with errors that name the
file and the key: one reader and the structural checks every loader shares."""

from __future__ import annotations

import unicodedata
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


def character_problem(text: str, multiline: bool = False) -> str | None:
    """Why `text` cannot be put into a file, a command or a repository definition as it is, or None.

    Control characters (a NUL, a line break where one line is expected, a carriage return that hides
    what follows) and invisible format characters (bidirectional overrides, zero-width spaces) would
    change or hide the meaning of the line the value lands in.
    """
    for char in text:
        if multiline and char in "\n\t":
            continue
        category = unicodedata.category(char)
        if category in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "a control character").lower()
            where = "" if multiline else " (it must be one line of visible text)"
            return f"contains {name} (U+{ord(char):04X}){where}"
    return None


_CONTROL_NAMES = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab", "\x00": "a NUL byte"}


def text_value(
    path: Path, key: str, raw: Any, allow_empty: bool = False, hint: str | None = None, multiline: bool = False
) -> str:
    """A scalar as text (YAML reads some as numbers), checked for characters that would change the
    meaning of the line it lands in; `multiline` allows line breaks and tabs (commands, descriptions)."""
    if raw is None:
        raise RecipeError(path, key, "missing", hint=hint)
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise RecipeError(path, key, f"expected a string, got {type(raw).__name__}", hint=hint)
    if isinstance(raw, float):
        # YAML reads `version: 1.0` as a float: point at the quoting instead of a confusing format error.
        raise RecipeError(path, key, f"{raw!r} was read as a number", hint='quote it, e.g. "1.0.0"')
    text = str(raw)
    if not text.strip() and not allow_empty:
        raise RecipeError(path, key, "must not be empty", hint=hint)
    if problem := character_problem(text, multiline):
        raise RecipeError(path, key, f"{text!r} {problem}", hint=hint)
    return text
