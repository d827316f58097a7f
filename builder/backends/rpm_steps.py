"""Fewer container steps for the RPM families (each exec and copy costs a round trip to the engine, and
each dnf or zypper process loads its repositories again): the recipe's repositories go in with one
copy; a build's refresh runs, in the same batch (builder.backends.batch), the key import before it and
what the build's stages will run after it (Ahead); queries that do not depend on each other run at
the same time."""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from docker.errors import DockerException

from builder.backends.batch import Command, run_batch
from builder.backends.repository import Repository, check_refresh, read_key
from builder.backends.rpmdb import key_path, repo_file
from builder.container import Container, Result
from builder.errors import BuildError, CommandFailed

# Import each key given; on failure, name the one that failed (stderr's last line) and stop.
_IMPORT = 'for k in "$@"; do rpm --import "$k" || { printf "\\n%s\\n" "$k" >&2; exit 1; }; done'


def put_repositories(
    container: Container, repositories: Sequence[Repository], repos_dir: str, settings: dict[str, str]
) -> None:
    """Each recipe repository's key (in /etc/pki/rpm-gpg) and its .repo file in `repos_dir`, with the
    family's settings, copied in; import_argv imports the keys into rpm's database (dnf, yum and libzypp
    trust those)."""
    files = {}
    for repo in repositories:
        key = key_path(repo)
        files[key] = read_key(repo)
        files[f"{repos_dir}/vmapp-{repo.name}.repo"] = repo_file(repo, key, settings)
    if files:
        _put(container, files)


def import_argv(repositories: Sequence[Repository]) -> list[str]:
    return ["sh", "-c", _IMPORT, "sh", *(key_path(repo) for repo in repositories)]


def check_import(container: Container, repositories: Sequence[Repository], result: Result) -> None:
    """Raise when import_argv failed, naming the key that failed (stderr's last line)."""
    if result.exit_code == 0:
        return
    failed = result.stderr.strip().rsplit("\n", 1)[-1]
    repo = next((r for r in repositories if key_path(r) == failed), repositories[0])
    container.run(
        ["rpm", "--import", key_path(repo)],  # again alone: its error as CommandFailed, with the hint
        f"import the signing key of repository {repo.name} ({repo.key})",
        hint="the key must be an armored or binary OpenPGP public key",
    )
    raise BuildError(f"importing the signing key of repository {repo.name} failed:\n{result.output.strip()}")


def _put(container: Container, files: dict[str, bytes]) -> None:
    """The files (absolute paths) in one archive; the engine makes their directories."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, content in files.items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(content), 0o644
            tar.addfile(info, io.BytesIO(content))
    try:
        ok = container.handle.put_archive("/", buf.getvalue())
    except (DockerException, OSError) as exc:
        raise BuildError(f"copying the repositories' files into {container.name} failed: {exc}") from exc
    if not ok:
        raise BuildError(f"copying the repositories' files into {container.name} failed: the engine refused it")


def run_together(container: Container, steps: Sequence[tuple[list[str], str]]) -> list[Result]:
    """Run each (argv, context) at once, unchecked, in the same container; the results in order. For
    read-only queries only (the package manager's cache is already made)."""
    with ThreadPoolExecutor(max_workers=max(1, len(steps))) as pool:
        futures = [pool.submit(container.run, argv, context, False) for argv, context in steps]
        return [f.result() for f in futures]


class Ahead:
    """What a build's refresh runs ahead, in its own batch, of the stages that would run it: told by
    the build (will_build: the download, or with a package cache to feed the resolve), so `rebuild`,
    which only resolves, runs nothing more. A stage takes a result once, and only for the same argv."""

    def __init__(self) -> None:
        self.wanted = ""  # "", "download" or "resolve"
        self._results: dict[str, Result] = {}

    def refresh(
        self,
        container: Container,
        repositories: Sequence[Repository],
        refresh: Command,
        early: list[Command],
        failure: re.Pattern[str],
        what: str,
        where: str,
    ) -> None:
        """The recipe's keys into rpm's database, the refresh, and `early`: one exec."""
        imports = [Command(import_argv(repositories), "import the signing keys", gate=True)] if repositories else []
        results = run_batch(container, [*imports, refresh, *early])
        if repositories:
            check_import(container, repositories, results.pop(0))
        check_refresh(repositories, results[0], failure, what, where)
        self._results = {command.context: result for command, result in zip(early, results[1:], strict=True)}

    def run_ahead(self, container: Container, commands: list[Command]) -> None:
        """Run the commands as one batch now, their results kept for the stages that take them."""
        results = run_batch(container, commands)
        self._results |= {command.context: result for command, result in zip(commands, results, strict=False)}

    def take(self, context: str, argv: list[str]) -> Result | None:
        """The refresh's result of this command, once (None: not run, or not with this argv)."""
        result = self._results.pop(context, None)
        return result if result is not None and result.argv == argv else None

    def run(self, container: Container, argv: list[str], context: str) -> Result:
        """The refresh's result of this command, else the command run now (unchecked)."""
        return self.take(context, argv) or run_batch(container, [Command(argv, context)])[0]

    def checked(self, container: Container, argv: list[str], context: str) -> Result:
        """As run, raising CommandFailed when it failed."""
        result = self.run(container, argv, context)
        if result.exit_code != 0:
            raise CommandFailed(argv, result.exit_code, result.output, context)
        return result
