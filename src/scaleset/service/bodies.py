"""Scale set bodies as stored: what the client sent, less read-only fields and secrets.

Pure functions; the store keeps the result, and secrets go encrypted into a column of their own.
"""

from __future__ import annotations

import copy
from typing import Any

Secrets = dict[str, Any]  # {"adminPassword": str?, "protectedSettings": {extension name: object}}

_READ_ONLY_TOP = ("id", "name", "type", "etag")
_READ_ONLY_PROPS = ("provisioningState", "uniqueId", "timeCreated")


def clean(body: dict[str, Any]) -> tuple[dict[str, Any], Secrets]:
    """Split a client body into (storable body, secrets)."""
    stored = copy.deepcopy(body)
    for field in _READ_ONLY_TOP:
        stored.pop(field, None)
    if not isinstance(stored.get("properties"), dict):  # absent, or null in a PATCH: nothing to change
        stored["properties"] = {}
    props = stored["properties"]
    for field in _READ_ONLY_PROPS:
        props.pop(field, None)
    profile = props.get("virtualMachineProfile") or {}
    secrets: Secrets = {}
    os_profile = profile.get("osProfile")
    if isinstance(os_profile, dict) and "adminPassword" in os_profile:
        secrets["adminPassword"] = os_profile.pop("adminPassword")
    ref = (profile.get("storageProfile") or {}).get("imageReference")
    if isinstance(ref, dict):
        ref.pop("exactVersion", None)
    protected: dict[str, Any] = {}
    for extension in extensions(stored):
        extension.pop("id", None)
        extension.pop("type", None)  # read-only at this level in 2024+ ("Microsoft.Compute/...extensions")
        ext_props = extension.get("properties") or {}
        ext_props.pop("provisioningState", None)
        if "protectedSettings" in ext_props:
            protected[str(extension.get("name"))] = ext_props.pop("protectedSettings")
    if protected:
        secrets["protectedSettings"] = protected
    return stored, secrets


def extensions(body: dict[str, Any]) -> list[dict[str, Any]]:
    profile = (body.get("properties") or {}).get("virtualMachineProfile") or {}
    found = (profile.get("extensionProfile") or {}).get("extensions")
    return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []


def keep_omitted(new: dict[str, Any], new_secrets: Secrets, old: dict[str, Any], old_secrets: Secrets) -> Secrets:
    """What a full PUT leaves out but means to keep (az GETs, edits, PUTs back).

    The GET it started from showed no imageReference (az drops it) and no secrets (never returned),
    so their absence is not a request to remove them. Mutates `new`; returns the merged secrets.
    """
    old_ref = _get(old, "properties", "virtualMachineProfile", "storageProfile", "imageReference")
    storage = _get(new, "properties", "virtualMachineProfile", "storageProfile")
    if old_ref is not None and isinstance(storage, dict) and "imageReference" not in storage:
        storage["imageReference"] = copy.deepcopy(old_ref)
    merged: Secrets = {}
    if "adminPassword" in new_secrets or "adminPassword" in old_secrets:
        merged["adminPassword"] = new_secrets.get("adminPassword", old_secrets.get("adminPassword"))
    names = {str(e.get("name")) for e in extensions(new)}
    protected = {name: value for name, value in (old_secrets.get("protectedSettings") or {}).items() if name in names}
    protected.update(new_secrets.get("protectedSettings") or {})
    if protected:
        merged["protectedSettings"] = protected
    return merged


def merge_patch(stored: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A PATCH as ARM applies it: objects merge key by key, anything else (lists too) replaces."""
    result = copy.deepcopy(stored)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge_patch(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def vm_profile(body: dict[str, Any]) -> Any:
    return (body.get("properties") or {}).get("virtualMachineProfile")


def _get(body: dict[str, Any], *path: str) -> Any:
    node: Any = body
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node
