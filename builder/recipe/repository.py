"""A recipe's extra repositories. Every field lands in an apt sources line or a .repo file (and the
name in file names), so each is checked here: no value can add a line, an option or a section."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from builder.backends.repository import Repository
from builder.errors import RecipeError
from builder.yamlfile import as_list, no_unknown_keys, text_value

# Nothing that ends the line, the field or the [section], opens an apt [option] block, starts a
# comment, or separates two baseurls (dnf splits them on spaces and commas).
URL_RE = re.compile(r"(https?|file)://[A-Za-z0-9._~:/?&=%+@!$*\[\]-]+", re.ASCII)
_REPO_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)
_SUITE_RE = re.compile(r"[A-Za-z0-9._~+/-]+", re.ASCII)
_WORD_RE = re.compile(r"[A-Za-z0-9._/-]+", re.ASCII)
_REPO_KEYS = {"name", "url", "suite", "components", "architectures", "key"}


def parse_repositories(path: Path, key: str, raw: Any) -> tuple[Repository, ...]:
    """The list at `key`: each repository valid, and no two with one name (it names their files)."""
    repositories = tuple(_repository(path, f"{key}[{i}]", r) for i, r in enumerate(as_list(path, key, raw)))
    return _unique_names(path, key, repositories)


def _repository(path: Path, key: str, data: Any) -> Repository:
    """One extra repository. Every field lands in an apt sources line or a .repo file (and its
    name in file names): each is checked here, so no value can add a line, an option or a section."""
    if not isinstance(data, dict):
        raise RecipeError(path, key, "expected a mapping with url, key and (for apt) suite and components")
    no_unknown_keys(path, key, data, _REPO_KEYS)
    url = text_value(path, f"{key}.url", data.get("url"))
    if not URL_RE.fullmatch(url):
        raise RecipeError(
            path,
            f"{key}.url",
            f"{url!r} is not an http(s):// or file:// URL",
            hint="no spaces, line breaks, quotes, commas or '#' (percent-encode them)",
        )
    suite = _matching(path, f"{key}.suite", data["suite"], _SUITE_RE) if "suite" in data else ""
    components = tuple(_words(path, f"{key}.components", data.get("components") or []))
    if suite and not suite.endswith("/") and not components:
        raise RecipeError(path, f"{key}.components", "required unless suite is a flat path ending in '/'")
    if suite.endswith("/") and components:
        raise RecipeError(path, f"{key}.components", "a flat repository (suite ending in '/') has no components")
    arches = tuple(_words(path, f"{key}.architectures", data.get("architectures") or []))
    key_ref = text_value(path, f"{key}.key", data.get("key"), hint="the repository's signing key: a URL or a file")
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", key_ref):
        if not URL_RE.fullmatch(key_ref) or key_ref.startswith("file:"):
            raise RecipeError(path, f"{key}.key", f"{key_ref!r} is not an http(s):// URL", hint="or a file")
    else:
        key_ref = str((path.parent / key_ref).resolve())
    default = re.sub(r"[^A-Za-z0-9]+", "-", url.split("://", 1)[1]).strip("-")[:64].strip("-") or "repository"
    name = text_value(path, f"{key}.name", data.get("name", default))
    if not _REPO_NAME_RE.fullmatch(name):
        raise RecipeError(
            path,
            f"{key}.name",
            f"{name!r} is not a repository name",
            hint="1 to 64 letters, digits, '.', '_' and '-', starting with a letter or digit (it names files)",
        )
    return Repository(name, url, suite, components, arches, key_ref)


def _unique_names(path: Path, key: str, repositories: tuple[Repository, ...]) -> tuple[Repository, ...]:
    names = [r.name for r in repositories]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise RecipeError(
                path, f"{key}[{i}].name", f"{name!r} names two repositories", hint="give each repository its own name"
            )
    return repositories


def _matching(path: Path, key: str, raw: Any, pattern: re.Pattern[str]) -> str:
    text = text_value(path, key, raw)
    if not pattern.fullmatch(text):
        raise RecipeError(path, key, f"{text!r} is not a plain word", hint="letters, digits and . _ ~ + / -")
    return text


def _words(path: Path, key: str, raw: Any) -> list[str]:
    items = as_list(path, key, raw)
    for i, item in enumerate(items):
        if not isinstance(item, str) or not _WORD_RE.fullmatch(item):
            raise RecipeError(path, f"{key}[{i}]", f"{item!r} is not a plain word", hint="letters, digits and . _ / -")
    return items
