"""Windows installers as a payload: each fetched (SHA-256 checked), then bundled.

One installer ships as itself under its real name (the packageFileName); several ship as one zip
whose install string runs them in order and whose remove string removes them in reverse order.
The pipeline (builder.pipeline) hands the payload to the one finish step, like every other.
"""

from __future__ import annotations

from pathlib import Path

from builder.fetch import fetch
from builder.payload import Component, Payload
from builder.plan import WindowsPlan
from builder.progress import byte_bar
from builder.render import Commands
from builder.windows.bundle import write_zip

INTERPRETER = "cmd /C"


def bundle_installers(plan: WindowsPlan, commands: Commands, tmp: Path) -> Payload:
    """The recipe's installers, fetched into the build's temp dir and bundled."""
    files_dir = tmp / "files"
    files_dir.mkdir()
    files = [
        fetch(inst.source, inst.sha256, files_dir / inst.file_name, f"{plan.recipe_path}: windows.installers[{i}]")
        for i, inst in enumerate(plan.installers)
    ]
    sizes = [f.stat().st_size for f in files]
    package = tmp / plan.package_file_name
    if plan.bundled:
        with byte_bar(sum(sizes), "bundle") as bar:
            write_zip(package, files, bar.update)
    else:
        files[0].rename(package)
    installers = [
        {"file": inst.file_name, "type": inst.type, "source": inst.source, "size": size, "sha256": inst.sha256}
        for inst, size in zip(plan.installers, sizes, strict=True)
    ]
    sections = {
        **plan.manifest_sections(),
        "image": {"name": plan.image},
        "interpreter": INTERPRETER,
        "installers": installers,
    }
    components = tuple(
        Component(name=inst.file_name, sha256=inst.sha256.lower()) for inst in plan.installers
    )  # fetch checked
    return Payload(package, commands.as_dict(), sections, sum(sizes), len(files), components)
