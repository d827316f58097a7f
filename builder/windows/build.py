"""The Windows build: plan -> fetch (SHA-256 checked) -> bundle -> render -> limits -> manifest.

One installer ships as itself under its real name (the packageFileName); several ship as one zip
whose install string runs them in order and whose remove string removes them in reverse order.
"""

from __future__ import annotations

from builder.bundle import replace_atomically, sha256_file
from builder.fetch import fetch
from builder.limits import check_limits, enforce
from builder.manifest import MANIFEST_NAME, manifest_document, write_json_atomically
from builder.owner import owned_temp_dir
from builder.pipeline import BuildResult, existing_ancestor
from builder.progress import byte_bar
from builder.windows.bundle import write_zip
from builder.windows.plan import TARGET, WindowsPlan
from builder.windows.render import render_windows_commands

INTERPRETER = "cmd /C"


def build_windows(plan: WindowsPlan) -> BuildResult:
    """Build the package and manifest for a Windows plan; nothing is left behind on failure."""
    commands = render_windows_commands(plan)  # pure: a bad value fails before any download
    with owned_temp_dir(existing_ancestor(plan.out_dir)) as tmp:  # marked with its owner, for `vmapp-build gc`
        files_dir = tmp / "files"
        files_dir.mkdir()
        files = [
            fetch(inst.source, inst.sha256, files_dir / inst.file_name, f"{plan.recipe_path}: windows.installers[{i}]")
            for i, inst in enumerate(plan.installers)
        ]
        contents = sum(f.stat().st_size for f in files)
        package_tmp = tmp / plan.package_file_name
        if plan.bundled:
            with byte_bar(contents, "bundle") as bar:
                write_zip(package_tmp, files, bar.update)
        else:
            files[0].rename(package_tmp)
        size = package_tmp.stat().st_size
        limits = check_limits(
            plan.app,
            plan.version,
            size,
            str(plan.out_dir / plan.package_file_name),
            {
                "manageActions.install": commands.install,
                "manageActions.remove": commands.remove,
                "settings.packageFileName": plan.package_file_name,
            },
            plan.max_package_bytes,
        )
        enforce(limits, f"{plan.app} {plan.version} for {TARGET}")
        document = manifest_document(
            application={"name": plan.app, "version": plan.version, "description": plan.description},
            recipe={
                "path": str(plan.recipe_path),
                "installers": [inst.as_manifest() for inst in plan.installers],
                "checks": [inst.check for inst in plan.installers if inst.check],
            },
            distro={"name": TARGET, "family": TARGET},
            image={"name": plan.image},
            interpreter=INTERPRETER,
            installers=[
                {
                    "file": inst.file_name,
                    "type": inst.type,
                    "source": inst.source,
                    "size": (files_dir / inst.file_name).stat().st_size if plan.bundled else size,
                    "sha256": inst.sha256,
                }
                for inst in plan.installers
            ],
            commands=commands.as_dict(),
            packageFileName=plan.package_file_name,
            package={"file": plan.package_file_name, "size": size, "sha256": sha256_file(package_tmp)},
            sizes={"package": size, "contents": contents, "files": len(files)},
            limits=[r.as_manifest() for r in limits],
        )
        write_json_atomically(tmp / MANIFEST_NAME, document)
        final_package = plan.out_dir / plan.package_file_name
        final_manifest = plan.out_dir / MANIFEST_NAME
        replace_atomically(package_tmp, final_package)
        replace_atomically(tmp / MANIFEST_NAME, final_manifest)
    return BuildResult(final_package, final_manifest, document)
