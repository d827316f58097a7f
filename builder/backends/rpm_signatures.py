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
from builder.backends.rpmdb import QUERY_FILES, key_path
from builder.container import Container, Result
from builder.errors import BuildError, CommandFailed

ROUTED = "check package signatures where they point"  # routed_argv's context, in the download's batch
KEYRINGS = "/var/lib/vmapp-build/keyrings"  # one rpm root per recipe repository, holding its key only
IMAGE_KEYRING = "/"

# One exec for the whole check. Arguments: the directory, the number of keyrings, each keyring as
# ROOT KEY (an rpm root holding that key file's keys only), then checks as ROOT MODE FILE, or the word
# `route`. It prints each .rpm in the directory with its signature headers (`S<TAB>file<TAB>
# SIGNATURE_QUERY`, which is also the listing), then per check `C<TAB>root<TAB>mode<TAB>file<TAB>rc<TAB>
# rpmkeys' verdict`. A keyring that cannot be made: exit 3, its key's path on stderr's last line.
# `route` checks each file where its signature's key ID points: against each keyring holding that key
# (a key file may hold several), else the image's keys (signature mode when signed, digests when not).
# It runs in the download's batch, before the origins are known; the caller takes the verdicts its rules
# need from it and checks anything else again (a file signed with another repository's key, say).
# The checks of one keyring and mode are one rpmkeys for up to 200 files: it fails when any file fails
# (its exit code counts them, and 200 stays clear of an 8-bit wrap), and then each file is checked alone
# for its own verdict. The signature headers are one rpm query (query_files). A key import makes its
# root's database (rpm 4.18); an rpm that wants --initdb first gets it.
_CHECK_SCRIPT = (
    QUERY_FILES
    + r"""
d=$1; n=$2; shift 2
keyids=
while [ "$n" -gt 0 ]; do
  { rm -rf "$1" && mkdir -p "$1" && { rpmkeys --root "$1" --import "$2" 2>/dev/null \
    || { rm -rf "$1" && mkdir -p "$1" && rpm --root "$1" --initdb && rpmkeys --root "$1" --import "$2"; }; }; } \
    || { printf '\n%s\n' "$2" >&2; exit 3; }
  for id in $(rpm --root "$1" -q gpg-pubkey --qf '%{VERSION}\n' 2>/dev/null); do keyids="$keyids $1:$id"; done
  shift 2; n=$((n - 1))
done
cd "$d" || exit 1
t=$(mktemp -d) || exit 1
trap 'rm -rf "$t"' EXIT
tab=$(printf '\t')
query_files "$SIGQ" >"$t/sigs" || exit 1
while IFS= read -r line; do printf 'S\t%s\n' "$line"; done <"$t/sigs"
keys() {
  r=$1; m=$2; shift 2
  if [ "$m" = signature ]; then
    rpmkeys --root "$r" --define '_pkgverify_level signature' -Kv "$@"
  else
    rpmkeys --root "$r" --nosignature -Kv "$@"
  fi
}
verify() {
  r=$1; m=$2; shift 2
  if keys "$r" "$m" "$@" >/dev/null 2>&1; then
    for f; do printf 'C\t%s\t%s\t%s\t0\t%s\n' "$r" "$m" "${f#./}" "OK (checked with $# files)"; done
    return
  fi
  for f; do
    out=$(keys "$r" "$m" "$f" 2>&1); rc=$?
    printf 'C\t%s\t%s\t%s\t%s\t%s\n' "$r" "$m" "${f#./}" "$rc" "$(printf '%s' "$out" | tr '\t\n' '  ')"
  done
}
# $t/todo holds ROOT<TAB>MODE<TAB>FILE; each keyring and mode is checked in one go
if [ "$1" = route ]; then
  while IFS="$tab" read -r f s; do
    routed=
    for pair in $keyids; do
      case $s in *"Key ID "*"${pair#*:}"*) printf '%s\tsignature\t%s\n' "${pair%:*}" "$f"; routed=1 ;; esac
    done
    if [ -z "$routed" ]; then
      case $s in *"Key ID "*) printf '/\tsignature\t%s\n' "$f" ;; *) printf '/\tdigest\t%s\n' "$f" ;; esac
    fi
  done <"$t/sigs" >"$t/todo"
else
  while [ $# -ge 3 ]; do printf '%s\t%s\t%s\n' "$1" "$2" "$3"; shift 3; done >"$t/todo"
fi
groups=
while IFS="$tab" read -r r m f; do
  case $groups in *"|$r $m|"*) continue ;; esac
  groups="$groups|$r $m|"
  set --
  while IFS="$tab" read -r gr gm gf; do
    [ "$gr" = "$r" ] && [ "$gm" = "$m" ] || continue
    set -- "$@" "./$gf"
    if [ $# -ge 200 ]; then verify "$r" "$m" "$@" </dev/null; set --; fi
  done <"$t/todo"
  if [ $# -gt 0 ]; then verify "$r" "$m" "$@" </dev/null; fi
done <"$t/todo"
"""
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
    routed: Result | None = None,
) -> None:
    """Check each .rpm in `directory` against the repositories it may have come from (origins: file
    name -> repository ids; image_checks: the image's repositories -> whether they check signatures).
    A package passes when one of its repositories' rules accepts it; otherwise nothing is bundled and
    the error names each refused package, its repository, the distro and the reason. `routed`:
    routed_argv's result, run before (in the download's batch): the verdicts it has are not asked again."""
    recipe = recipe_keyrings(repositories)
    sources = {
        name: [recipe.get(repo) or image_source(repo, image_checks) for repo in repos]
        for name, repos in origins.items()
    }
    problems = refusals(container, directory, sources, repositories, routed)
    if problems:
        raise SignatureError(where, problems)


def keyrings(repositories: Sequence[Repository]) -> list[tuple[str, str]]:
    """(rpm root, key path) of each recipe repository's keyring, for the check to make."""
    recipe = recipe_keyrings(repositories)
    return [(recipe[repo.name].keyring, key_path(repo)) for repo in repositories]


def routed_argv(directory: str, repositories: Sequence[Repository]) -> list[str]:
    """The check of every file in `directory` where its signature points (_CHECK_SCRIPT's `route`)."""
    return _argv(directory, keyrings(repositories), ["route"])


def _argv(directory: str, keyrings: Sequence[tuple[str, str]], checks: list[str]) -> list[str]:
    args = [directory, str(len(keyrings)), *(a for pair in keyrings for a in pair), *checks]
    return ["env", f"SIGQ={SIGNATURE_QUERY}", "sh", "-c", _CHECK_SCRIPT, "sh", *args]


def recipe_keyrings(repositories: Sequence[Repository]) -> dict[str, Source]:
    """For each recipe repository, the rpm root whose database is to hold its key and no other (the
    check makes it)."""
    return {
        repo.name: Source(repo.name, f"{KEYRINGS}/{index}", required=True, recipe=True)
        for index, repo in enumerate(repositories)
    }


def image_source(repository: str, checks: dict[str, bool]) -> Source:
    """One of the image's repositories: signed by a key the image trusts, unless it checks nothing.
    A repository the package manager did not report on is taken as checking (the safe side)."""
    known = repository in checks
    return Source(repository, IMAGE_KEYRING, required=checks.get(repository, True), recipe=False, known=known)


def refusals(
    container: Container,
    directory: str,
    origins: dict[str, list[Source]],
    repositories: Sequence[Repository] = (),
    routed: Result | None = None,
) -> list[str]:
    """Each .rpm in `directory` that none of its sources accepts, with the reasons (a file with no
    known source is held to the image's keys). The keyrings of the recipe's `repositories`, the listing
    and the checks of every file known are one exec (none, when `routed` answered them all); files the
    listing shows and `origins` did not name take another."""
    unknown = [image_source("(unknown)", {})]
    checked = _parse(routed) if routed is not None and routed.exit_code == 0 else None
    if checked is None:
        checked = _check(container, directory, origins, repositories)
    needed = {f: origins.get(f) or unknown for f in checked.files}
    missing = {
        f: [s for s in sources if (f, s.keyring, _mode(s)) not in checked.verdicts] for f, sources in needed.items()
    }
    missing = {f: sources for f, sources in missing.items() if sources}
    if missing:
        checked.verdicts.update(_check(container, directory, missing, repositories).verdicts)
    problems = []
    for name, sources in needed.items():
        reasons = [_reason(checked.verdicts.get((name, s.keyring, _mode(s))), s) for s in sources]
        if all(reasons):
            where = " or ".join(s.repository for s in sources)
            label = name.removesuffix(".rpm")  # the file is NEVRA.rpm: say it as the package managers do
            problems.append(f"{label} from repository {where}: " + "; ".join(reasons))
    return problems


@dataclass
class _Checked:
    files: list[str]  # every .rpm in the directory, sorted
    verdicts: dict[tuple[str, str, str], SignatureRow]  # (file, keyring, mode) -> rpmkeys' verdict


def _mode(source: Source) -> str:
    return "signature" if source.required else "digest"


def _check(
    container: Container,
    directory: str,
    origins: dict[str, list[Source]],
    repositories: Sequence[Repository] = (),
) -> _Checked:
    checks = sorted({(s.keyring, _mode(s), name) for name, sources in origins.items() for s in sources})
    argv = _argv(directory, keyrings(repositories), [a for c in checks for a in c])
    result = container.run(argv, "check package signatures", check=False)
    if result.exit_code == 3:  # a keyring: name the repository whose key it is
        failed = result.stderr.strip().rsplit("\n", 1)[-1]
        repo = next((r for r in repositories if key_path(r) == failed), None)
        context = f"keyring of repository {repo.name}" if repo else "make a keyring"
        hint = "the key must be an armored or binary OpenPGP public key"
        raise CommandFailed(argv, result.exit_code, result.output, context, hint)
    if result.exit_code != 0:
        raise CommandFailed(argv, result.exit_code, result.output, "check package signatures")
    return _parse(result)


def _parse(result: Result) -> _Checked:
    files, signatures, checks = [], {}, []
    for line in result.stdout.splitlines():
        kind, _, rest = line.partition("\t")
        if kind == "S":
            file, _, signature = rest.partition("\t")
            files.append(file)
            signatures[file] = signature
        elif kind == "C":
            checks.append(rest.split("\t", 4))
    verdicts = {}
    for keyring, mode, file, code, detail in (c for c in checks if len(c) == 5):
        for parsed in parse_signature_rows(f"{file}\t{code}\t{signatures.get(file, '')}\t{detail}"):
            verdicts[(parsed.file, keyring, mode)] = parsed
    return _Checked(sorted(files), verdicts)


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
