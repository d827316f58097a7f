"""`vmapp-build distros` and `vmapp-build image`: the target table and the base images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from builder.distros import DISTROS, for_arch, get_distro, resolve_image, with_arch


@click.command("distros")
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), help="Configuration file ([images]).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def distros_cmd(config: Path | None, as_json: bool) -> None:
    """List the target releases, their package family and image."""
    from builder.plan import supported

    rows: list[dict[str, Any]] = [
        {
            "name": d.name,
            "family": d.family,
            "image": resolve_image(d, None, config),
            "supported": supported(d),
            "arches": list(d.arches),
            # The image of each other architecture (`debian-12/arm64`): where its builds run.
            "images": {a: resolve_image(for_arch(d, a), None, config) for a in d.arches if a != d.arch},
        }
        for d in DISTROS.values()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        note = "" if r["supported"] else "  (not supported yet)"
        others = "".join(f", {a}: {image}" for a, image in r["images"].items())
        click.echo(f"{r['name']:<14} {r['family']:<7} {r['image']}{others}{note}")


@click.group("image")
def image_group() -> None:
    """Manage the base images builds run in."""


@image_group.command("bootstrap")
@click.argument("distro")
@click.option("--arch", help="amd64 or arm64 (under qemu-user-static); or name it: debian-12/arm64.")
@click.option("--mirror", help="Package mirror URL (default: the vendor's public archive).")
@click.option("--tag", help="Image tag (default: the distro table's image, arm64v8/debian:12 for debian-12/arm64).")
def bootstrap_cmd(distro: str, arch: str | None, mirror: str | None, tag: str | None) -> None:
    """Build DISTRO's base image locally with debootstrap and import it into Docker."""
    from builder.bootstrap import bootstrap_image

    target = get_distro(with_arch(distro, arch))
    image_id = bootstrap_image(target, tag or target.image, mirror)
    click.echo(f"{tag or target.image} {image_id}")
