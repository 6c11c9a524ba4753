"""What ARM does to a template's resource before its provider sees it.

Templates are looser than the providers' own APIs: ARM coerces strings where the provider's
schema wants booleans or integers ("true", "1023"), and providers still take spellings of old
api-versions that templates keep using. Direct API calls stay strict (wire.py); only bodies that
come from a template pass through here.
"""

from __future__ import annotations

import re
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from scaleset.api import wire

# resource type (lower case) -> the wire model its body is checked against
MODELS: dict[str, type[BaseModel]] = {
    "microsoft.compute/virtualmachinescalesets": wire.ScaleSetCreate,
    "microsoft.network/loadbalancers": wire.LoadBalancer,
}
_INTEGER = re.compile(r"^\s*-?\d+\s*$")


def adapt(resource_type: str, body: dict[str, Any]) -> dict[str, Any]:
    kind = resource_type.lower()
    if kind == "microsoft.compute/virtualmachinescalesets":
        body = _modern_upgrade_policy(body)
    model = MODELS.get(kind)
    return coerce(model, body) if model else body


def coerce(model: type[BaseModel], data: Any) -> Any:
    """`data` with the strings `model` wants as booleans or integers converted, as ARM does."""
    if not isinstance(data, dict):
        return data
    converted = dict(data)
    for name, field in model.model_fields.items():
        if name in converted:
            converted[name] = _coerce(field.annotation, converted[name])
    return converted


def _coerce(annotation: Any, value: Any) -> Any:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _coerce(get_args(annotation)[0], value)
    if origin in (Union, types.UnionType):
        for option in get_args(annotation):
            if option is not type(None):
                value = _coerce(option, value)
        return value
    if origin is list and isinstance(value, list):
        (item,) = get_args(annotation)
        return [_coerce(item, element) for element in value]
    if annotation is bool and isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if annotation is int and isinstance(value, str) and _INTEGER.match(value):
        return int(value)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return coerce(annotation, value)
    return value


def _modern_upgrade_policy(body: dict[str, Any]) -> dict[str, Any]:
    """api-version 2017-03-30 and 2017-12-01 spelt automatic OS upgrades `upgradePolicy.automaticOSUpgrade`
    and `upgradePolicy.autoOSUpgradePolicy.disableAutoRollback`; Azure still takes them, as
    `automaticOSUpgradePolicy.enableAutomaticOSUpgrade` and `.disableAutomaticRollback`."""
    policy = (body.get("properties") or {}).get("upgradePolicy")
    if not isinstance(policy, dict) or not ({"automaticOSUpgrade", "autoOSUpgradePolicy"} & policy.keys()):
        return body
    policy = dict(policy)
    modern = dict(policy.get("automaticOSUpgradePolicy") or {})
    if "automaticOSUpgrade" in policy:
        modern.setdefault("enableAutomaticOSUpgrade", policy.pop("automaticOSUpgrade"))
    old = policy.pop("autoOSUpgradePolicy", None)
    if isinstance(old, dict) and "disableAutoRollback" in old:
        modern.setdefault("disableAutomaticRollback", old["disableAutoRollback"])
    policy["automaticOSUpgradePolicy"] = modern
    return {**body, "properties": {**body["properties"], "upgradePolicy": policy}}
