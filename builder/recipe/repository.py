"""A recipe's extra repositories. Every field lands in an apt sources line or a .repo file (and the
name in file names), so each is checked here: no value can add a line, an option or a section."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from builder import fields
from builder.backends.repository import Repository
from builder.errors import RecipeError
from builder.fields import URL_RE

_REPO_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)
_SUITE_RE = re.compile(r"[A-Za-z0-9._~+/-]+", re.ASCII)
_WORD_RE = re.compile(r"[A-Za-z0-9._/-]+", re.ASCII)
_WORD_HINT = "letters, digits and . _ / -"
_REPO_KEYS = {"name", "url", "suite", "components", "architectures", "key"}


def parse_repositories(path: Path, key: str, raw: Any) -> tuple[Repository, ...]:
    """The list at `key`: each repository valid, and no two with one name (it names their files)."""
    items = fields.as_list(path, key, raw)
    repositories = tuple(_repository(path, f"{key}[{i}]", r) for i, r in enumerate(items))
    names = [r.name for r in repositories]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise RecipeError(
                path, f"{key}[{i}].name", f"{name!r} names two repositories", hint="give each repository its own name"
            )
    return repositories


def _repository(path: Path, key: str, raw: Any) -> Repository:
    expected = "a mapping with url, key and (for apt) suite and components"
    data = fields.mapping(path, key, raw, _REPO_KEYS, expected)
    url_hint = "no spaces, line breaks, quotes, commas or '#' (percent-encode them)"
    url = fields.matching(path, f"{key}.url", data.get("url"), URL_RE, url_hint, "is not an http(s):// or file:// URL")
    suite = ""
    if "suite" in data:
        suite = fields.matching(path, f"{key}.suite", data["suite"], _SUITE_RE, "letters, digits and . _ ~ + / -")
    components = tuple(fields.words(path, f"{key}.components", data.get("components") or [], _WORD_RE, _WORD_HINT))
    if suite and not suite.endswith("/") and not components:
        raise RecipeError(path, f"{key}.components", "required unless suite is a flat path ending in '/'")
    if suite.endswith("/") and components:
        raise RecipeError(path, f"{key}.components", "a flat repository (suite ending in '/') has no components")
    arches = tuple(fields.words(path, f"{key}.architectures", data.get("architectures") or [], _WORD_RE, _WORD_HINT))
    key_text = fields.text(path, f"{key}.key", data.get("key"), hint="the repository's signing key: a URL or a file")
    key_ref = fields.url_or_file(path, f"{key}.key", key_text, hint="or a file")
    default = re.sub(r"[^A-Za-z0-9]+", "-", url.split("://", 1)[1]).strip("-")[:64].strip("-") or "repository"
    name_hint = "1 to 64 letters, digits, '.', '_' and '-', starting with a letter or digit (it names files)"
    name = fields.matching(
        path, f"{key}.name", data.get("name", default), _REPO_NAME_RE, name_hint, "is not a repository name"
    )
    return Repository(name, url, suite, components, arches, key_ref)
