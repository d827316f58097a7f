"""Baselines: the package state a closure is resolved against.

- `image` (default): what the build image has installed; the bundle holds what that image lacks.
- `full`: nothing is assumed installed; the bundle holds the whole closure, for VMs of unknown state.
- `file`: the real target VM's state, from a copy of its /var/lib/dpkg/status or the output of
  `dpkg-query -W`; apt's own solver resolves against it, so the bundle holds only what that VM lacks.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from builder.backends.deb822 import format_paragraph, parse_paragraphs
from builder.errors import InputError


@dataclass(frozen=True)
class Baseline:
    kind: str  # "image", "full" or "file"
    source: str = ""
    status: str = ""  # a dpkg status file for apt (empty for `full`)
    packages: dict[str, str] = field(default_factory=dict)  # installed name -> version
    format: str = "dpkg"  # of a file: "dpkg" (status or dpkg-query -W) or "rpm" (rpm -qa)
    entries: tuple[str, ...] = ()  # rpm -qa's name-version-release.arch lines, for the RPM backends

    def status_for(self, native_arch: str) -> str:
        """The status file apt reads; paragraphs without an architecture get the image's native one."""
        paragraphs = []
        for para in parse_paragraphs(self.status):
            if "Package" in para:
                para.setdefault("Architecture", native_arch)
                paragraphs.append(format_paragraph(para))
        return "\n".join(paragraphs)

    @property
    def overrides_image(self) -> bool:
        """Whether apt must be pointed at `status` instead of the image's own dpkg database."""
        return self.kind != "image"

    def as_manifest(self) -> dict[str, object]:
        document: dict[str, object] = {"kind": self.kind}
        if self.kind == "file":
            document.update(
                source=self.source,
                format=self.format,
                sha256=hashlib.sha256((self.status or "\n".join(self.entries)).encode()).hexdigest(),
                packages=dict(sorted(self.packages.items())),
            )
        return document


IMAGE = Baseline("image")
FULL = Baseline("full")


def load_baseline(path: Path) -> Baseline:
    """Read a VM's package state: a dpkg status file, `dpkg-query -W` output or `rpm -qa` output."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the baseline: {exc}") from exc
    if text.lstrip().startswith("Package:") or "\nPackage:" in text:
        return _from_status(path, text)
    # rpm -qa: name-version-release.arch lines, plus gpg-pubkey-KEYID-DATE lines for imported keys
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("gpg-pubkey-")]
    if lines and all("\t" not in line and _NEVRA_RE.fullmatch(line) for line in lines):
        return _from_rpm_qa(path, lines)
    return _from_query(path, text)


_NEVRA_RE = re.compile(r"(?P<name>.+)-(?P<version>[^-]+)-(?P<release>[^-]+)\.(?P<arch>[^.]+)")


def _from_rpm_qa(path: Path, lines: list[str]) -> Baseline:
    """`rpm -qa` prints name-version-release.arch (its gpg-pubkey lines, keys, are left out already)."""
    entries = tuple(lines)
    packages = {}
    for line in entries:
        match = _NEVRA_RE.fullmatch(line)
        assert match is not None  # checked by load_baseline
        packages[match["name"]] = f"{match['version']}-{match['release']}"
    if not packages:
        raise InputError(f"{path}: the baseline lists no installed package", hint=_HINT)
    return Baseline("file", str(path), "", packages, format="rpm", entries=entries)


def _from_status(path: Path, text: str) -> Baseline:
    packages = {}
    for para in parse_paragraphs(text):
        if "Package" in para and para.get("Status", "").endswith(" installed"):
            packages[para["Package"]] = para.get("Version", "")
    if not packages:
        raise InputError(f"{path}: a dpkg status file with no installed package", hint=_HINT)
    return Baseline("file", str(path), text, packages)


def _from_query(path: Path, text: str) -> Baseline:
    """`dpkg-query -W` prints `name[:arch]<TAB>version`; turn it into a minimal status file.

    Such a list has no Provides or Multi-Arch fields, so apt may bundle a provider the VM has under
    another name: safe (the bundle is a little larger), and the status file avoids it.
    """
    paragraphs, packages = [], {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip():
            raise InputError(
                f"{path}:{number}: expected `name<TAB>version` (dpkg-query -W) or a dpkg status file", hint=_HINT
            )
        name, version = parts[0].strip(), parts[1].strip()
        if not version:  # dpkg-query -W lists known but not-installed packages with no version
            continue
        bare, _, arch = name.partition(":")
        fields = {"Package": bare, "Status": "install ok installed", "Version": version}
        if arch:
            fields["Architecture"] = arch
        paragraphs.append(format_paragraph(fields))
        packages[name] = version
    if not packages:
        raise InputError(f"{path}: the baseline lists no installed package", hint=_HINT)
    return Baseline("file", str(path), "\n".join(paragraphs), packages)


_HINT = "copy /var/lib/dpkg/status from the target VM, or save `dpkg-query -W` (or `rpm -qa`) there"
