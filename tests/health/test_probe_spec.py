"""ProbeSpec from a load-balancer probe and from Application Health extension settings."""

from __future__ import annotations

import pytest

from scaleset.health.probe_spec import ProbeSpec


def lb_probe(**properties: object) -> dict[str, object]:
    return {"name": "http-probe", "properties": properties}


# Load-balancer probes ----------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["Http", "HTTP", "http", "hTtP"])
def test_lb_protocol_is_read_case_insensitively(protocol: str) -> None:
    spec = ProbeSpec.from_load_balancer_probe(lb_probe(protocol=protocol, port=8080, requestPath="/health"))
    assert spec.protocol == "http"


def test_lb_defaults_when_only_protocol_and_port_are_given() -> None:
    spec = ProbeSpec.from_load_balancer_probe(lb_probe(protocol="Http", port=80))
    assert spec == ProbeSpec(
        protocol="http",
        port=80,
        request_path="/",
        interval_seconds=15,  # Microsoft.Network's documented default
        number_of_probes=2,
        rich=False,
        grace_period_seconds=0,
        source="loadBalancerProbe",
    )


def test_lb_probe_threshold_wins_over_number_of_probes() -> None:
    spec = ProbeSpec.from_load_balancer_probe(
        lb_probe(protocol="Https", port=443, requestPath="/h", intervalInSeconds=5, numberOfProbes=4, probeThreshold=3)
    )
    assert (spec.protocol, spec.interval_seconds, spec.number_of_probes) == ("https", 5, 3)


def test_lb_number_of_probes_is_used_without_a_threshold() -> None:
    spec = ProbeSpec.from_load_balancer_probe(lb_probe(protocol="Tcp", port=22, numberOfProbes=5))
    assert (spec.protocol, spec.request_path, spec.number_of_probes) == ("tcp", None, 5)


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"protocol": "Udp", "port": 53}, "protocol"),
        ({"port": 80}, "protocol"),
        ({"protocol": "Http", "port": 0}, "port"),
        ({"protocol": "Http", "port": 70000}, "port"),
        ({"protocol": "Http"}, "port"),
        ({"protocol": "Http", "port": 80, "probeThreshold": 0}, "number of probes"),
        ({"protocol": "Http", "port": 80, "requestPath": "health"}, "requestPath"),
        ({"protocol": "Http", "port": 80, "intervalInSeconds": "soon"}, "intervalInSeconds"),
    ],
)
def test_lb_probe_errors_name_the_field(properties: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ProbeSpec.from_load_balancer_probe({"name": "p", "properties": properties})


# Application Health extension ----------------------------------------------------------------------


def test_v1_is_binary_with_the_extension_defaults() -> None:
    spec = ProbeSpec.from_application_health_extension({"protocol": "http", "port": 80, "requestPath": "/health"}, "1.0")
    assert spec == ProbeSpec(
        protocol="http",
        port=80,
        request_path="/health",
        interval_seconds=5,
        number_of_probes=1,
        rich=False,
        grace_period_seconds=0,
        source="applicationHealthExtension",
    )


def test_v2_is_rich_with_a_grace_period_of_interval_times_probes_by_default() -> None:
    spec = ProbeSpec.from_application_health_extension(
        {"protocol": "HTTPS", "port": 8443, "requestPath": "/ready", "intervalInSeconds": 10, "numberOfProbes": 3}, "2.0"
    )
    assert (spec.protocol, spec.rich, spec.grace_period_seconds, spec.number_of_probes) == ("https", True, 30, 3)


def test_v2_default_grace_period_is_capped_at_two_hours() -> None:
    spec = ProbeSpec.from_application_health_extension(
        {"protocol": "tcp", "port": 22, "intervalInSeconds": 3600, "numberOfProbes": 3}, "2.1"
    )
    assert spec.grace_period_seconds == 7200


def test_v2_takes_an_explicit_grace_period_and_numbers_written_as_strings() -> None:
    spec = ProbeSpec.from_application_health_extension(
        {"protocol": "http", "port": "8080", "gracePeriod": "600", "numberOfProbes": "2"}, "2.0"
    )
    assert (spec.port, spec.grace_period_seconds, spec.number_of_probes, spec.request_path) == (8080, 600, 2, "/")


def test_v1_ignores_a_grace_period() -> None:
    spec = ProbeSpec.from_application_health_extension({"protocol": "http", "gracePeriod": 600}, "1.0")
    assert spec.grace_period_seconds == 0 and not spec.rich


@pytest.mark.parametrize(("protocol", "port"), [("http", 80), ("https", 443)])
def test_http_ports_default_to_the_scheme_port(protocol: str, port: int) -> None:
    assert ProbeSpec.from_application_health_extension({"protocol": protocol}, "1.0").port == port


@pytest.mark.parametrize(
    ("settings", "version", "message"),
    [
        ({"protocol": "tcp"}, "1.0", "needs a port"),
        ({"protocol": "icmp", "port": 1}, "1.0", "protocol"),
        ({"protocol": "http", "gracePeriod": 7201}, "2.0", "gracePeriod"),
        ({"protocol": "http", "gracePeriod": -1}, "2.0", "gracePeriod"),
        ({"protocol": "http", "numberOfProbes": True}, "2.0", "numberOfProbes"),
        ({"protocol": "http"}, "latest", "typeHandlerVersion"),
    ],
)
def test_extension_setting_errors_name_the_field(settings: dict[str, object], version: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ProbeSpec.from_application_health_extension(settings, version)


def test_target_is_written_for_people() -> None:
    http = ProbeSpec(protocol="http", port=8080, request_path="/health")
    assert http.target(host="127.3.0.5") == "127.3.0.5:8080/health"
    assert http.target(host="::1") == "[::1]:8080/health"
    assert http.target() == "port 8080/health"
    assert ProbeSpec(protocol="tcp", port=22).target(host="127.3.0.5") == "127.3.0.5:22"


def test_a_tcp_spec_takes_no_path() -> None:
    with pytest.raises(ValueError, match="requestPath"):
        ProbeSpec(protocol="tcp", port=22, request_path="/x")
