"""The emitted definitions: ARM template, az commands, PowerShell, all from one model."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.compute import models as m
from azure.mgmt.compute._utils.model_base import SdkJSONEncoder

from builder.azure.emit import (
    AZ_NAME,
    POWERSHELL_NAME,
    SETTINGS_NAME,
    TEMPLATE_NAME,
    arm_escape,
    arm_template,
    az_commands,
    az_script,
    powershell_script,
    ps_quote,
)
from builder.azure.gallery import (
    API_VERSION,
    ConfigurationFile,
    GallerySettings,
    TargetRegion,
    VersionDefinition,
    application_body,
    version_body,
)
from builder.manifest import manifest_document
from tests.conftest import run_cli

HOSTILE = [
    'it\'s "quoted" $HOME `id` $(id) \\ back\\slash',
    "line one\nline two\n\ttabbed; rm -rf / && echo done || true",
    "[ -f x ] && echo '[bracketed]'",
    "\u2018smart\u2019 quotes \u201a \u201b and *globs? ~tilde !bang #hash %PATH% ^caret",
    "",
]


def definition(install: str = "sh install", **changes: Any) -> VersionDefinition:
    settings = GallerySettings(
        gallery="appsGallery",
        resource_group="rg-apps",
        location="West Europe",
        subscription="00000000-0000-0000-0000-000000000000",
        replica_count=2,
        target_regions=(TargetRegion("West Europe", 3, "Standard_ZRS", False), TargetRegion("northeurope")),
        end_of_life_date="2027-06-30T00:00:00Z",
        exclude_from_latest=True,
        configuration=ConfigurationFile(Path("/cfg/license.lic"), "app.lic"),
        script_behavior_after_reboot="Rerun",
    )
    base = dict(
        app="jq",
        version="1.2.3",
        package_os="Linux",
        description='jq\'s "JSON" processor',
        install=install,
        remove="[remove]",
        update="sh update",
        package_file_name="jq.tar.gz",
        package_path=Path("/dist/jq.tar.gz"),
        settings=settings,
        media_link="https://acct.blob.core.windows.net/vmapps/jq.tar.gz?sv=2024&sp=r&sig=a%2Bb",
        default_configuration_link="https://acct.blob.core.windows.net/vmapps/app.lic?sp=r&sig=c",
    )
    return VersionDefinition(**{**base, **changes})


def sdk_version_from_fields(d: VersionDefinition) -> m.GalleryApplicationVersion:
    """The same version built with the SDK's typed models, field by field, independently of version_body."""
    s = d.settings
    assert s.configuration is not None
    return m.GalleryApplicationVersion(
        location=s.location,
        properties=m.GalleryApplicationVersionProperties(
            publishing_profile=m.GalleryApplicationVersionPublishingProfile(
                source=m.UserArtifactSource(
                    media_link=d.media_link, default_configuration_link=d.default_configuration_link
                ),
                manage_actions=m.UserArtifactManage(install=d.install, remove=d.remove, update_property=d.update),
                settings=m.UserArtifactSettings(
                    package_file_name=d.package_file_name,
                    config_file_name=s.configuration.name,
                    script_behavior_after_reboot=m.GalleryApplicationScriptRebootBehavior.RERUN,
                ),
                target_regions=[
                    m.TargetRegion(
                        name="West Europe",
                        regional_replica_count=3,
                        storage_account_type=m.StorageAccountType.STANDARD_ZRS,
                        exclude_from_latest=False,
                    ),
                    m.TargetRegion(name="northeurope"),
                ],
                replica_count=2,
                exclude_from_latest=True,
                storage_account_type=m.StorageAccountType.STANDARD_LRS,
                end_of_life_date=datetime(2027, 6, 30, tzinfo=UTC),
            )
        ),
    )


@pytest.mark.parametrize("install", HOSTILE[:4])
def test_version_body_round_trips_through_the_sdk_model(install: str) -> None:
    d = definition(install)
    body = version_body(d)
    model = m.GalleryApplicationVersion(body)
    assert model.as_dict() == body
    assert json.loads(json.dumps(model, cls=SdkJSONEncoder)) == body
    assert model.properties is not None
    profile = model.properties.publishing_profile
    assert profile.manage_actions is not None and profile.manage_actions.install == install
    assert profile.settings is not None and profile.settings.config_file_name == "app.lic"
    assert profile.end_of_life_date is not None and profile.end_of_life_date.year == 2027
    assert [r.regional_replica_count for r in profile.target_regions or []] == [3, None]
    assert sdk_version_from_fields(d).as_dict() == body  # the SDK's own serialization of the same fields


def test_application_body_round_trips_through_the_sdk_model() -> None:
    body = application_body(definition())
    model = m.GalleryApplication(body)
    assert model.as_dict() == body
    typed = m.GalleryApplication(
        location="West Europe",
        properties=m.GalleryApplicationProperties(supported_os_type="Linux", description='jq\'s "JSON" processor'),
    )
    assert typed.as_dict() == body


def arm_unescape(value: Any) -> Any:
    if isinstance(value, str):
        return value[1:] if value.startswith("[[") else value
    if isinstance(value, dict):
        return {k: arm_unescape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [arm_unescape(v) for v in value]
    return value


def test_arm_template_holds_the_bodies_with_brackets_escaped() -> None:
    d = definition("[ -f x ] && echo ok")
    template = arm_template(d)
    app, version = template["resources"]
    assert (
        app["type"] == "Microsoft.Compute/galleries/applications" and app["apiVersion"] == API_VERSION == "2024-03-03"
    )
    assert app["name"] == "appsGallery/jq"
    assert version["type"] == "Microsoft.Compute/galleries/applications/versions"
    assert version["name"] == "appsGallery/jq/1.2.3" and version["apiVersion"] == "2024-03-03"
    assert version["dependsOn"] == ["[resourceId('Microsoft.Compute/galleries/applications', 'appsGallery', 'jq')]"]
    # "[remove]" would be an ARM expression: it is written "[[remove]"; a leading "[" alone is literal already.
    profile = version["properties"]["publishingProfile"]
    assert profile["manageActions"]["remove"] == "[[remove]"
    assert profile["manageActions"]["install"] == "[ -f x ] && echo ok"
    assert profile["endOfLifeDate"] == "2027-06-30T00:00:00Z"
    assert {k: arm_unescape(version[k]) for k in ("location", "properties")} == version_body(d)
    assert arm_escape("[x]") == "[[x]" and arm_escape("[x") == "[x" and arm_escape("x]") == "x]"


@pytest.mark.parametrize("install", HOSTILE)
def test_az_commands_parse_back_to_the_intended_argv(install: str) -> None:
    d = definition(install)
    commands = az_commands(d)
    script = az_script(d)
    for argv in commands:
        assert shlex.join(argv) in script
        assert shlex.split(shlex.join(argv)) == argv
    version = commands[1]
    assert version[version.index("--install-command") + 1] == install
    assert version[version.index("--package-file-link") + 1] == d.media_link
    assert json.loads(version[version.index("--target-regions") + 1]) == [
        {"name": "West Europe", "regional-replica-count": 3, "storage-account-type": "Standard_ZRS"},
        {"name": "northeurope"},
    ]
    assert version[version.index("--exclude-from") + 1] == "true"
    assert "# az has no option for settings.scriptBehaviorAfterReboot" in script


def test_az_script_run_by_a_real_shell_passes_exact_arguments(tmp_path: Path) -> None:
    """The script runs under /bin/sh with a stand-in `az` that records its argv."""
    record = tmp_path / "argv.jsonl"
    fake = tmp_path / "bin" / "az"
    fake.parent.mkdir()
    fake.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"with open({str(record)!r}, 'a') as f: f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    fake.chmod(0o755)
    install = "\n".join(HOSTILE)
    d = definition(install)
    script = tmp_path / "az.sh"
    script.write_text(az_script(d))
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}", "HOME": "/should-not-expand"}
    subprocess.run(["/bin/sh", str(script)], check=True, env=env)
    recorded = [json.loads(line) for line in record.read_text().splitlines()]
    assert recorded == [argv[1:] for argv in az_commands(d)]


def ps_parse_single_quoted(text: str, start: int) -> tuple[str, int]:
    """Read one PowerShell single-quoted string at `start` (a doubled quote character is one)."""
    quotes = "'\u2018\u2019\u201a\u201b"
    assert text[start] in quotes
    out, i = [], start + 1
    while True:
        c = text[i]
        if c in quotes:
            if i + 1 < len(text) and text[i + 1] in quotes:
                out.append(c)
                i += 2
                continue
            return "".join(out), i + 1
        out.append(c)
        i += 1


@pytest.mark.parametrize("value", HOSTILE)
def test_powershell_quoting_is_verbatim(value: str) -> None:
    quoted = ps_quote(value)
    assert ps_parse_single_quoted(quoted, 0) == (value, len(quoted))
    assert quoted[0] == quoted[-1] == "'"  # single quotes: PowerShell expands nothing inside


def test_powershell_script_passes_every_field() -> None:
    install = HOSTILE[0] + "\n" + HOSTILE[3]
    d = definition(install)
    script = powershell_script(d)
    assert "New-AzGalleryApplication @application" in script
    assert script.rstrip().endswith("New-AzGalleryApplicationVersion @version")
    start = script.index("    Install = ") + len("    Install = ")
    assert ps_parse_single_quoted(script, start)[0] == install
    for expected in (
        "    PackageFileLink = 'https://acct.blob.core.windows.net/vmapps/jq.tar.gz?sv=2024&sp=r&sig=a%2Bb'",
        "    ConfigFileName = 'app.lic'",
        "    Remove = '[remove]'",
        "    TargetRegion = @(@{Name = 'West Europe'; RegionalReplicaCount = 3; StorageAccountType = 'Standard_ZRS'; "
        "ExcludeFromLatest = $false}, @{Name = 'northeurope'})",
        "    ReplicaCount = 2",
        "    PublishingProfileEndOfLifeDate = [datetime]'2027-06-30T00:00:00Z'",
        "    PublishingProfileExcludeFromLatest = $true",
        "    SupportedOSType = 'Linux'",
    ):
        assert expected in script.splitlines(), expected


def test_definitions_command_writes_every_file(tmp_path: Path) -> None:
    build = tmp_path / "dist" / "jq" / "1.0.0" / "debian-12"
    build.mkdir(parents=True)
    (build / "jq.tar.gz").write_bytes(b"not empty")
    document = manifest_document(
        application={"name": "jq", "version": "1.0.0", "description": "jq"},
        distro={"name": "debian-12", "family": "apt"},
        commands={"install": "sh i", "remove": "sh r", "update": "sh u"},
        packageFileName="jq.tar.gz",
        package={"file": "jq.tar.gz", "size": 9, "sha256": "0" * 64},
    )
    (build / "manifest.json").write_text(json.dumps(document))
    gallery = tmp_path / "gallery.yaml"
    gallery.write_text("name: g\nresource_group: rg\nlocation: westeurope\nreboot: true\n")
    result = run_cli("definitions", build, "--gallery", gallery)
    assert result.returncode == 0, result.stderr
    assert "runs last" in result.stderr
    files = sorted(p.name for p in (build / "gallery").iterdir())
    assert files == sorted([TEMPLATE_NAME, AZ_NAME, POWERSHELL_NAME, SETTINGS_NAME, "definition.json"])
    template = json.loads((build / "gallery" / TEMPLATE_NAME).read_text())
    assert template["resources"][1]["properties"]["publishingProfile"]["settings"]["packageFileName"] == "jq.tar.gz"
    gallery.write_text("name: g\nresource_group: rg\nlocation: westeurope\nreplica_count: 4\n")
    result = run_cli("definitions", build, "--gallery", gallery)
    assert result.returncode == 2 and "The value 4 of parameter" in result.stderr
