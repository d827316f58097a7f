"""What every backend does the same way for a recipe's extra repositories: read the signing key,
and turn a failed metadata refresh into an error that names the repository."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from builder.errors import BuildError, InputError

if TYPE_CHECKING:
    from builder.container import Result


@dataclass(frozen=True)
class Repository:
    """An extra repository. apt: `deb [signed-by=KEY arch=...] URL SUITE COMPONENTS`; the RPM
    families (no suite): URL is the baseurl of a yum/dnf/zypper repository."""

    name: str
    url: str
    suite: str  # empty for an RPM repository
    components: tuple[str, ...] = ()
    architectures: tuple[str, ...] = ()
    key: str = ""  # a URL, or a path resolved against the recipe's directory


def read_key(repo: Repository) -> bytes:
    """The repository's signing key, from a URL (fetched by the builder) or a file next to the recipe."""
    try:
        if re.match(r"^https?://", repo.key):
            with urllib.request.urlopen(repo.key, timeout=60) as response:
                data: bytes = response.read()
        else:
            data = Path(repo.key).read_bytes()
    except (OSError, urllib.error.URLError) as exc:
        raise InputError(f"repository {repo.name}: cannot read signing key {repo.key}: {exc}") from exc
    if not data:
        raise InputError(f"repository {repo.name}: signing key {repo.key} is empty")
    return data


def check_refresh(
    repositories: Sequence[Repository], result: Result, failure: re.Pattern[str], what: str, where: str
) -> None:
    """Raise when a refresh failed or printed a repository failure, naming the repositories involved."""
    failures = failure.findall(result.output)
    if result.exit_code == 0 and not failures:
        return
    detail = "\n".join(failures) or result.output.strip()[-2000:]
    names = [r.name for r in repositories if r.name in detail or r.url.rstrip("/") in detail]
    which = f"repository {', '.join(names)}" if names else "a package repository"
    raise BuildError(
        f"refreshing the {what} {where} failed for {which}:\n{detail}",
        hint="check the repository's URL (the directory holding repodata/) and signing key, "
        "and that the builder reaches it",
    )
