"""Gallery settings, every client-side check, immutability and VM plans (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from builder.azure.checks import (
    check_config_size,
    check_definition,
    check_settings,
    check_vm_plan,
    enforce_gallery,
    load_vm_plan,
    refuse_changed_version,
)
from builder.azure.emit import az_commands
from builder.azure.gallery import (
    GallerySettings,
    TargetRegion,
    VersionDefinition,
    application_body,
    read_settings_json,
    settings_from_json,
)
from builder.azure.limits import GIB
from builder.azure.settings import load_gallery_file
from builder.errors import LimitError, RecipeError
from builder.manifest import manifest_document
from builder.recipe import load_recipe
from tests.conftest import run_cli

SETTINGS = """\
gallery:
  name: appsGallery
  resource_group: rg-apps
  location: westeurope
  target_regions:
    - name: westeurope
      replicas: 2
      storage_account_type: Standard_ZRS
    - northeurope
  end_of_life_date: 2027-06-30
  exclude_from_latest: true
  configuration:
    file: license.lic
    name: app.lic
  script_behavior_after_reboot: Rerun
  reboot: true
"""


def settings(**changes: Any) -> GallerySettings:
    base = GallerySettings("g", "rg", "westeurope", target_regions=(TargetRegion("westeurope"),))
    return GallerySettings(**{**base.__dict__, **changes})


def definition(**changes: Any) -> VersionDefinition:
    base = VersionDefinition(
        app="jq",
        version="1.0.0",
        package_os="Linux",
        description="jq",
        install="sh install",
        remove="sh remove",
        update="sh update",
        package_file_name="jq.tar.gz",
        package_path=Path("/nowhere/jq.tar.gz"),
        settings=settings(),
    )
    return VersionDefinition(**{**base.__dict__, **changes})


def errors(results: list[Any]) -> list[str]:
    return [r.message for r in results if r.level == "error"]


# --- settings ---------------------------------------------------------------------------------------


def test_settings_file_loads_every_key(tmp_path: Path) -> None:
    (tmp_path / "license.lic").write_text("licensed\n")
    path = tmp_path / "gallery.yaml"
    path.write_text(SETTINGS)
    s = load_gallery_file(path)
    assert (s.gallery, s.resource_group, s.location) == ("appsGallery", "rg-apps", "westeurope")
    assert s.target_regions == (
        TargetRegion("westeurope", 2, "Standard_ZRS"),
        TargetRegion("northeurope"),
    )
    assert s.end_of_life_date == "2027-06-30T00:00:00Z"  # YAML's date, as the API writes it
    assert s.exclude_from_latest and s.reboot
    assert s.configuration is not None
    assert s.configuration.path == tmp_path / "license.lic" and s.configuration.name == "app.lic"
    assert s.script_behavior_after_reboot == "Rerun"
    assert settings_from_json(json.loads(json.dumps(s.as_json()))) == s  # what publish reads back


def test_recipe_gallery_key_is_accepted_and_validated(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: jq\nversion: 1.0.0\nlinux:\n  packages: [jq]\ngallery:\n  name: g\n  resource_group: rg\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe)
    assert str(info.value).startswith(f"{recipe}: gallery.location: missing")
    recipe.write_text(recipe.read_text() + "  location: westeurope\n")
    assert load_recipe(recipe).raw["gallery"]["location"] == "westeurope"


@pytest.mark.parametrize(
    ("body", "key", "problem"),
    [
        ("name: g\nresource_group: rg\nlocation: x\nreplicas: 2\n", "replicas", "unknown key"),
        ("name: g\nresource_group: rg\nlocation: x\nreplica_count: two\n", "replica_count", "whole number"),
        (
            "name: g\nresource_group: rg\nlocation: x\ntarget_regions: [{name: a, replica: 1}]\n",
            "target_regions[0].replica",
            "unknown key",
        ),
        (
            "name: g\nresource_group: rg\nlocation: x\nstorage_account_type: Standard_GRS\n",
            "storage_account_type",
            "not one of",
        ),
        (
            "name: g\nresource_group: rg\nlocation: x\nscript_behavior_after_reboot: Retry\n",
            "script_behavior_after_reboot",
            "not one of",
        ),
        ("name: g\nresource_group: rg\nlocation: x\nend_of_life_date: soon\n", "end_of_life_date", "not a date"),
        (
            "name: g\nresource_group: rg\nlocation: x\nconfiguration: missing.lic\n",
            "configuration.file",
            "no such file",
        ),
        ("name: g\nresource_group: rg\nlocation: x\nreboot: yes please\n", "reboot", "true or false"),
        ("name: 'g; rm -rf /'\nresource_group: rg\nlocation: x\n", "name", "shell characters"),
        ("name: g\nresource_group: rg\nlocation: x\nos_type: Solaris\n", "os_type", "not one of"),
    ],
)
def test_settings_errors_name_file_and_key(tmp_path: Path, body: str, key: str, problem: str) -> None:
    path = tmp_path / "gallery.yaml"
    path.write_text(body)
    with pytest.raises(RecipeError) as info:
        load_gallery_file(path)
    assert info.value.key == key
    assert str(info.value).startswith(f"{path}: {key}: ")
    assert problem in str(info.value)


def test_saved_settings_that_are_broken_are_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text('{"gallery": "g"}')
    with pytest.raises(Exception, match="cannot read the saved gallery settings"):
        read_settings_json(tmp_path / "settings.json")


# --- checks, each with Azure's message ---------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 4, 10])
def test_replica_count_out_of_range(value: int) -> None:
    message = (
        f"The value {value} of parameter 'galleryApplicationVersion.properties.publishingProfile.replicaCount' "
        "is out of range. The value must be between one and three, inclusive."
    )
    found = errors(check_settings(settings(replica_count=value)))
    assert len(found) == 1 and found[0].startswith(message)


def test_regional_replica_count_out_of_range_names_the_region() -> None:
    found = errors(check_settings(settings(target_regions=(TargetRegion("westeurope", 5),))))
    assert found == [
        "The value 5 of parameter 'galleryApplicationVersion.properties.publishingProfile.targetRegions[0]."
        "regionalReplicaCount' is out of range. The value must be between one and three, inclusive. (one Azure "
        "limits page says 10; the API's error text says three: the stricter value wins)"
    ]


def test_replica_counts_in_range_pass() -> None:
    assert errors(check_settings(settings(replica_count=3, target_regions=(TargetRegion("westeurope", 1),)))) == []


def test_duplicate_regions_even_when_spelled_differently() -> None:
    regions = (TargetRegion("westeurope"), TargetRegion("West Europe"))
    assert errors(check_settings(settings(target_regions=regions))) == [
        "Duplicate regions aren't allowed in target publishing regions."
    ]


def test_own_location_missing_from_target_regions() -> None:
    regions = (TargetRegion("northeurope"), TargetRegion("eastus"))
    assert errors(check_settings(settings(target_regions=regions))) == [
        "Gallery image version publishing profile regions northeurope, eastus must contain the location of "
        "image version westeurope."
    ]


def test_no_target_regions_means_the_own_location() -> None:
    assert errors(check_settings(settings(target_regions=()))) == []


def test_encryption_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(
        "name: g\nresource_group: rg\nlocation: westeurope\n"
        "target_regions: [{name: westeurope, encryption: {osDiskImage: {diskEncryptionSetId: x}}}]\n"
    )
    found = errors(check_settings(load_gallery_file(path)))
    assert found == ["Gallery application version resources currently don't support encryption."]


def test_os_type_of_package_and_application_differ() -> None:
    found = errors(check_definition(definition(settings=settings(os_type="Windows")), 100, None))
    assert len(found) == 1
    assert "is for Linux, but the gallery application's supportedOSType is Windows" in found[0]
    assert "Current VM Application Version 1.0.0 supports OS Windows, while current OSDisk's OS is Linux." in found[0]


@pytest.mark.parametrize("package_os", ["Linux", "Windows"])
def test_os_type_defaults_to_the_packages_own(package_os: str) -> None:
    """Without `os_type` in the settings, the application is for the OS the package was built for:
    a Windows build needs no `os_type: Windows` to pass the check."""
    d = definition(package_os=package_os)
    assert errors(check_definition(d, 100, None)) == []
    assert application_body(d)["properties"]["supportedOSType"] == package_os
    assert ["--os-type", package_os] == az_commands(d)[0][10:12]


def test_os_type_absent_from_the_file_is_the_packages(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("name: g\nresource_group: rg\nlocation: westeurope\n")
    loaded = load_gallery_file(path)
    assert loaded.os_type == ""
    d = definition(package_os="Windows", settings=loaded)
    assert application_body(d)["properties"]["supportedOSType"] == "Windows"


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("manageActions.install", {"install": "x" * 4097}),
        ("manageActions.remove", {"remove": "x" * 4097}),
        ("manageActions.update", {"update": "x" * 4097}),
        ("settings.packageFileName", {"package_file_name": "p" * 4097}),
    ],
)
def test_fields_longer_than_4096_characters(field: str, change: dict[str, str]) -> None:
    found = errors(check_definition(definition(**change), 100, None))
    assert found == [f"{field} is 4097 characters long; Azure allows at most 4096"]
    key = next(iter(change))
    assert errors(check_definition(definition(**{key: "x" * 4096}), 100, None)) == []


def test_config_file_name_longer_than_4096_characters(tmp_path: Path) -> None:
    from builder.azure.gallery import ConfigurationFile

    config = ConfigurationFile(tmp_path / "c", "c" * 4097)
    found = errors(check_definition(definition(settings=settings(configuration=config)), 100, 10))
    assert found == ["settings.configFileName is 4097 characters long; Azure allows at most 4096"]


def test_empty_package() -> None:
    assert errors(check_definition(definition(), 0, None)) == [
        "The blob referenced by source uri /nowhere/jq.tar.gz is empty."
    ]


def test_package_above_2_gb_is_an_error_above_1_gb_a_warning() -> None:
    found = errors(check_definition(definition(), 2 * GIB + 1, None))
    assert len(found) == 1 and found[0].startswith(
        f"The blob referenced by source uri /nowhere/jq.tar.gz is too large: size = {2 * GIB + 1}."
    )
    results = check_definition(definition(), GIB + 1, None)
    assert errors(results) == []
    assert any(r.level == "warning" and "above 1 GB" in r.message for r in results)


def test_configuration_file_above_1_gb() -> None:
    assert check_config_size(GIB + 1, "license.lic").message == (
        f"The blob referenced by source uri license.lic is too large: size = {GIB + 1}. "
        "The maximum blob size allowed is '1 GB'."
    )
    assert check_config_size(GIB, "license.lic").level == "ok"
    assert check_config_size(0, "license.lic").message == "The blob referenced by source uri license.lic is empty."


def test_version_and_name_rules_come_from_builder_names() -> None:
    found = errors(check_definition(definition(version="1.0.2147483648", app="bad name."), 100, None))
    assert any("Major(int32). Minor(int32). Patch(int32)" in m for m in found)
    assert any("may contain only letters" in m for m in found)


def test_reboot_advises_ordering_last() -> None:
    results = check_definition(definition(settings=settings(reboot=True)), 100, None)
    assert [r.message for r in results if r.level == "warning"] == [
        "jq reboots the VM: give it the highest `order` in the VM's application list, so it runs last "
        "(Azure gives no guarantees on reboots in a script)"
    ]


def test_enforce_lists_every_error() -> None:
    results = check_settings(settings(replica_count=9, target_regions=(TargetRegion("a"), TargetRegion("a"))))
    with pytest.raises(LimitError) as info:
        enforce_gallery(results, "jq 1.0.0")
    assert "replicaCount" in str(info.value) and "Duplicate regions" in str(info.value)


# --- immutability -------------------------------------------------------------------------------------


def _manifest(tmp_path: Path, install: str = "sh install", package_file: str = "jq.tar.gz") -> dict[str, Any]:
    return manifest_document(
        application={"name": "jq", "version": "1.0.0"},
        commands={"install": install, "remove": "sh remove", "update": "sh update"},
        packageFileName=package_file,
    )


def test_rebuilding_a_version_with_the_same_strings_is_fine(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps(_manifest(tmp_path)))
    refuse_changed_version(tmp_path / "manifest.json", _manifest(tmp_path))
    refuse_changed_version(tmp_path / "absent.json", _manifest(tmp_path))


@pytest.mark.parametrize(
    ("change", "field"),
    [({"install": "sh install --other"}, "manageActions.install"), ({"package_file": "jq.tgz"}, "packageFileName")],
)
def test_rebuilding_a_version_with_other_strings_asks_for_a_new_version(
    tmp_path: Path, change: dict[str, str], field: str
) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps(_manifest(tmp_path)))
    with pytest.raises(LimitError) as info:
        refuse_changed_version(tmp_path / "manifest.json", _manifest(tmp_path, **change))
    assert field in str(info.value) and "isn't allowed" in str(info.value)
    assert "create a new version" in str(info.value)


# --- VM plans ----------------------------------------------------------------------------------------

REF = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/applications/{app}/versions/{v}"


def _plan(tmp_path: Path, entries: list[dict[str, Any]]) -> Path:
    path = tmp_path / "vm.yaml"
    path.write_text(json.dumps({"applications": entries}))  # JSON is YAML
    return path


def test_plan_within_limits(tmp_path: Path) -> None:
    path = _plan(tmp_path, [{"packageReferenceId": REF.format(app=f"a{i}", v="1.0.0"), "order": i} for i in range(25)])
    assert errors(check_vm_plan(load_vm_plan(path))) == []
    result = run_cli("check-plan", path)
    assert result.returncode == 0, result.stderr
    assert "25 applications" in result.stdout


def test_plan_with_more_than_25_applications(tmp_path: Path) -> None:
    path = _plan(tmp_path, [{"packageReferenceId": REF.format(app=f"a{i}", v="1.0.0")} for i in range(26)])
    assert errors(check_vm_plan(load_vm_plan(path))) == [
        "The maximum number of VM applications (max=25, current=26) has been exceeded. Use fewer applications and "
        "retry the request. (Azure's error table still says max=5; the documented limit is 25)"
    ]
    result = run_cli("check-plan", path)
    assert result.returncode == 2
    assert "max=25, current=26" in result.stderr


def test_plan_with_two_versions_of_one_application(tmp_path: Path) -> None:
    entries = [{"packageReferenceId": REF.format(app="jq", v=v)} for v in ("1.0.0", "1.1.0")]
    found = errors(check_vm_plan(load_vm_plan(_plan(tmp_path, entries))))
    assert found == ["g/jq: versions 1.0.0, 1.1.0: you can't have multiple versions of the same application on a VM"]


def test_plan_with_one_reference_twice(tmp_path: Path) -> None:
    ref = REF.format(app="jq", v="1.0.0")
    found = errors(check_vm_plan(load_vm_plan(_plan(tmp_path, [{"packageReferenceId": ref}] * 2))))
    assert found == ["More than one VM Application was specified with the same packageReferenceId."]


def test_plan_reboot_application_not_last_is_a_warning(tmp_path: Path) -> None:
    entries = [
        {"packageReferenceId": REF.format(app="a", v="1.0.0"), "order": 1, "reboot": True},
        {"packageReferenceId": REF.format(app="b", v="1.0.0"), "order": 2},
    ]
    results = check_vm_plan(load_vm_plan(_plan(tmp_path, entries)))
    assert [r.message for r in results if r.level == "warning"] == [
        "g/a reboots the VM: give it the single highest `order` so it runs last"
    ]
    entries[0]["order"] = 3
    assert [r for r in check_vm_plan(load_vm_plan(_plan(tmp_path, entries))) if r.level == "warning"] == []


def test_plan_errors_name_file_and_key(tmp_path: Path) -> None:
    path = _plan(tmp_path, [{"packageReferenceId": REF.format(app="a", v="1.0.0")}, {"packageReferenceId": "jq"}])
    with pytest.raises(RecipeError) as info:
        load_vm_plan(path)
    assert str(info.value).startswith(f"{path}: applications[1].packageReferenceId: 'jq' is not")
    path = _plan(tmp_path, [{"packageReferenceId": REF.format(app="a", v="1.0.99999999999")}])
    with pytest.raises(RecipeError, match="Major\\(int32\\)"):
        load_vm_plan(path)
