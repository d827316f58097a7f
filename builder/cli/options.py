"""Options more than one command takes."""

from __future__ import annotations

import re

import click

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
