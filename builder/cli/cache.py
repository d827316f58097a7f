"""`vmapp-build cache info|prune`, and the cache options `recipe` and `rebuild` share."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from builder.cli.options import parse_size

if TYPE_CHECKING:  # annotations only: the command line imports the cache when a command runs
    import docker

    from builder.cache import PackageCache

CACHE_DIR_ENV = "VMAPP_BUILD_CACHE_DIR"
DEFAULT_MAX_SIZE = "10G"


def _size(ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        return parse_size(value)
    except click.BadParameter as exc:
        exc.param_hint = f"'--{param.name.replace('_', '-') if param.name else 'size'}'"
        raise


def _directory_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--cache-dir",
        type=click.Path(path_type=Path, file_okay=False),
        envvar=CACHE_DIR_ENV,
        help=f"The package cache (also {CACHE_DIR_ENV}); default: $XDG_CACHE_HOME/vmapp-build/packages.",
    )(f)


def _ttl(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    from builder.errors import InputError
    from builder.lists import parse_ttl

    if value is None:
        return None
    try:
        return parse_ttl(value, "--lists-ttl")
    except InputError as exc:
        raise click.BadParameter(f"{exc.message}: {exc.hint}", param_hint="'--lists-ttl'") from exc


def cache_options(lists_ttl: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--cache-dir, --cache-max-size and --no-cache, handed to the command as one `cache` argument; and
    --lists-ttl as `lists` (builder.lists). Its default is `lists_ttl`, else $VMAPP_BUILD_LISTS_TTL or an
    hour (a nightly rebuild says 0: it refreshes each image once per run)."""
    ttl_help = (
        "Start from the image's package lists refreshed by an earlier run up to this long ago "
        "(seconds, or 30m, 2h, 1d; 0: refresh once per run)"
        + ("" if lists_ttl else "; default $VMAPP_BUILD_LISTS_TTL, else 1h")
    )

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @_directory_option
        @click.option(
            "--cache-max-size",
            default=DEFAULT_MAX_SIZE,
            show_default=True,
            callback=_size,
            help="Evict the least recently used packages above this size after each build.",
        )
        @click.option("--no-cache", is_flag=True, help="Neither read nor fill the package cache.")
        @click.option("--lists-ttl", default=lists_ttl, show_default=bool(lists_ttl), callback=_ttl, help=ttl_help)
        @functools.wraps(command)
        def wrapper(
            *args: Any,
            cache_dir: Path | None,
            cache_max_size: int,
            no_cache: bool,
            lists_ttl: float | None,
            **kwargs: Any,
        ) -> Any:
            from builder.lists import ListsLayers

            cache = None if no_cache else open_cache(cache_dir, cache_max_size)
            return command(*args, cache=cache, lists=ListsLayers(lists_ttl), **kwargs)

        return wrapper

    return decorate


def open_cache(directory: Path | None, max_size: int) -> PackageCache:
    from builder.cache import PackageCache, default_directory

    return PackageCache(directory or default_directory(), max_size)


@click.group("cache")
def cache_group() -> None:
    """The package cache on the host, shared by every build (content addressed, LRU-bounded), and the
    package lists layers on the Docker engine (DOCKER_HOST, else the local socket)."""


@cache_group.command("info")
@_directory_option
def info_cmd(cache_dir: Path | None) -> None:
    """Where the cache is, what it holds, and the hits and misses of the builds that used it; and the
    lists layers: how many (with the replaced copies a build still used), their size (each layer's own,
    the top layer in `docker image history`: without its base image) and the oldest refresh."""
    from builder.cache import human

    info = open_cache(cache_dir, 0).info()
    stats = info.stats
    looked_up = stats["hits"] + stats["misses"]
    rate = f"{100 * stats['hits'] / looked_up:.1f}%" if looked_up else "-"
    rows = [
        ("directory", str(info.directory)),
        ("entries", str(info.entries)),
        ("size", f"{info.size} bytes ({human(info.size)})"),
        ("builds", str(stats["builds"])),
        ("hits", f"{stats['hits']} files, {stats['bytes_hit']} bytes ({human(stats['bytes_hit'])})"),
        ("misses", f"{stats['misses']} files, {stats['bytes_fetched']} bytes ({human(stats['bytes_fetched'])})"),
        ("hit rate", rate),
        ("bad blobs dropped", str(stats["bad"])),
        *_lists_rows(),
    ]
    for name, value in rows:
        click.echo(f"{name:<18} {value}")


def _lists_rows() -> list[tuple[str, str]]:
    import time

    from docker.errors import DockerException

    from builder.cache import human
    from builder.lists_prune import layers, own_size, repository

    repo = repository()
    try:
        client = _engine()
        found = layers(client, repo)
    except (_EngineGone, DockerException) as exc:
        return [("lists layers", f"- (not read: {exc})")]
    size = sum(own_size(layer) for layer in found)
    replaced = sum(layer.tag is None for layer in found)
    oldest = min((layer.refreshed for layer in found), default=None)
    when = "-"
    if oldest is not None:
        hours = (time.time() - oldest) / 3600
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(oldest)) + f" ({hours:.1f} h ago)"
    return [
        ("lists layers", f"{len(found)} in {repo} ({replaced} replaced copies)"),
        ("lists size", f"{size} bytes ({human(size)}), without their base images"),
        ("lists oldest", when),
    ]


class _EngineGone(Exception):
    """No engine to read the lists layers from: said in a row or a line, not a failure of the command."""


def _engine() -> docker.DockerClient:
    from docker.errors import DockerException

    from builder.engine import connect
    from builder.errors import EnvironmentProblem

    try:
        return connect()
    except (EnvironmentProblem, DockerException) as exc:
        raise _EngineGone(getattr(exc, "message", str(exc))) from exc


@cache_group.command("prune")
@_directory_option
@click.option(
    "--max-size",
    default=DEFAULT_MAX_SIZE,
    show_default=True,
    callback=_size,
    help="Evict the least recently used packages until the cache holds at most this (0 empties it).",
)
@click.option(
    "--lists-ttl",
    callback=_ttl,
    help="Remove the lists layers refreshed longer ago than this (seconds, or 30m, 2h, 1d; 0: every one); "
    "default $VMAPP_BUILD_LISTS_TTL, else 1h.",
)
def prune_cmd(cache_dir: Path | None, max_size: int, lists_ttl: float | None) -> None:
    """Evict the least recently used packages down to --max-size (and tidy what killed runs left); remove
    the lists layers past --lists-ttl and the replaced copies. A layer a container uses is kept."""
    from builder.cache import human
    from builder.lists import default_ttl
    from builder.lists_prune import repository

    # A bad TTL or repository is refused before anything is removed.
    older_than, repo = default_ttl() if lists_ttl is None else lists_ttl, repository()
    cache = open_cache(cache_dir, max_size)
    removed = cache.evict()
    info = cache.info()
    freed = sum(e.size for e in removed)
    click.echo(f"removed {len(removed)} packages ({human(freed)}); {info.entries} left ({human(info.size)})")
    _prune_lists(older_than, repo)


def _prune_lists(older_than: float, repo: str) -> None:
    from docker.errors import DockerException

    from builder.cache import human
    from builder.lists_prune import layers, prune

    try:
        client = _engine()
        pruned = prune(client, older_than, repo)
        left = len(layers(client, repo))
    except (_EngineGone, DockerException) as exc:
        click.echo(f"lists layers not pruned: {exc}", err=True)
        return
    for layer, reason in pruned.kept:
        click.echo(f"kept {layer.name}: {reason}", err=True)
    click.echo(
        f"removed {len(pruned.removed)} lists layers ({pruned.freed} bytes, {human(pruned.freed)}); "
        f"{len(pruned.kept)} in use kept; {left} left"
    )
