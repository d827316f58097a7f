"""Package signatures on the RPM families: every downloaded package is checked with the image's own
`rpmkeys` against the key of the repository it came from, before anything is bundled.

Why the build checks, and not only the package manager: yum 3 does not check a `--downloadonly`
closure; libzypp with signed metadata checks `repomd.xml` but not the packages (unless
`pkg_gpgcheck`); `rpmkeys --checksig` passes an unsigned package ("digests OK") unless signatures are
required; and all of them trust every key in the rpm database, so a package in one repository signed
with another repository's key passes. The VM installs the bundle with checks off (it is a local copy
of what was checked here), so this is where a package's origin is proven.

The rules: a package from a recipe repository must be signed with that repository's key (checked in
a keyring holding that key only). A package from one of the image's own repositories must be signed
with a key in the image's rpm database, unless the package manager reports that the repository does
not check signatures (gpgcheck off: its owner chose unsigned packages, and dnf, yum and zypper would
install them too); then only its digests are checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from builder.backends.repository import Repository
from builder.backends.rpm_parse import SIGNATURE_QUERY, SignatureRow, parse_signature_rows
from builder.backends.rpm_steps import run_together
from builder.backends.rpmdb import key_path
from builder.container import Container
from builder.errors import BuildError, CommandFailed

KEYRINGS = "/var/lib/vmapp-build/keyrings"  # one rpm root per recipe repository, holding its key only
IMAGE_KEYRING = "/"

# For each file: its signature headers, then rpmkeys' verdict, one tab-separated line per package.
_CHECK_SCRIPT = (
    'root=$1; mode=$2; shift 2; for f in "$@"; do'
    ' sig=$(rpm -qp --nosignature --nodigest --qf "$SIGQ" "$f" 2>/dev/null);'
    ' if [ "$mode" = signature ]; then'
    '  out=$(rpmkeys --root "$root" --define \'_pkgverify_level signature\' -Kv "$f" 2>&1); rc=$?;'
    ' else out=$(rpmkeys --root "$root" --nosignature -Kv "$f" 2>&1); rc=$?; fi;'
    ' printf \'%s\\t%s\\t%s\\t%s\\n\' "$f" "$rc" "$sig" "$(printf \'%s\' "$out" | tr \'\\t\\n\' \'  \')";'
    " done"
)


@dataclass(frozen=True)
class Source:
    """A repository packages can come from, and how its packages are checked."""

    repository: str
    keyring: str  # the rpm root whose keys are trusted for it
    required: bool  # a signature is required (else digests only)
    recipe: bool  # a recipe repository (its own key) rather than one of the image's
    known: bool = True  # whether the package manager said if it checks signatures


class SignatureError(BuildError):
    """Packages the build will not bundle because of their signatures."""

    def __init__(self, where: str, problems: list[str]) -> None:
        super().__init__(
            f"package signature check failed {where}; refusing to bundle:\n  " + "\n  ".join(problems),
            hint="a package from a repository with a key must be signed with that key: check the repository's "
            "key in the recipe (linux.repositories[].key), or have the repository's owner sign the package",
        )
        self.problems = problems


def check_closure(
    container: Container,
    directory: str,
    repositories: Sequence[Repository],
    where: str,
    origins: dict[str, list[str]],
    image_checks: dict[str, bool],
) -> None:
    """Check each .rpm in `directory` against the repositories it may have come from (origins: file
    name -> repository ids; image_checks: the image's repositories -> whether they check signatures).
    A package passes when one of its repositories' rules accepts it; otherwise nothing is bundled and
    the error names each refused package, its repository, the distro and the reason."""
    recipe, files = _keyrings_and_files(container, repositories, directory)
    sources = {
        name: [recipe.get(repo) or image_source(repo, image_checks) for repo in repos]
        for name, repos in origins.items()
    }
    problems = refusals(container, directory, sources, files)
    if problems:
        raise SignatureError(where, problems)


def recipe_keyrings(container: Container, repositories: Sequence[Repository]) -> dict[str, Source]:
    """For each recipe repository, an rpm root whose database holds its key and no other."""
    return _keyrings_and_files(container, repositories, None)[0]


def _keyrings_and_files(
    container: Container, repositories: Sequence[Repository], directory: str | None
) -> tuple[dict[str, Source], list[str]]:
    """recipe_keyrings, and the .rpm files in `directory` (when given), made and listed at once."""
    script = 'rm -rf "$1" && mkdir -p "$1" && rpm --root "$1" --initdb && rpmkeys --root "$1" --import "$2"'
    steps = [
        (["sh", "-c", script, "sh", f"{KEYRINGS}/{index}", key_path(repo)], f"keyring of repository {repo.name}")
        for index, repo in enumerate(repositories)
    ]
    listing = 'cd "$1" && for f in *.rpm; do if [ -e "$f" ]; then printf "%s\\n" "$f"; fi; done'
    if directory is not None:
        steps.append((["sh", "-c", listing, "sh", directory], "list downloaded packages"))
    results = run_together(container, steps)
    for (argv, context), result in zip(steps, results, strict=True):
        if result.exit_code != 0:
            hint = "the key must be an armored or binary OpenPGP public key" if context.startswith("keyring") else None
            raise CommandFailed(argv, result.exit_code, result.output, context, hint)
    sources = {
        repo.name: Source(repo.name, f"{KEYRINGS}/{index}", required=True, recipe=True)
        for index, repo in enumerate(repositories)
    }
    files = sorted(line for line in results[-1].stdout.splitlines() if line) if directory is not None else []
    return sources, files


def image_source(repository: str, checks: dict[str, bool]) -> Source:
    """One of the image's repositories: signed by a key the image trusts, unless it checks nothing.
    A repository the package manager did not report on is taken as checking (the safe side)."""
    known = repository in checks
    return Source(repository, IMAGE_KEYRING, required=checks.get(repository, True), recipe=False, known=known)


def refusals(
    container: Container, directory: str, origins: dict[str, list[Source]], files: list[str] | None = None
) -> list[str]:
    """Each .rpm in `directory` (`files`: listed already) that none of its sources accepts, with the
    reasons (a file with no known source is held to the image's keys)."""
    files = _list_rpms(container, directory) if files is None else files
    candidates = {f: origins.get(f) or [image_source("(unknown)", {})] for f in files}
    by_source: dict[Source, list[str]] = {}
    for name, sources in candidates.items():
        for source in sources:
            by_source.setdefault(source, []).append(name)
    verdicts: dict[tuple[str, Source], SignatureRow] = {}
    for source, names in by_source.items():
        for row in _run_check(container, directory, source, names):
            verdicts[(row.file, source)] = row
    problems = []
    for name, sources in sorted(candidates.items()):
        reasons = [_reason(verdicts.get((name, s)), s) for s in sources]
        if all(reasons):
            where = " or ".join(s.repository for s in sources)
            label = name.removesuffix(".rpm")  # the file is NEVRA.rpm: say it as the package managers do
            problems.append(f"{label} from repository {where}: " + "; ".join(reasons))
    return problems


def _list_rpms(container: Container, directory: str) -> list[str]:
    script = 'cd "$1" && for f in *.rpm; do if [ -e "$f" ]; then printf "%s\\n" "$f"; fi; done'
    out = container.run(["sh", "-c", script, "sh", directory], "list downloaded packages").stdout
    return sorted(line for line in out.splitlines() if line)


def _run_check(container: Container, directory: str, source: Source, names: list[str]) -> list[SignatureRow]:
    mode = "signature" if source.required else "digest"
    argv = ["env", f"SIGQ={SIGNATURE_QUERY}", "sh", "-c", _CHECK_SCRIPT, "sh", source.keyring, mode, *names]
    out = container.run(argv, f"check package signatures ({source.repository})", workdir=directory).stdout
    return parse_signature_rows(out)


def _reason(row: SignatureRow | None, source: Source) -> str:
    """Why `source`'s rule refuses the package; empty when it accepts it."""
    if row is None:
        return "rpmkeys gave no verdict"
    if row.exit_code == 0 and (row.key_ids or not source.required):
        return ""
    if source.required and not row.key_ids:
        if not source.known:
            return (
                "not signed, and the package manager could not say whether this repository goes without "
                "signatures (dnf asks `dnf config-manager`, from dnf-plugins-core; yum 3 `yum-config-manager`, "
                "from yum-utils), so a signature is required"
            )
        return "not signed, and the repository " + ("has a key" if source.recipe else "checks signatures")
    if "NOKEY" in row.detail:
        whose = f"repository {source.repository}'s key" if source.recipe else "a key the image trusts"
        return f"signed with key ID {', '.join(row.key_ids)}, which is not {whose}"
    if "BAD" in row.detail:
        return "its signature or digest does not verify (BAD): the file is corrupt or was altered"
    return f"rpmkeys says: {row.detail.strip() or 'NOT OK'}"
