"""Package-manager backends: one class per family, chosen from the distro table's `family`."""

from __future__ import annotations

from builder.backends.apt import AptInstaller
from builder.backends.base import Backend
from builder.backends.dnf import DnfInstaller, YumInstaller
from builder.backends.zypper import ZypperInstaller
from builder.errors import InputError

# family -> backend class; a new family is one module and one line here.
BACKENDS: dict[str, type[Backend]] = {
    "apt": AptInstaller,
    "dnf": DnfInstaller,
    "yum": YumInstaller,
    "zypper": ZypperInstaller,
}


def backend_class(family: str, distro: str) -> type[Backend]:
    """The backend class for a package family, or a clear "not supported yet"."""
    if family not in BACKENDS:
        supported = ", ".join(sorted(BACKENDS))
        raise InputError(
            f"{distro} uses {family}, which vmapp-build does not support yet",
            hint=f"supported families: {supported}; see `vmapp-build distros`",
        )
    return BACKENDS[family]
