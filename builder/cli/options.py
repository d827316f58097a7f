"""Options more than one command takes."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from builder.distros import IMAGE_HINT, IMAGE_RE

SIZE_RE = re.compile(r"([0-9]+)([KMG]?)", re.IGNORECASE | re.ASCII)


def parse_size(value: str) -> int:
    match = SIZE_RE.fullmatch(value.strip())
    if not match:
        raise click.BadParameter(
            f"{value!r}: expected bytes, or a number with K, M or G (ASCII digits)", param_hint="'--max-package-size'"
        )
    power = " KMG".index((match[2] or " ").upper())
    return int(match[1]) * int(1024**power)


def image_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not IMAGE_RE.fullmatch(value):
        raise click.BadParameter(f"{value!r} is not an image reference, {IMAGE_HINT}")
    return value


F = TypeVar("F", bound=Callable[..., Any])


def jobs_option(help_text: str) -> Callable[[F], F]:
    return click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, help=help_text)


def exit_with_failures(codes: list[int], total: int) -> None:
    """A run of several targets or entries: when some failed (their exit codes), say how many and exit
    with the highest code (2 input, 3 build, 4 verify, 5 environment)."""
    if codes:
        code = max(codes)
        click.echo(f"error: {len(codes)} of {total} failed (exit {code}: the highest failure's code)", err=True)
        raise click.exceptions.Exit(code)


def out_option(help_text: str) -> Callable[[F], F]:
    """--out, the output root (dist/ by default), for every command that writes or reads builds."""
    return click.option(
        "--out", type=click.Path(path_type=Path), default=Path("dist"), show_default=True, help=help_text
    )


def engine_option(command: F) -> F:
    """--engine, repeatable: the Docker engines builds are spread over, in turn (builder.engine)."""
    return click.option(
        "--engine",
        "engine_names",
        multiple=True,
        metavar="URL|CONTEXT",
        help="Build on this Docker engine (repeatable: builds go to each in turn): tcp://HOST:2375, "
        "ssh://USER@HOST, unix:///PATH, or a docker context's name. Default: DOCKER_HOST, else the local socket.",
    )(command)


PROXY_ENV = "VMAPP_BUILD_PROXY"
ENV = ParameterSource.ENVIRONMENT


def proxy_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--proxy (or $VMAPP_BUILD_PROXY), checked before anything runs: http://HOST[:PORT]."""
    from builder.errors import InputError
    from builder.proxy import check_proxy

    if value is None:
        return None
    try:
        return check_proxy(value, "--proxy" if ctx.get_parameter_source(param.name or "") != ENV else PROXY_ENV)
    except InputError as exc:
        raise click.UsageError(str(exc)) from exc  # the message names the option or the variable


PROXY_HELP = (
    "Fetch through this caching proxy (apt-cacher-ng, `make cache-proxy`), http://HOST[:PORT]; "
    f"also ${PROXY_ENV} or `[build] proxy` in vmapp-build.toml. http repositories are cached, https ones tunnelled."
)
