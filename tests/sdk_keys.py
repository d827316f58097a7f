"""Check a REST body's keys against the azure-mgmt-compute models (test helper, not product code).

`Model(body).as_dict() == body` holds for any key, because the SDK's models keep unknown keys. Here
every key is looked up in the model's own attribute map (`_attr_to_rest_field`: REST name and
deserializer), recursing into the nested model each deserializer names, through lists too.
"""

from __future__ import annotations

import functools
from typing import Any

from azure.mgmt.compute._utils.model_base import Model

# Keys an ARM template resource carries beside the REST body (the resource's own envelope).
ARM_RESOURCE_KEYS = frozenset({"type", "apiVersion", "name", "dependsOn"})


def rest_fields(model: type[Model]) -> dict[str, Any]:
    """REST name -> the field's deserializer. The SDK fills the map when the first instance is made."""
    model.__new__(model)
    fields: dict[str, Any] = vars(model)["_attr_to_rest_field"]  # set on each class itself, not inherited
    return {field._rest_name: field._type for field in fields.values()}


def nested_model(deserializer: Any) -> type[Model] | None:
    """The model a field's deserializer builds (through Optional and list wrappers), None for a scalar or a map."""
    if isinstance(deserializer, type):
        return deserializer if issubclass(deserializer, Model) else None
    if isinstance(deserializer, list):  # a union: the first model among its members
        return next(filter(None, map(nested_model, deserializer)), None)
    if not isinstance(deserializer, functools.partial) or deserializer.func.__name__ == "_deserialize_dict":
        return None  # free-form maps (tags, advancedSettings) take any key
    return next(filter(None, map(nested_model, deserializer.args)), None)


def unknown_keys(model: type[Model], body: Any, path: str = "") -> list[str]:
    """Every key path in `body` that `model` does not define, e.g. `properties.publishingProfile.x`."""
    if isinstance(body, list):
        return [bad for i, item in enumerate(body) for bad in unknown_keys(model, item, f"{path}[{i}]")]
    if not isinstance(body, dict):
        return []
    fields = rest_fields(model)
    found = []
    for key, value in body.items():
        where = f"{path}.{key}" if path else key
        if key not in fields:
            found.append(where)
        elif (inner := nested_model(fields[key])) is not None:
            found += unknown_keys(inner, value, where)
    return found


def unknown_resource_keys(model: type[Model], resource: dict[str, Any]) -> list[str]:
    """An ARM template resource: its envelope keys, then the body against `model`."""
    return unknown_keys(model, {k: v for k, v in resource.items() if k not in ARM_RESOURCE_KEYS})
