"""Every key the gallery bodies and the ARM template carry is one the azure-mgmt-compute models define.

The round trips in test_gallery_emit (`Model(body).as_dict() == body`) hold for a misspelt key too,
because the SDK's models keep unknown keys; these checks look each key up (tests/sdk_keys.py).
"""

from __future__ import annotations

import json
from dataclasses import replace

from azure.mgmt.compute import models as m

from builder.azure.emit import DEFINITION_NAME, arm_template, definition_files
from builder.azure.gallery import (
    API_VERSION,
    PACKAGE_SHA256_TAG,
    SBOM_SHA256_TAG,
    TargetRegion,
    application_body,
    version_body,
)
from tests.sdk_keys import nested_model, rest_fields, unknown_keys, unknown_resource_keys
from tests.test_gallery_emit import definition


def test_every_key_emitted_is_one_the_sdk_models_define() -> None:
    """The round trips above hold for any key; this looks each one up in the SDK's attribute maps."""
    regions = (TargetRegion("westeurope", 1, "Standard_LRS", True, encryption=True),)
    d = definition(update=None, settings=replace(definition().settings, target_regions=regions, description="d"))
    tagged = definition(tags={PACKAGE_SHA256_TAG: "a" * 64, SBOM_SHA256_TAG: "b" * 64})  # the SBOM's tags
    assert version_body(tagged)["tags"] == tagged.tags
    assert arm_template(tagged)["resources"][1]["tags"] == tagged.tags
    for candidate in (definition(), d, tagged):
        assert unknown_keys(m.GalleryApplication, application_body(candidate)) == []
        assert unknown_keys(m.GalleryApplicationVersion, version_body(candidate)) == []
        app, version = arm_template(candidate)["resources"]
        assert unknown_resource_keys(m.GalleryApplication, app) == []
        assert unknown_resource_keys(m.GalleryApplicationVersion, version) == []
        written = json.loads(definition_files(candidate)[DEFINITION_NAME])
        assert unknown_keys(m.GalleryApplication, written["application"]) == []
        assert unknown_keys(m.GalleryApplicationVersion, written["version"]) == []


def test_the_key_check_names_a_misspelt_key_at_any_depth() -> None:
    body = version_body(definition())
    profile = body["properties"]["publishingProfile"]
    profile["manageActions"]["instal"] = profile["manageActions"].pop("install")
    profile["settings"]["packageFilename"] = profile["settings"].pop("packageFileName")
    profile["targetRegions"][1]["regionalReplicas"] = 2
    body["propertes"] = {}
    assert m.GalleryApplicationVersion(body).as_dict() == body  # what the round trip alone lets through
    where = "properties.publishingProfile"
    assert unknown_keys(m.GalleryApplicationVersion, body) == [
        f"{where}.manageActions.instal",
        f"{where}.settings.packageFilename",
        f"{where}.targetRegions[1].regionalReplicas",
        "propertes",
    ]
    app, version = arm_template(definition())["resources"]
    version["properties"]["publishingProfile"]["source"]["mediaLnk"] = "x"
    app["apiVerson"] = API_VERSION
    assert unknown_resource_keys(m.GalleryApplicationVersion, version) == [f"{where}.source.mediaLnk"]
    assert unknown_resource_keys(m.GalleryApplication, app) == ["apiVerson"]


def test_the_key_check_descends_through_the_sdks_own_nested_models() -> None:
    profile = rest_fields(m.GalleryApplicationVersionPublishingProfile)
    assert nested_model(rest_fields(m.GalleryApplicationVersion)["properties"]) is m.GalleryApplicationVersionProperties
    assert nested_model(rest_fields(m.GalleryApplicationVersionProperties)["publishingProfile"]) is (
        m.GalleryApplicationVersionPublishingProfile
    )
    assert {key: nested_model(profile[key]) for key in ("source", "manageActions", "settings", "targetRegions")} == {
        "source": m.UserArtifactSource,
        "manageActions": m.UserArtifactManage,
        "settings": m.UserArtifactSettings,
        "targetRegions": m.TargetRegion,  # a list: each item is checked against the item's model
    }
    assert nested_model(rest_fields(m.TargetRegion)["encryption"]) is m.EncryptionImages
    assert nested_model(rest_fields(m.GalleryApplication)["tags"]) is None  # a map of free keys
