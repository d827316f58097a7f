"""`vmapp-build recipe`: plan, build and (with --verify) verify a recipe for each target, Linux or
Windows alike: one plan each (builder.plan), one pipeline (builder.pipeline). With --jobs, several
targets build at once, and the output is what a serial run prints."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click

from builder.azure.gallery import GallerySettings
from builder.cli.cache import cache_options
from builder.cli.gallery import gallery_settings_checked
from builder.cli.options import (
    PROXY_ENV,
    PROXY_HELP,
    engine_option,
    exit_with_failures,
    image_option,
    jobs_option,
    out_option,
    parse_size,
    proxy_option,
)
from builder.errors import VmappError

if TYPE_CHECKING:  # annotations only: the command line imports the pipeline when a command runs
    from docker import DockerClient

    from builder.cache import PackageCache
    from builder.engine import Pool
    from builder.lists import ListsLayers
    from builder.plan import Plan

Row = tuple[str, int, int, str]
Echo = Callable[[str, bool], None]  # a line, and whether it goes to stderr


@dataclass
class Outcome:
    """One target's build: its output lines (printed in the targets' order after), its row or its error."""

    live: bool = False  # a serial run prints each line as it comes
    lines: list[tuple[str, bool]] = field(default_factory=list)
    row: Row | None = None
    error: VmappError | None = None

    def echo(self, text: str, err: bool = False) -> None:
        if self.live:
            click.echo(text, err=err)
        else:
            self.lines.append((text, err))


@click.command("recipe")
@click.argument("recipe")
@click.option("--distro", "distros", multiple=True, required=True, help="Target release (repeatable), e.g. debian-12.")
@click.option("--arch", help="Build for this architecture (amd64, arm64; arm64 runs under qemu): debian-12/arm64.")
@out_option("Output root; files go to OUT/<app>/<version>/<distro>/.")
@click.option("--image", callback=image_option, help="Build in this image instead of the distro's default.")
@click.option(
    "--config", type=click.Path(path_type=Path, dir_okay=False), help="Configuration file ([images], [build])."
)
@click.option(
    "--max-package-size",
    "max_size",
    help="The largest package (at most Azure's 2G), e.g. 500M; a closure above it is split into parts.",
)
@click.option(
    "--baseline",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The target VM's package state (its /var/lib/dpkg/status, or `dpkg-query -W` output): "
    "bundle only what that VM lacks.",
)
@click.option("--full", is_flag=True, help="Bundle the whole closure, for VMs whose package state is unknown.")
@click.option(
    "--gallery",
    "gallery_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Gallery settings (YAML); else the recipe's `gallery:` key. Writes Azure definitions beside the package.",
)
@click.option("--verify", "then_verify", is_flag=True, help="Verify each package offline after building it.")
@click.option("--dry-run", is_flag=True, help="Print the plan and the command strings; build nothing.")
@click.option(
    "--locked",
    type=click.Path(path_type=Path),
    help="Rebuild exactly the versions of this lock.json (or build directory); fail if one is gone.",
)
@jobs_option("Targets built at once, each in its own container; the output is a serial run's.")
@engine_option
@cache_options()
@click.option("--proxy", envvar=PROXY_ENV, callback=proxy_option, help=PROXY_HELP)
def recipe_cmd(
    recipe: str,
    distros: tuple[str, ...],
    arch: str | None,
    out: Path,
    image: str | None,
    config: Path | None,
    max_size: str | None,
    baseline: Path | None,
    full: bool,
    gallery_file: Path | None,
    then_verify: bool,
    dry_run: bool,
    locked: Path | None,
    jobs: int,
    engine_names: tuple[str, ...],
    cache: PackageCache | None,
    lists: ListsLayers,
    proxy: str | None,
) -> None:
    """Build RECIPE (a shipped recipe's name or a YAML path) for each --distro."""
    from builder.backends.baseline import FULL, IMAGE, load_baseline
    from builder.distros import with_arch
    from builder.plan import make_plan
    from builder.recipe import load_recipe

    if baseline and full:
        raise click.UsageError("--baseline and --full exclude each other")
    state = load_baseline(baseline) if baseline else FULL if full else IMAGE
    loaded = load_recipe(recipe)
    gallery = gallery_settings_checked(loaded.path, loaded.raw, gallery_file)
    limit = parse_size(max_size) if max_size else None
    targets = [with_arch(d, arch) for d in distros]  # debian-12 with --arch arm64: debian-12/arm64
    plans = [make_plan(loaded, d, out, image, config, limit, state, proxy=proxy) for d in targets]
    if locked:
        plans = [_locked(plan, locked) for plan in plans]
    if dry_run:
        for plan in plans:
            _show(plan)
        return
    from builder.engine import engines

    pool = engines(engine_names)  # each pinged: a bad engine stops the run before any build
    outcomes = _build_all(plans, gallery, then_verify, pool, jobs, cache, lists)
    if len(plans) == 1 and outcomes[0].error is not None:
        raise outcomes[0].error  # one target: its error is the run's, as always
    if len(plans) > 1:
        _summary(plans, outcomes)


def _build_all(
    plans: list[Plan],
    gallery: GallerySettings | None,
    then_verify: bool,
    pool: Pool,
    jobs: int,
    cache: PackageCache | None,
    lists: ListsLayers,
) -> list[Outcome]:
    """Every plan built, `jobs` at a time, each on its engine in turn; each one's output printed in the
    plans' order as soon as it and those before it are done (serially: as each finishes)."""
    executor = ThreadPoolExecutor(max_workers=jobs)
    progress = len(plans) > 1 and jobs > 1  # else serial: each line printed as it comes
    futures: list[Future[Outcome]] = [
        executor.submit(_attempt, i, plan, gallery, then_verify, pool, progress, cache, lists)
        for i, plan in enumerate(plans)
    ]
    outcomes: list[Outcome] = []
    try:
        for future in futures:
            outcomes.append(future.result())
            for text, err in outcomes[-1].lines:
                click.echo(text, err=err)
    finally:  # an interruption does not wait for the other builds: their containers go with the process
        executor.shutdown(wait=len(outcomes) == len(plans), cancel_futures=True)
    return outcomes


def _attempt(
    index: int,
    plan: Plan,
    gallery: GallerySettings | None,
    then_verify: bool,
    pool: Pool,
    progress: bool,
    cache: PackageCache | None,
    lists: ListsLayers,
) -> Outcome:
    """One plan's build on its engine; a failure is its outcome, never the end of the others."""
    from builder.engine import engine_for
    from builder.interrupts import received
    from builder.plan import WindowsPlan

    outcome = Outcome(live=not progress)
    try:
        needs_image = then_verify or not isinstance(plan, WindowsPlan)  # Windows builds need no container
        client = engine_for(pool, index, plan.image if needs_image else None)
        outcome.row = _build(plan, gallery, then_verify, client, outcome.echo, cache, lists)
    except VmappError as exc:
        outcome.error = exc
    if progress and received() is None:  # stderr, as it happens: stdout stays the serial run's
        engine = pool.engine(index)
        where = f" on {engine.name}" if engine else ""
        status = "built" if outcome.error is None else f"failed (exit {outcome.error.exit_code})"
        click.echo(f"{plan.app} for {plan.distro.name}{where}: {status}", err=True)
    return outcome


def _summary(plans: list[Plan], outcomes: list[Outcome]) -> None:
    """The table of every target; failures named, and the run's exit code the highest failure's."""
    click.echo(f"\n{'distro':<14} {'packages':>8} {'bytes':>12}  file")
    for plan, outcome in zip(plans, outcomes, strict=True):
        if outcome.row is not None:
            row = outcome.row
            click.echo(f"{row[0]:<14} {row[1]:>8} {row[2]:>12}  {row[3]}")
        elif outcome.error is not None:
            click.echo(f"{plan.distro.name:<14} {'-':>8} {'-':>12}  failed (exit {outcome.error.exit_code})")
    failed = [(p, o.error) for p, o in zip(plans, outcomes, strict=True) if o.error is not None]
    for plan, error in failed:
        click.echo(f"error: {plan.distro.name}: {error}", err=True)
    exit_with_failures([error.exit_code for _, error in failed], len(plans))


def _locked(plan: Plan, path: Path) -> Plan:
    """The plan, pinned to the lock's versions (apt builds; the backend refuses another family)."""
    from dataclasses import replace

    from builder.errors import InputError
    from builder.lock import locked_packages, read_lock
    from builder.plan import BuildPlan

    if not isinstance(plan, BuildPlan) or plan.tarball:
        raise InputError(f"--locked rebuilds a package manager's closure, not a {plan.kind} payload")
    return replace(plan, locked=locked_packages(read_lock(path), plan.app, plan.distro.name, path))


def _show(plan: Plan) -> None:
    """A dry run: the plan and its strings, refused like a build for what the plan alone decides."""
    from builder.pipeline import preflight

    commands = preflight(plan)  # "not supported yet" and Azure's 4096 characters: a dry run owes them
    click.echo(plan.describe())
    for name, text in commands.as_dict().items():
        click.echo(f"--- {name} ({len(text)} characters) ---\n{text}")


def _build(
    plan: Plan,
    gallery: GallerySettings | None,
    then_verify: bool,
    client: DockerClient | None,
    echo: Echo,
    cache: PackageCache | None,
    lists: ListsLayers,
) -> Row:
    """Build (and verify) one plan on `client` (None: the default engine); its row of the summary table."""
    from builder.pipeline import build
    from builder.verify import verify

    result = build(plan, client, gallery=gallery, cache=cache, lists=lists)
    for warning in result.warnings:
        echo(f"warning: {warning}", True)
    sizes = result.document["sizes"]
    echo(f"built {result.package} ({sizes['package']} bytes, {sizes['files']} {plan.unit})", False)
    echo(f"manifest {result.manifest}", False)
    if then_verify:
        report = verify(plan.out_dir, client=client)  # what `vmapp-build verify BUILD --no-lifecycle` prints
        echo(report.summary(), False)
        for note in report.notes:
            echo(f"note: {note}", False)
    return plan.distro.name, sizes["files"], sizes["package"], str(result.package)
