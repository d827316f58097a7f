"""The build's software bill of materials: CycloneDX JSON, written beside the manifest by the finish step.

Every component is something the package bundles: a distro package (with its purl, hash and the license
its header states) or a file (a Windows installer, a tarball). The document is built with
cyclonedx-python-lib's models and serialised by its outputter; nothing here writes JSON by hand.

Same inputs, same bytes: the serial number is derived from the package's content and the timestamp
from SOURCE_DATE_EPOCH (or a fixed instant), so a rebuild writes the SBOM it wrote before.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component as CdxComponent
from cyclonedx.model.component import ComponentType
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion
from packageurl import PackageURL

from builder import __version__
from builder.distros import Distro
from builder.payload import Component

try:  # the factory's home since cyclonedx-python-lib 11; the old path warns (and our tests make warnings errors)
    from cyclonedx.contrib.license.factories import LicenseFactory
except ImportError:  # pragma: no cover - cyclonedx-python-lib 8 to 10
    from cyclonedx.factory.license import LicenseFactory

SBOM_NAME = "sbom.cdx.json"
# The application's property naming the architecture it was built for (amd64, arm64): its packages' purls
# say `arch=all` for the architecture-independent ones, so only this tells an arm64 bundle of them apart.
ARCH_PROPERTY = "vmapp-build:architecture"
SCHEMA_VERSION = SchemaVersion.V1_6
# The purl namespace of each distro vendor (builder.distros' `vendor`), as the purl spec's examples name them.
PURL_VENDORS = {"rhel": "redhat", "sles": "suse"}
# A wall-clock timestamp would make every rebuild differ. Without SOURCE_DATE_EPOCH (the reproducible-
# builds convention) the Unix epoch stands in, as the bundle's fixed mtime (builder.bundle) does: it says
# "no build time recorded" rather than a date that looks real.
SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"
# Serial numbers are UUID5s in this namespace, of the package's sha256: same package, same serial.
_SERIAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/vmapp-build/sbom")


def package_purl(distro: Distro, name: str, version: str, architecture: str) -> str:
    """The purl of a distro package: pkg:deb/<vendor>/... for apt, pkg:rpm/<vendor>/... for the RPM families.

    deb versions keep their epoch (the purl spec's deb type); an RPM epoch goes to the `epoch` qualifier.
    """
    qualifiers = {"arch": architecture, "distro": distro.release}  # the release: arch is its own qualifier
    if distro.family == "apt":
        kind = "deb"
    else:
        kind = "rpm"
        epoch, sep, rest = version.partition(":")
        if sep:
            version, qualifiers["epoch"] = rest, epoch
    namespace = PURL_VENDORS.get(distro.vendor, distro.vendor)
    return str(
        PackageURL(type=kind, namespace=namespace, name=name, version=version, qualifiers=qualifiers).to_string()
    )


def build_time() -> datetime:
    """SOURCE_DATE_EPOCH when set (reproducible builds' convention), else the Unix epoch."""
    value = os.environ.get(SOURCE_DATE_EPOCH, "").strip()
    return datetime.fromtimestamp(int(value) if value.isdigit() else 0, tz=UTC)


def sbom_json(
    app: str, version: str, package_sha256: str, components: Iterable[Component], arch: str | None = None
) -> str:
    """The SBOM of one build as CycloneDX JSON text: the application (built for `arch`) as its subject,
    the bundled parts."""
    subject = CdxComponent(
        type=ComponentType.APPLICATION,
        name=app,
        version=version,
        bom_ref=f"app:{app}@{version}",
        properties=[Property(name=ARCH_PROPERTY, value=arch)] if arch else None,
    )
    tool = CdxComponent(type=ComponentType.APPLICATION, name="vmapp-build", version=__version__)
    bom = Bom(serial_number=uuid.uuid5(_SERIAL_NAMESPACE, package_sha256))
    bom.metadata.component = subject
    bom.metadata.timestamp = build_time()
    bom.metadata.tools.components.add(tool)
    parts = [_component(c) for c in components]
    for part in parts:
        bom.components.add(part)
    bom.register_dependency(subject, parts)  # the application bundles each part
    return str(make_outputter(bom, OutputFormat.JSON, SCHEMA_VERSION).output_as_string(indent=2)) + "\n"


def _component(c: Component) -> CdxComponent:
    """A package (purl, bom-ref = purl) or a file (bom-ref = file:<name>), with its SHA-256."""
    hashes = [HashType(alg=HashAlgorithm.SHA_256, content=c.sha256)]
    if c.purl is None:
        return CdxComponent(
            type=ComponentType.FILE, name=c.name, version=c.version, hashes=hashes, bom_ref=f"file:{c.name}"
        )
    licenses = [LicenseFactory().make_from_string(c.license)] if c.license else []
    return CdxComponent(
        type=ComponentType.LIBRARY,
        name=c.name,
        version=c.version,
        hashes=hashes,
        purl=PackageURL.from_string(c.purl),
        licenses=licenses,
        bom_ref=c.purl,
    )
