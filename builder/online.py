"""Online mode (linux.resolve: vm): which of the closure's files the bundle leaves out, for the VM's
own repositories to supply (the seed's "one .deb file and let apt handle the dependencies")."""

from __future__ import annotations

from builder.backends.base import Collected, Sources
from builder.container import Container
from builder.plan import BuildPlan


def online_selection(plan: BuildPlan, collected: Collected, sources: Sources) -> dict[str, dict[str, str]]:
    """Online mode (linux.resolve: vm) bundles the recipe's own packages, and what the closure took from
    the recipe's repositories (the VM has not configured them); the VM fetches the rest from its own
    repositories. The closure is still resolved whole: that is how a third-party package's
    dependencies from its own repository are found. Returns the files left out, by file name, with
    what they are (name, version, architecture) for the manifest."""
    names = {name.split(":", 1)[0] for name in plan.package_names}
    third_party = {r.name for r in plan.repositories} | {r.url.rstrip("/") for r in plan.repositories}
    fetched = {}
    for file, info in sorted(collected.packages.items()):
        origin = sources.packages.get(file)
        if info.name not in names and (origin is None or origin.repository not in third_party):
            fetched[file] = {"name": info.name, "version": info.version, "architecture": info.architecture}
    return fetched


def leave_out_fetched(
    plan: BuildPlan, container: Container, directory: str, collected: Collected, sources: Sources
) -> list[dict[str, str]]:
    """Online mode: delete from the download what the VM fetches itself; what it was, for the manifest."""
    if not plan.online:
        return []
    fetched = online_selection(plan, collected, sources)
    if fetched:
        paths = [f"{directory.rstrip('/')}/{file}" for file in fetched]
        container.run(["rm", "-f", "--", *paths], "leave out what the VM fetches (online mode)")
    return list(fetched.values())
