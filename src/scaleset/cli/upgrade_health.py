"""Reading an instance's health out of its instance view: the state, and the server's reason for it.

The health that gates rolling upgrades travels as `instanceView.vmHealth.status` (code
`HealthState/<state>`, message = the reason). The live upgrade view and `get-instance-view` both
show it, so both read it here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def health_status(view: Any) -> Mapping[str, Any] | None:
    """The `vmHealth.status` of an instance view; None when the instance is not health-monitored."""
    if not isinstance(view, Mapping):
        return None
    health = view.get("vmHealth")
    status = health.get("status") if isinstance(health, Mapping) else None
    return status if isinstance(status, Mapping) else None


def health_state(view: Any) -> str | None:
    """`healthy`, `unhealthy`, `unknown` or `initializing` (the code without its `HealthState/`)."""
    status = health_status(view)
    code = status.get("code") if status else None
    if not isinstance(code, str) or not code:
        return None
    return code.split("/", 1)[1] if "/" in code else code


def health_reason(view: Any) -> str | None:
    """Why the instance is in that state, as the server explains it (else Azure's display text)."""
    status = health_status(view)
    if not status:
        return None
    reason = status.get("message") or status.get("displayStatus")
    return str(reason) if reason else None


def instance_view_of(instance: Any) -> Any:
    """The instance view inside a VM resource listed with `$expand=instanceView`."""
    if not isinstance(instance, Mapping):
        return None
    properties = instance.get("properties")
    return properties.get("instanceView") if isinstance(properties, Mapping) else None
