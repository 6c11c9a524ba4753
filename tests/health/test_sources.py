"""Which health source a model names."""

from __future__ import annotations

import pytest

from scaleset.health.probe_spec import ProbeSpec
from scaleset.health.sources import probe_spec_for

LB_PROBE = {"name": "p", "properties": {"protocol": "Tcp", "port": 22, "probeThreshold": 3}}


def health_extension(*, publisher: str = "Microsoft.ManagedServices", type_: str = "ApplicationHealthLinux",
                     version: str = "2.0") -> dict[str, object]:
    return {
        "name": "HealthExtension",
        "properties": {
            "publisher": publisher,
            "type": type_,
            "typeHandlerVersion": version,
            "autoUpgradeMinorVersion": True,
            "settings": {"protocol": "http", "port": 8080, "requestPath": "/health"},
        },
    }


CUSTOM_SCRIPT = {
    "name": "cse",
    "properties": {"publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "typeHandlerVersion": "2.1",
                   "settings": {"commandToExecute": "true"}},
}


def test_the_application_health_extension_wins_over_a_load_balancer_probe() -> None:
    spec = probe_spec_for([CUSTOM_SCRIPT, health_extension()], LB_PROBE)
    assert spec is not None
    assert (spec.source, spec.protocol, spec.port, spec.rich) == ("applicationHealthExtension", "http", 8080, True)


@pytest.mark.parametrize(
    ("publisher", "type_"),
    [("microsoft.managedservices", "applicationhealthlinux"), ("MICROSOFT.MANAGEDSERVICES", "ApplicationHealthWindows")],
)
def test_the_extension_is_matched_case_insensitively(publisher: str, type_: str) -> None:
    spec = probe_spec_for([health_extension(publisher=publisher, type_=type_, version="1.0")], None)
    assert spec is not None and spec.source == "applicationHealthExtension" and not spec.rich


def test_the_load_balancer_probe_is_used_without_the_extension() -> None:
    assert probe_spec_for([CUSTOM_SCRIPT], LB_PROBE) == ProbeSpec.from_load_balancer_probe(LB_PROBE)


def test_neither_means_default_health() -> None:
    assert probe_spec_for([CUSTOM_SCRIPT], None) is None
    assert probe_spec_for([], None) is None


def test_a_look_alike_from_another_publisher_is_not_the_health_extension() -> None:
    assert probe_spec_for([health_extension(publisher="Contoso")], None) is None
