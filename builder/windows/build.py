"""The Windows build: plan -> fetch (SHA-256 checked) -> bundle -> render, then builder.finish (limits,
manifest, immutability check, gallery definitions, atomic moves) like every other payload.

One installer ships as itself under its real name (the packageFileName); several ship as one zip
whose install string runs them in order and whose remove string removes them in reverse order.
"""

from __future__ import annotations

from builder.azure.gallery import GallerySettings
from builder.fetch import fetch
from builder.finish import BuildResult, Output, finish, staging_directory
from builder.payload import Payload
from builder.progress import byte_bar
from builder.windows.bundle import write_zip
from builder.windows.plan import TARGET, WindowsPlan
from builder.windows.render import render_windows_commands

INTERPRETER = "cmd /C"


def build_windows(plan: WindowsPlan, gallery: GallerySettings | None = None) -> BuildResult:
    """Build the package and manifest (and, with gallery settings, the Azure definitions) for a
    Windows plan; nothing is left behind on failure."""
    commands = render_windows_commands(plan)  # pure: a bad value fails before any download
    with staging_directory(plan.out_dir) as tmp:
        files_dir = tmp / "files"
        files_dir.mkdir()
        files = [
            fetch(inst.source, inst.sha256, files_dir / inst.file_name, f"{plan.recipe_path}: windows.installers[{i}]")
            for i, inst in enumerate(plan.installers)
        ]
        contents = sum(f.stat().st_size for f in files)
        package = tmp / plan.package_file_name
        if plan.bundled:
            with byte_bar(contents, "bundle") as bar:
                write_zip(package, files, bar.update)
        else:
            files[0].rename(package)
        size = package.stat().st_size
        sections = {
            "application": {"name": plan.app, "version": plan.version, "description": plan.description},
            "recipe": {
                "path": str(plan.recipe_path),
                "installers": [inst.as_manifest() for inst in plan.installers],
                "checks": [inst.check for inst in plan.installers if inst.check],
            },
            "distro": {"name": TARGET, "family": TARGET},
            "image": {"name": plan.image},
            "interpreter": INTERPRETER,
            "installers": [
                {
                    "file": inst.file_name,
                    "type": inst.type,
                    "source": inst.source,
                    "size": (files_dir / inst.file_name).stat().st_size if plan.bundled else size,
                    "sha256": inst.sha256,
                }
                for inst in plan.installers
            ],
        }
        output = Output(plan.app, plan.version, TARGET, plan.out_dir, plan.package_file_name, plan.max_package_bytes)
        return finish(output, Payload(package, commands.as_dict(), sections, contents, len(files)), tmp, gallery)
