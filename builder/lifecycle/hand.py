"""How the VM's owner installs a package file by hand: with the VM's own package manager, offline."""

from __future__ import annotations

HAND_INSTALL: dict[str, list[str]] = {
    "apt": ["apt-get", "-q", "-y", "install"],
    "dnf": ["dnf", "-q", "-y", "--noplugins", "install"],
    "zypper": ["zypper", "--non-interactive", "--no-gpg-checks", "install"],
}
# The same as a dry run: does the file install on its own, with what the VM has?
HAND_INSTALL_DRY_RUN: dict[str, list[str]] = {
    "apt": ["apt-get", "-q", "-s", "install"],
    "dnf": ["dnf", "-q", "-y", "--noplugins", "--setopt=tsflags=test", "install"],
    "zypper": ["zypper", "--non-interactive", "--no-gpg-checks", "install", "--dry-run"],
}
