"""The field checks every loader of the user's YAML files shares (recipes, gallery settings).

Each check takes the file, the dotted key and the raw value, and raises a RecipeError that names
both, with what is wrong and, where one helps, what to write instead. A loader keeps only the
checks that are its own (a Windows path, a package name, a gallery date).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

from builder.errors import RecipeError

# A URL that lands unquoted in an apt sources line, a .repo file or a download: nothing that ends the
# line, the field or the [section], opens an apt [option] block, starts a comment, or separates two
# baseurls (dnf splits them on spaces and commas).
URL_RE = re.compile(r"(https?|file)://[A-Za-z0-9._~:/?&=%+@!$*\[\]-]+", re.ASCII)
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
_CONTROL_NAMES = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab", "\x00": "a NUL byte"}


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


def text(
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
    value = str(raw)
    if not value.strip() and not allow_empty:
        raise RecipeError(path, key, "must not be empty", hint=hint)
    if problem := character_problem(value, multiline):
        raise RecipeError(path, key, f"{value!r} {problem}", hint=hint)
    return value


def matching(
    path: Path, key: str, raw: Any, pattern: re.Pattern[str], hint: str, problem: str = "is not a plain word"
) -> str:
    """Text that `pattern` matches whole; else "'VALUE' `problem`", and `hint` says what it may be."""
    value = text(path, key, raw)
    if not pattern.fullmatch(value):
        raise RecipeError(path, key, f"{value!r} {problem}", hint=hint)
    return value


def words(path: Path, key: str, raw: Any, pattern: re.Pattern[str], hint: str) -> list[str]:
    """A list of words, each made of the characters `pattern` allows."""
    items = as_list(path, key, raw)
    for i, item in enumerate(items):
        if not isinstance(item, str) or not pattern.fullmatch(item):
            raise RecipeError(path, f"{key}[{i}]", f"{item!r} is not a plain word", hint=hint)
    return items


def as_list(path: Path, key: str, raw: Any, hint: str | None = None) -> list[Any]:
    if not isinstance(raw, list):
        raise RecipeError(path, key, f"expected a list, got {type(raw).__name__}", hint=hint)
    return raw


def no_repeats(path: Path, key: str, items: list[Any], what: str) -> None:
    if len(set(items)) != len(items):
        raise RecipeError(path, key, f"lists {what} twice")


def mapping(path: Path, key: str, raw: Any, allowed: set[str], expected: str = "a mapping") -> dict[str, Any]:
    """A mapping with only the `allowed` keys; `expected` says what it should hold."""
    if not isinstance(raw, dict):
        raise RecipeError(path, key, f"expected {expected}")
    no_unknown_keys(path, key, raw, allowed)
    return raw


def no_unknown_keys(path: Path, key: str, data: dict[str, Any], allowed: set[str]) -> None:
    for name in data:
        if name not in allowed:
            where = f"{key}.{name}" if key else str(name)
            raise RecipeError(path, where, "unknown key", hint=f"allowed here: {', '.join(sorted(allowed))}")


def integer(path: Path, key: str, raw: Any) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise RecipeError(path, key, f"expected a whole number, got {raw!r}")
    return raw


def boolean(path: Path, key: str, raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise RecipeError(path, key, "expected true or false")
    return raw


def choice(path: Path, key: str, raw: Any, allowed: tuple[str, ...], what: str = "", hint: str | None = None) -> str:
    """One of `allowed`; `what` names the kind of value in the error (default: the list)."""
    if raw not in allowed:
        raise RecipeError(path, key, f"{raw!r} is not {what or 'one of: ' + ', '.join(allowed)}", hint=hint)
    return str(raw)


def sha256(path: Path, key: str, raw: Any, hint: str | None = None) -> str:
    """A SHA-256 in hexadecimal, lower-cased."""
    value = text(path, key, raw, hint=hint)
    if not isinstance(raw, str):  # YAML reads an all-digit hash as a number
        raise RecipeError(path, key, f"{value!r} was read as a number", hint="quote it: sha256: '...'")
    if not _SHA256_RE.fullmatch(value):
        raise RecipeError(path, key, f"{value!r} is not a SHA-256 (64 hexadecimal digits)")
    return value.lower()


def has_scheme(value: str) -> bool:
    """Whether `value` is written as a URL (any scheme), not a file path."""
    return _SCHEME_RE.match(value) is not None


def url_or_file(path: Path, key: str, value: str, hint: str) -> str:
    """An http(s) URL as it is, or a file path made absolute against the directory of `path`."""
    if not has_scheme(value):
        return str((path.parent / value).resolve())
    if not URL_RE.fullmatch(value) or value.startswith("file:"):
        raise RecipeError(path, key, f"{value!r} is not an http(s):// URL", hint=hint)
    return value
