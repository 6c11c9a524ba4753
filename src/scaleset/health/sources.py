"""Which health signal a scale set model names: the Application Health extension, a load-balancer
probe, or neither (then `default_health` judges by power and extension states).

Azure asks for exactly one source for automatic OS upgrades and instance repairs. When a model
carries both, the extension wins: it runs inside the machine against the app itself, and it is the
only one that can say Initializing or Unhealthy explicitly.
"""

from __future__ import annotations

from typing import Any

from scaleset.health.probe_spec import ProbeSpec

APPLICATION_HEALTH_PUBLISHER = "microsoft.managedservices"
APPLICATION_HEALTH_TYPES = frozenset({"applicationhealthlinux", "applicationhealthwindows"})


def probe_spec_for(model_extensions: list[dict[str, Any]], health_probe: dict[str, Any] | None) -> ProbeSpec | None:
    """The probe to run for a scale set model, or None for default health.

    `model_extensions` are ARM extensions (`{"name", "properties": {"publisher", "type",
    "typeHandlerVersion", "settings"}}`); `health_probe` is the load-balancer probe object that
    `networkProfile.healthProbe.id` resolves to. Raises ValueError if the chosen source is malformed.
    """
    extension = application_health_extension(model_extensions)
    if extension is not None:
        props = extension.get("properties") or {}
        return ProbeSpec.from_application_health_extension(
            props.get("settings") or {}, str(props.get("typeHandlerVersion") or "1.0")
        )
    if health_probe is not None:
        return ProbeSpec.from_load_balancer_probe(health_probe)
    return None


def application_health_extension(model_extensions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first Application Health extension of a model, matched as ARM does, case-insensitively."""
    for extension in model_extensions or ():
        props = extension.get("properties") or {}
        publisher = str(props.get("publisher") or "").lower()
        kind = str(props.get("type") or "").lower()
        if publisher == APPLICATION_HEALTH_PUBLISHER and kind in APPLICATION_HEALTH_TYPES:
            return extension
    return None
